"""Discovery and period selection: which final periods of a chain are candidates, which are done,
and starting the pipelines of those that are not."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import Model

from canonical.models import NormalizationRun, NormalizationStatus
from chains.models import Chain
from commissions.models import ComputationRun, ComputationStatus
from ingestion.models import IngestionRun, IngestionStatus
from ingestion.providers.errors import ProviderError
from ingestion.providers.registry import TransportMode
from ingestion.services import IngestionError, IngestOptions, chain_head, record_failure, recorded_periods
from operations.pipeline.common import LIVE, _chain, ingest_options, pipeline_provider
from operations.pipeline.trigger import active_pipeline, pipeline_trigger
from operations.recovery import jobs_recover

logger = logging.getLogger(__package__)  # "operations.pipeline", as before the split


# ---- discovery ----------------------------------------------------------------------------------


@dataclass
class Discovery:
    chain_id: str
    provider: str = LIVE
    latest_final: int | None = None
    candidates: int = 0  # final periods considered (the window)
    done: int = 0  # of those, already ingested, normalized and recomputed
    started: list[int] = field(default_factory=list)  # pipelines queued now
    running: list[int] = field(default_factory=list)  # pipelines already queued or running: left alone
    deferred: list[int] = field(default_factory=list)  # not done, beyond this run's limit
    jobs: list[str] = field(default_factory=list)  # the jobs queued now
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id,
            "provider": self.provider,
            "latest_final": self.latest_final,
            "candidates": self.candidates,
            "done": self.done,
            "started": self.started,
            "running": self.running,
            "deferred": self.deferred,
            "jobs": self.jobs,
            "error": self.error,
        }

    def describe(self) -> str:
        if self.error:
            return f"{self.chain_id}: {self.error}"
        return (
            f"{self.chain_id}: latest final period {self.latest_final}; {self.done} of {self.candidates} "
            f"done; started {self.started or 'none'}; already running {self.running or 'none'}; "
            f"left for later {self.deferred or 'none'}"
        )


def discover(chain_id: str, *, limit: int | None = None, provider: str | None = None) -> Discovery:
    """Start the pipelines of the chain's final periods not done yet (oldest first, at most
    `limit`, default AURORA_PIPELINE_MAX_PERIODS_PER_TICK), fetching from `provider` (default: the
    chain's, see `pipeline_provider`)."""
    chain = _chain(chain_id)
    jobs_recover()  # periods whose pipeline lost its worker or its message are taken up again
    result = Discovery(chain_id=chain.pk, provider=(provider or "").strip() or pipeline_provider(chain))
    options = ingest_options(result.provider)
    try:
        head = chain_head(chain_id=chain.pk, options=options)
    except ProviderError as error:
        result.error = f"the chain head could not be read: {error}"
        record_failure(chain_id=chain.pk, message=result.error, error=error)
        logger.warning("discovery %s", result.describe())
        return result
    except IngestionError as error:
        result.error = str(error)
        logger.warning("discovery %s", result.describe())
        return result
    result.latest_final = head.latest_final_period
    if head.latest_final_period is None:
        return result
    window = candidate_periods(chain, head.latest_final_period, options)
    done = done_periods(chain, window)
    result.candidates, result.done = len(window), len(done)
    todo = [period for period in window if period not in done]
    room = settings.AURORA_PIPELINE_MAX_PERIODS_PER_TICK if limit is None else limit
    for period in todo:
        active = active_pipeline(chain.pk, period)
        if active is not None:
            result.running.append(period)
        elif room <= 0:
            result.deferred.append(period)
        else:
            trigger = pipeline_trigger(chain_id=chain.pk, period=period, provider=result.provider)
            if trigger.created:
                result.started.append(period)
                result.jobs.append(str(trigger.job.pk))
                room -= 1
            else:
                result.running.append(period)
    logger.info("discovery %s", result.describe())
    return result


def candidate_periods(chain: Chain, latest_final: int, options: IngestOptions) -> list[int]:
    """The final periods discovery looks at, oldest first: the lookback window ending at the newest
    final period, not before the chain's `pipeline_from_period`; when replaying, the recorded ones."""
    parameters = chain.parameters or {}
    lookback = int(parameters.get("pipeline_lookback_periods") or settings.AURORA_PIPELINE_LOOKBACK_PERIODS)
    step = chain.period_step
    first = max(0, latest_final - (max(lookback, 1) - 1) * step)
    if parameters.get("pipeline_from_period") is not None:
        first = max(first, int(parameters["pipeline_from_period"]))
    # Identifiers counted back from the newest final one, so windows stay aligned.
    periods = sorted(range(latest_final, first - 1, -step))
    if options.mode is TransportMode.REPLAY and options.recordings is not None:
        recorded = set(recorded_periods(chain_id=chain.pk, recordings=options.recordings))
        periods = [period for period in periods if period in recorded]
    return periods


def _latest_statuses(model: type[Model], chain: Chain, identifiers: list[str]) -> dict[str, str]:
    """Period identifier -> status of the newest run of `model` for it (DISTINCT ON, one query)."""
    rows = (
        model._default_manager.filter(chain=chain, period__period_identifier__in=identifiers)
        .order_by("period_id", "-started_at")
        .distinct("period_id")
        .values_list("period__period_identifier", "status")
    )
    return dict(rows)


def done_periods(chain: Chain, periods: Sequence[int]) -> set[int]:
    """The periods whose latest ingestion, normalization and computation runs all succeeded."""
    identifiers = [str(period) for period in periods]
    ingested = _latest_statuses(IngestionRun, chain, identifiers)
    normalized = _latest_statuses(NormalizationRun, chain, identifiers)
    computed = _latest_statuses(ComputationRun, chain, identifiers)
    return {
        int(identifier)
        for identifier in identifiers
        if ingested.get(identifier) == IngestionStatus.SUCCESS
        and normalized.get(identifier) == NormalizationStatus.SUCCESS
        and computed.get(identifier) == ComputationStatus.SUCCESS
    }


def active_chain_ids() -> list[str]:
    return list(Chain.objects.filter(is_active=True).order_by("id").values_list("id", flat=True))
