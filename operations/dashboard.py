"""The back office's home page: what needs attention, for what the user may see.

`dashboard_for(user)` gathers every section in a fixed number of queries whatever the row
counts; a section the user has no capability for is absent (None), never empty by accident.
The admin's index template shows it above the usual list of apps.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Count, DateTimeField, Exists, Max, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from accounts.access import Capability, capabilities, scoped

RECENT_LIMIT = 10
ATTENTION_LIMIT = 10
REDIS_TIMEOUT_SECONDS = 0.5


@dataclass(frozen=True)
class Health:
    database: bool
    redis: bool


@dataclass(frozen=True)
class ChainStatus:
    chain_id: str
    name: str
    latest_final: str | None
    latest_ingested: str | None
    lag: int | None  # final periods after the latest ingested one; None: nothing ingested yet
    last_success_at: datetime | None
    last_failure_at: datetime | None


@dataclass(frozen=True)
class Listing:
    """The first rows of something needing attention, and how many there are in all."""

    rows: list[Any]
    total: int

    @property
    def more(self) -> int:
        return max(self.total - len(self.rows), 0)


def dashboard_for(user: Any) -> dict[str, Any]:
    """The dashboard's sections for `user`: each one None when the user may not see it."""
    granted = capabilities(user)
    operations = Capability.VIEW_OPERATIONS in granted
    commissions = Capability.VIEW_COMMISSIONS in granted
    return {
        "health": system_health() if operations else None,
        "chains": chain_status(user) if operations else None,
        "reconciliation": open_reconciliation_errors(user) if operations else None,
        "recent_activity": recent_activity(user) if Capability.VIEW_AUDIT in granted else None,
        "pending_statements": statements_awaiting_approval(user) if commissions else None,
        "overrides_to_review": overrides_needing_review(user) if commissions else None,
    }


# ---- system health ------------------------------------------------------------------------------


def system_health() -> Health:
    return Health(database=database_reachable(), redis=redis_reachable())


def database_reachable() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return bool(cursor.fetchone() == (1,))
    except DatabaseError:
        return False


def redis_reachable(url: str | None = None) -> bool:
    """Whether Redis (the Celery broker) answers a PING within a short timeout."""
    import redis

    client = None
    try:
        client = redis.Redis.from_url(
            url or settings.REDIS_URL,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
        )
        return bool(client.ping())
    except Exception:  # an unreachable, misconfigured or refusing broker is "unavailable"
        return False
    finally:
        if client is not None:
            client.close()


# ---- ingestion per chain ------------------------------------------------------------------------


def chain_status(user: Any) -> list[ChainStatus]:
    """Per active chain: the latest final period, the latest ingested one (a SUCCESS or PARTIAL
    run), how many final periods lie beyond it, and when ingestion last succeeded and failed
    (FAILED or PARTIAL). One query."""
    from chains.models import Chain, Period
    from ingestion.models import IngestionRun, IngestionStatus

    finals = scoped(Period.objects.all(), user).filter(chain=OuterRef("pk"), is_finalized=True)
    ingested = (
        scoped(IngestionRun.objects.all(), user)
        .filter(
            chain=OuterRef("pk"),
            status__in=[IngestionStatus.SUCCESS, IngestionStatus.PARTIAL],
            period__isnull=False,
        )
        .order_by("-period__period_start")
    )
    lag = (
        scoped(Period.objects.all(), user)
        .filter(chain=OuterRef("pk"), is_finalized=True, period_start__gt=OuterRef("ingested_start"))
        .order_by()
        .values("chain")
        .annotate(n=Count("pk"))
        .values("n")
    )

    def last_run(*statuses: str) -> Subquery:
        runs = scoped(IngestionRun.objects.all(), user).filter(chain=OuterRef("pk"), status__in=statuses)
        latest = runs.order_by().values("chain").annotate(at=Max(Coalesce("completed_at", "started_at")))
        return Subquery(latest.values("at"), output_field=DateTimeField())

    chains = (
        scoped(Chain.objects.filter(is_active=True), user)
        .annotate(
            latest_final=Subquery(finals.order_by("-period_start").values("period_identifier")[:1]),
            ingested_identifier=Subquery(ingested.values("period__period_identifier")[:1]),
            ingested_start=Subquery(ingested.values("period__period_start")[:1]),
        )
        .annotate(
            lag=Subquery(lag),
            last_success_at=last_run(IngestionStatus.SUCCESS),
            last_failure_at=last_run(IngestionStatus.FAILED, IngestionStatus.PARTIAL),
        )
        .order_by("id")
    )
    return [
        ChainStatus(
            chain_id=chain.pk,
            name=chain.name,
            latest_final=chain.latest_final,
            latest_ingested=chain.ingested_identifier,
            lag=None if chain.ingested_identifier is None else int(chain.lag or 0),
            last_success_at=chain.last_success_at,
            last_failure_at=chain.last_failure_at,
        )
        for chain in chains
    ]


# ---- lists needing attention --------------------------------------------------------------------


def _listing(queryset: QuerySet[Any], limit: int = ATTENTION_LIMIT) -> Listing:
    return Listing(rows=list(queryset[:limit]), total=queryset.count())


def recent_activity(user: Any) -> list[Any]:
    from accounts.models import AuditLog

    entries = scoped(AuditLog.objects.all(), user).select_related("user").order_by("-sequence")
    return list(entries[:RECENT_LIMIT])


def statements_awaiting_approval(user: Any) -> Listing:
    from commissions.models import Statement, StatementStatus

    statements = (
        scoped(Statement.objects.filter(status=StatementStatus.PENDING_APPROVAL), user)
        .select_related("partner", "chain")
        .order_by("submitted_at", "month", "pk")
    )
    return _listing(statements)


def overrides_needing_review(user: Any) -> Listing:
    """Overridden lines whose computed amount changed under the override since it was set."""
    from commissions.models import CommissionLine

    lines = (
        scoped(CommissionLine.objects.filter(override_needs_review=True), user)
        .select_related("partner", "chain", "period")
        .order_by("chain_id", "period__period_start", "pk")
    )
    return _listing(lines)


def open_reconciliation_errors(user: Any) -> Listing:
    """Reports with errors that are still the latest for their chain and period."""
    from canonical.models import ReconciliationReport

    newer = ReconciliationReport.objects.filter(
        chain=OuterRef("chain"), period=OuterRef("period"), created_at__gt=OuterRef("created_at")
    )
    reports = (
        scoped(ReconciliationReport.objects.filter(error_count__gt=0), user)
        .filter(~Exists(newer))
        .select_related("chain", "period")
        .order_by("-created_at", "pk")
    )
    return _listing(reports)
