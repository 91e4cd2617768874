"""Health probes: liveness, readiness and ingestion lag, for load balancers, orchestrators and
monitors. No sign-in, cheap, and never an error page: a failing dependency is reported in the
answer (503 for readiness), not raised.

- readiness: the database answers, Redis (the Celery broker) answers, and every migration on disk
  is applied. A check that fails is named with a short reason; exception messages (which may
  carry addresses or credentials) are not shown.
- ingestion: per active chain, the same figures and classification as `/v1/ingestion/health`
  (`operations.selectors.ingestion_health`), read without a user's scope.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor

from accounts.models import Role
from operations.dashboard import database_reachable, redis_reachable
from operations.selectors import IngestionHealth, IngestionHealthStatus, ingestion_health

logger = logging.getLogger("aurora.health")

OK = "ok"
# Building the migration graph costs tens of milliseconds; once everything is applied the answer
# is kept this long (a pending migration is looked at again on every probe).
MIGRATIONS_OK_SECONDS = 60.0
_migrations_ok_until = 0.0


@dataclass(frozen=True)
class Readiness:
    checks: dict[str, str] = field(default_factory=dict)  # check -> "ok" or why it fails

    @property
    def failing(self) -> list[str]:
        return [name for name, result in self.checks.items() if result != OK]

    @property
    def ok(self) -> bool:
        return not self.failing

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": "ok" if self.ok else "unavailable", "checks": self.checks}
        if not self.ok:
            body["failing"] = self.failing
        return body


def readiness() -> Readiness:
    """Database, Redis and migrations, each answered even when another fails."""
    database = check_database()
    return Readiness(
        checks={
            "database": database,
            "redis": check_redis(),
            "migrations": check_migrations()
            if database == OK
            else "not checked: the database is unreachable",
        }
    )


def check_database() -> str:
    try:
        return OK if database_reachable() else "unreachable"
    except Exception as error:  # a probe reports, it never raises
        return f"unreachable ({type(error).__name__})"


def check_redis() -> str:
    try:
        return OK if redis_reachable() else "unreachable"
    except Exception as error:
        return f"unreachable ({type(error).__name__})"


def unapplied_migrations() -> list[str]:
    """The migrations on disk not applied to the database, in the order `migrate` would apply them."""
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, backwards in plan if not backwards]


def check_migrations() -> str:
    global _migrations_ok_until
    if time.monotonic() < _migrations_ok_until:
        return OK
    try:
        pending = unapplied_migrations()
    except Exception as error:
        return f"not checked ({type(error).__name__})"
    if pending:
        shown = ", ".join(pending[:5]) + (f" and {len(pending) - 5} more" if len(pending) > 5 else "")
        return f"{len(pending)} not applied: {shown}"
    _migrations_ok_until = time.monotonic() + MIGRATIONS_OK_SECONDS
    return OK


def forget_migration_check() -> None:
    """Check the migrations again on the next probe (after `migrate`, and in tests)."""
    global _migrations_ok_until
    _migrations_ok_until = 0.0


# ---- ingestion ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ProbeReader:
    """Reads every active chain for the ingestion probe: a staff reader with no chain limit, never
    a database user. Only the ingestion selectors see it."""

    is_authenticated: bool = True
    is_active: bool = True
    is_superuser: bool = True
    access_expires_at: datetime | None = None
    allowed_chain_ids: tuple[str, ...] = ()
    allowed_validator_keys: tuple[str, ...] = ()
    role: str = Role.ADMIN
    pk: None = None


PROBE_READER = _ProbeReader()


def _timestamp(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def ingestion_report() -> tuple[IngestionHealthStatus | None, dict[str, Any]]:
    """(overall status, body). The status is None when the database could not be read."""
    try:
        health: IngestionHealth = ingestion_health(PROBE_READER)
    except DatabaseError as error:
        logger.warning("ingestion health: the database could not be read (%s)", type(error).__name__)
        return None, {"status": "UNKNOWN", "error": "the database is unreachable", "chains": {}}
    chains = {
        chain.chain_id: {
            "expected_period": chain.expected_period,
            "latest_ingested": chain.latest_ingested,
            "lag_periods": chain.lag_periods,
            "last_success": _timestamp(chain.last_success),
            "last_failure": _timestamp(chain.last_failure),
            "status": str(chain.status),
            "reason": chain.reason,
        }
        for chain in health.chains
    }
    return health.status, {"status": str(health.status), "chains": chains}
