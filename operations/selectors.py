"""Ingestion health per chain: how far ingestion is behind the chain's final periods, and whether
its last run failed, classified HEALTHY, DEGRADED or UNHEALTHY.

The thresholds are counted in final periods not yet ingested. The module constants are the
defaults; `AURORA_INGESTION_HEALTHY_MAX_LAG` and `AURORA_INGESTION_DEGRADED_MAX_LAG` in the
settings override them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from django.conf import settings

from operations.dashboard import chain_status

HEALTHY_MAX_LAG = 1  # final periods behind that are still healthy (the latest one may be in flight)
DEGRADED_MAX_LAG = 5  # beyond this, unhealthy


class IngestionHealthStatus(StrEnum):
    HEALTHY = "HEALTHY"
    DEGRADED = "DEGRADED"
    UNHEALTHY = "UNHEALTHY"


SEVERITY = {
    IngestionHealthStatus.HEALTHY: 0,
    IngestionHealthStatus.DEGRADED: 1,
    IngestionHealthStatus.UNHEALTHY: 2,
}


def thresholds() -> tuple[int, int]:
    """(healthy max lag, degraded max lag), from the settings when they set them."""
    healthy = int(getattr(settings, "AURORA_INGESTION_HEALTHY_MAX_LAG", HEALTHY_MAX_LAG))
    degraded = int(getattr(settings, "AURORA_INGESTION_DEGRADED_MAX_LAG", DEGRADED_MAX_LAG))
    return healthy, max(degraded, healthy)


def last_run_failed(last_success: datetime | None, last_failure: datetime | None) -> bool:
    """A failure (or partial run) with no success after it."""
    return last_failure is not None and (last_success is None or last_failure > last_success)


def classify_ingestion(
    lag: int | None, last_success: datetime | None, last_failure: datetime | None
) -> IngestionHealthStatus:
    """UNHEALTHY: nothing ingested (`lag` None) or more than the degraded limit behind.
    DEGRADED: behind by more than the healthy limit, or the last run failed.
    HEALTHY: otherwise (at most the healthy limit behind, no failure since the last success)."""
    healthy_max, degraded_max = thresholds()
    if lag is None or lag > degraded_max:
        return IngestionHealthStatus.UNHEALTHY
    if lag > healthy_max or last_run_failed(last_success, last_failure):
        return IngestionHealthStatus.DEGRADED
    return IngestionHealthStatus.HEALTHY


def explain(lag: int | None, last_success: datetime | None, last_failure: datetime | None) -> str:
    """Why the status is what it is, in a sentence."""
    if lag is None:
        return "nothing ingested yet"
    behind = "up to date" if lag == 0 else f"{lag} final period{'s' if lag != 1 else ''} not ingested"
    if last_run_failed(last_success, last_failure):
        return f"{behind}; the last run failed"
    return behind


@dataclass(frozen=True)
class ChainIngestionHealth:
    chain_id: str
    name: str
    expected_period: str | None  # the latest final period
    latest_ingested: str | None
    lag_periods: int | None
    last_success: datetime | None
    last_failure: datetime | None
    status: IngestionHealthStatus
    reason: str


@dataclass(frozen=True)
class IngestionHealth:
    status: IngestionHealthStatus  # the worst of the chains' (HEALTHY when there are none)
    chains: list[ChainIngestionHealth]


def ingestion_health(user: Any) -> IngestionHealth:
    """Every active chain the user may see, classified; one query (`chain_status`)."""
    chains = [
        ChainIngestionHealth(
            chain_id=row.chain_id,
            name=row.name,
            expected_period=row.latest_final,
            latest_ingested=row.latest_ingested,
            lag_periods=row.lag,
            last_success=row.last_success_at,
            last_failure=row.last_failure_at,
            status=classify_ingestion(row.lag, row.last_success_at, row.last_failure_at),
            reason=explain(row.lag, row.last_success_at, row.last_failure_at),
        )
        for row in chain_status(user)
    ]
    worst = max(
        (chain.status for chain in chains), key=SEVERITY.__getitem__, default=IngestionHealthStatus.HEALTHY
    )
    return IngestionHealth(status=worst, chains=chains)
