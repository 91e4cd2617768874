"""The monthly statements check and the reconciliation summary (beat tasks beside the pipeline)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Count, QuerySet, Sum
from django.utils import timezone

from canonical.models import ReconciliationFinding, ReconciliationReport
from chains.models import Chain, Period
from commissions.models import CommissionLine, Statement, StatementStatus
from commissions.services.line_book import FROZEN, refresh_statements
from operations.pipeline.discovery import active_chain_ids

logger = logging.getLogger(__package__)  # "operations.pipeline", as before the split


# ---- statements and reconciliation --------------------------------------------------------------


def previous_month(today: date | None = None) -> str:
    today = today or timezone.now().date()
    year, month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    return f"{year:04d}-{month:02d}"


def _month_bounds(month: str) -> tuple[datetime, datetime]:
    year, number = (int(part) for part in month.split("-"))
    start = datetime(year, number, 1, tzinfo=UTC)
    end = datetime(year + (number == 12), number % 12 + 1, 1, tzinfo=UTC)
    return start, end


def month_periods(chain: Chain, month: str) -> QuerySet[Period]:
    """The chain's final periods whose statement month is `month` (they end within it)."""
    start, end = _month_bounds(month)
    return Period.objects.filter(chain=chain, is_finalized=True, period_end__gt=start, period_end__lte=end)


def draft_statements(*, month: str | None = None) -> dict[str, Any]:
    """Make sure every partner with commission lines in `month` (default: last month) has that
    month's statement, as a DRAFT if it is new, with its lines and totals.

    Recompute already creates the statements and keeps their totals as it writes lines; this is
    the monthly check behind it: it creates a statement only for lines left without one, and
    refreshes the totals of the month's open statements (a frozen statement is never touched).
    """
    month = month or previous_month()
    result: dict[str, Any] = {"month": month, "chains": {}}
    for chain in Chain.objects.filter(is_active=True).order_by("id"):
        periods = month_periods(chain, month)
        lines = CommissionLine.objects.filter(chain=chain, period__in=periods, adjusts_statement__isnull=True)
        partners = set(lines.values_list("partner_id", flat=True).distinct())
        created = 0
        with transaction.atomic():
            statements = {s.partner_id: s for s in Statement.objects.filter(chain=chain, month=month)}
            for partner_id in sorted(partners - set(statements), key=str):
                statements[partner_id] = Statement.objects.create(
                    partner_id=partner_id, chain=chain, month=month, status=StatementStatus.DRAFT
                )
                created += 1
            for partner_id in partners:
                statement = statements[partner_id]
                if statement.status not in FROZEN:
                    lines.filter(partner_id=partner_id, statement__isnull=True).update(statement=statement)
            stale = _stale_totals([s for s in statements.values() if s.status not in FROZEN])
            refresh_statements(stale)
        by_status: dict[str, int] = {}
        for statement in statements.values():
            by_status[str(statement.status)] = by_status.get(str(statement.status), 0) + 1
        result["chains"][chain.pk] = {
            "partners_with_lines": len(partners),
            "statements": len(statements),
            "created": created,
            "refreshed": len(stale),
            "by_status": by_status,
        }
        logger.info(
            "statements %s %s: %d partners with lines, %d statements (%d created), %s",
            chain.pk,
            month,
            len(partners),
            len(statements),
            created,
            by_status,
        )
    return result


def _stale_totals(statements: Sequence[Statement]) -> list[Statement]:
    """The statements whose stored totals differ from their lines (refreshing one waiting for
    approval sends it back to draft, so only those that need it are refreshed)."""
    sums = {
        row["statement"]: (row["total"], row["count"])
        for row in CommissionLine.objects.filter(statement__in=statements)
        .values("statement")
        .annotate(total=Sum("final_amount_native"), count=Count("pk"))
    }
    stale = []
    for statement in statements:
        total, count = sums.get(statement.pk, (Decimal(0), 0))
        if (statement.total_commission_native, statement.line_count) != (total or Decimal(0), count):
            stale.append(statement)
    return stale


def reconciliation_summary() -> dict[str, Any]:
    """Open reconciliation findings per active chain: those of each period's latest report, by
    severity, with the periods that have errors. Logged, and returned."""
    latest = (
        ReconciliationReport.objects.filter(chain__is_active=True)
        .order_by("chain_id", "period_id", "-created_at")
        .distinct("chain_id", "period_id")
        .values_list("pk", flat=True)
    )
    counts = (
        ReconciliationFinding.objects.filter(report_id__in=list(latest))
        .values("chain_id", "severity")
        .annotate(n=Count("pk"))
    )
    errors = (
        ReconciliationReport.objects.filter(pk__in=list(latest), error_count__gt=0)
        .order_by("period__period_start")
        .values_list("chain_id", "period__period_identifier")
    )
    chains: dict[str, dict[str, Any]] = {
        chain_id: {"INFO": 0, "WARNING": 0, "ERROR": 0, "periods_with_errors": []}
        for chain_id in active_chain_ids()
    }
    for row in counts:
        chains.setdefault(row["chain_id"], {"INFO": 0, "WARNING": 0, "ERROR": 0, "periods_with_errors": []})
        chains[row["chain_id"]][row["severity"]] = row["n"]
    for chain_id, identifier in errors:
        chains[chain_id]["periods_with_errors"].append(identifier)
    for chain_id, summary in chains.items():
        log = logger.warning if summary["ERROR"] else logger.info
        log(
            "reconciliation %s: %d errors, %d warnings, %d info open; periods with errors: %s",
            chain_id,
            summary["ERROR"],
            summary["WARNING"],
            summary["INFO"],
            ", ".join(summary["periods_with_errors"]) or "none",
        )
    return {"chains": chains}
