"""Validator P&L over a range of periods: the rows, their totals per component and the total per
period, for one chain (amounts of different chains are in different units and never summed).

Every function answers in one query, whatever the number of rows; every queryset goes through
`accounts.access.scoped`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import F, OuterRef, QuerySet, Subquery, Sum

from accounts.access import scoped
from chains.models import Chain, Period
from commissions.models import ValidatorPnl

COMPONENTS: tuple[tuple[str, str], ...] = (
    ("EXEC_FEES", "exec_fees_native"),
    ("MEV_TIPS", "mev_tips_native"),
    ("VOTE_REWARDS", "vote_rewards_native"),
    ("COMMISSION", "commission_native"),
    ("PENALTIES", "penalties_native"),  # subtracted: total = the others - penalties
)
TOTAL_FIELD = "total_revenue_native"
AMOUNT_FIELDS: tuple[str, ...] = (*(name for _, name in COMPONENTS), TOTAL_FIELD)
CSV_HEADER: tuple[str, ...] = (
    "chain",
    "period",
    "period_start",
    "period_end",
    "validator_key",
    *(label for label, _ in COMPONENTS),
    "TOTAL",
)


@dataclass(frozen=True)
class PnlFilter:
    chain: Chain
    validator_key: str = ""
    period_from: Period | None = None
    period_to: Period | None = None


@dataclass(frozen=True)
class PeriodTotal:
    period_identifier: str
    period_start: datetime
    total: Decimal


def chains_for(user: Any) -> list[Chain]:
    """The user's chains, the one with the most recent P&L first (the report's default)."""
    latest = (
        ValidatorPnl.objects.filter(chain=OuterRef("pk"))
        .order_by("-period__period_end")
        .values("period__period_end")[:1]
    )
    chains = scoped(Chain.objects.all(), user).annotate(latest_pnl=Subquery(latest))
    return list(chains.order_by(F("latest_pnl").desc(nulls_last=True), "id"))


def find_period(user: Any, chain: Chain, identifier: str) -> Period | None:
    return scoped(Period.objects.all(), user).filter(chain=chain, period_identifier=identifier).first()


def validator_keys(user: Any, chain: Chain) -> list[str]:
    """The validators with P&L on the chain, for the filter's suggestions."""
    rows = scoped(ValidatorPnl.objects.filter(chain=chain), user)
    return list(rows.order_by("validator_key").values_list("validator_key", flat=True).distinct())


def pnl_rows(user: Any, selection: PnlFilter) -> QuerySet[ValidatorPnl]:
    """One row per (period, validator), in period order."""
    rows = scoped(ValidatorPnl.objects.filter(chain=selection.chain), user)
    if selection.validator_key:
        rows = rows.filter(validator_key=selection.validator_key)
    if selection.period_from is not None:
        rows = rows.filter(period__period_start__gte=selection.period_from.period_start)
    if selection.period_to is not None:
        rows = rows.filter(period__period_start__lte=selection.period_to.period_start)
    return rows.select_related("period").order_by("period__period_start", "validator_key", "pk")


def column_totals(rows: QuerySet[ValidatorPnl]) -> dict[str, Decimal]:
    sums = rows.order_by().aggregate(**{name: Sum(name) for name in AMOUNT_FIELDS})
    return {name: sums[name] if sums[name] is not None else Decimal(0) for name in AMOUNT_FIELDS}


def totals_per_period(rows: QuerySet[ValidatorPnl]) -> list[PeriodTotal]:
    grouped = (
        rows.order_by()
        .values("period__period_identifier", "period__period_start")
        .annotate(total=Sum(TOTAL_FIELD))
        .order_by("period__period_start")
    )
    return [
        PeriodTotal(row["period__period_identifier"], row["period__period_start"], row["total"])
        for row in grouped
    ]


def plain_number(value: Decimal) -> str:
    """A base-unit amount as a plain number: no exponent, no trailing zeros, no separators."""
    text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def csv_rows(rows: QuerySet[ValidatorPnl]) -> Iterator[list[str]]:
    """The CSV export: a header, then one line per row in base units."""
    yield list(CSV_HEADER)
    for row in rows.iterator(chunk_size=2_000):
        yield [
            row.chain_id,
            row.period.period_identifier,
            row.period.period_start.isoformat(),
            row.period.period_end.isoformat(),
            row.validator_key,
            *(plain_number(getattr(row, name)) for name in AMOUNT_FIELDS),
        ]
