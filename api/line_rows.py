"""Commission lines as the API sends them, written by PostgreSQL: each line's JSON document is made
in the query that finds it (`json_build_object`), so a page is one statement and a few strings
joined, with no model instances, no rows converted to Python values and back, and no serializer
per line. The documents hold exactly the fields and values of `CommissionLineSerializer` and
`StatementLineSerializer` (which still describe them in the schema; a test holds them together):
amounts as `plain_amount` writes them (`trim_scale`), times as DRF writes them (UTC, `Z`,
microseconds only when there are some), the breakdown as the JSON text PostgreSQL holds.

The fence is the query plan: a partner's lines in a period range are a few hundred rows found by
the partner index, but with the row-level-security filters the planner cannot estimate them and
walks every agreement instead (20 ms, not 1). Selecting the lines first behind an optimisation
fence (`OFFSET 0`), then joining what the page shows, keeps it on the index. The lines' own
filters (access, period range, the list's filters) are Django's, compiled once; only the joins,
the document and the order are written here."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import QuerySet

from api.fields import ChainUnitSerializer
from chains.models import Chain
from commissions.models import CommissionLine


def _iso(column: str) -> str:
    """A timestamp as DRF's DateTimeField writes it in UTC: `2025-09-02T10:00:00Z`, or with
    `.ffffff` when it has microseconds (`datetime.isoformat`)."""
    utc = f"({column} AT TIME ZONE 'UTC')"
    return (
        f"to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || "
        f"CASE WHEN date_trunc('second', {column}) = {column} THEN '' ELSE to_char({utc}, '.US') END || 'Z'"
    )


def _plain(column: str) -> str:
    """An amount as `aurora.common.amounts.plain_amount` writes it: no trailing zeros, no exponent."""
    return f"trim_scale({column})::text"


_FIELDS: tuple[tuple[str, str], ...] = (
    ("line_id", "line.line_id"),
    ("chain_id", "line.chain_id"),
    ("period_identifier", "period.period_identifier"),
    ("period_start", _iso("period.period_start")),
    ("period_end", _iso("period.period_end")),
    ("agreement_id", "line.agreement_id"),
    ("agreement_name", "agreement.agreement_name"),
    ("agreement_version", "line.agreement_version"),
    ("rule_order", "line.rule_order"),
    ("validator_key", "line.validator_key"),
    ("revenue_component", "line.revenue_component"),
    ("attribution_method", "line.attribution_method"),
    ("base_amount_native", _plain("line.base_amount_native")),
    ("commission_rate_bps", "line.commission_rate_bps"),
    ("pre_override_amount_native", _plain("line.pre_override_amount_native")),
    ("override_amount_native", _plain("line.override_amount_native")),
    ("final_amount_native", _plain("line.final_amount_native")),
    ("override_reason", "line.override_reason"),
    ("statement_id", "line.statement_id"),
    ("statement_month", "statement.month"),
    ("statement_status", "statement.status"),
    ("adjusts_month", "adjusted.month"),
)
BREAKDOWN = ("breakdown", "line.breakdown")
COMPUTED_AT = ("computed_at", _iso("line.computed_at"))
UNIT = ("unit", "%s::json")  # the chain's, the same for every line: a parameter

_JOINS = """
FROM partner_commission_lines AS line
JOIN canonical_periods AS period ON period.period_id = line.period_id
JOIN agreements AS agreement ON agreement.agreement_id = line.agreement_id
LEFT JOIN partner_commission_statements AS statement ON statement.statement_id = line.statement_id
LEFT JOIN partner_commission_statements AS adjusted ON adjusted.statement_id = line.adjusts_statement_id
WHERE line.line_id IN (SELECT * FROM ({lines}) AS fenced OFFSET 0)
"""
# The orders the API promises (and `api.partner_selectors.commission_lines` gives the ORM).
LISTED_ORDER = "period.period_end, agreement.agreement_name, line.rule_order, adjusted.month, line.line_id"
STATEMENT_ORDER = f"adjusted.month ASC NULLS FIRST, {LISTED_ORDER.replace(', adjusted.month', '')}"


def _document(*, partner_view: bool, breakdown: bool) -> str:
    fields = [
        ("override_reason", "NULL") if partner_view and name == "override_reason" else (name, sql)
        for name, sql in _FIELDS
    ]
    fields += [BREAKDOWN, COMPUTED_AT] if breakdown else [COMPUTED_AT]
    fields.append(UNIT)
    return "json_build_object(" + ", ".join(f"'{name}', {sql}" for name, sql in fields) + ")::text"


def _query(
    lines: QuerySet[CommissionLine], chain: Chain, *, select: str, order: str
) -> tuple[str, tuple[Any, ...], str, tuple[Any, ...]] | None:
    """The statement selecting `select` for `lines` joined and in `order`, its parameters, and the
    lines' own SQL and parameters; None when Django knows there are no lines (`.none()`)."""
    try:
        sql, params = lines.order_by().values("pk").query.sql_with_params()
    except EmptyResultSet:
        return None
    unit = orjson.dumps(ChainUnitSerializer(chain).data).decode()
    query = f"SELECT {select}" + _JOINS.format(lines=sql) + f"ORDER BY {order}"
    return query, (unit, *params), sql, tuple(params)


@dataclass(frozen=True)
class Page:
    total: int
    documents: str  # a JSON array


def line_page(
    lines: QuerySet[CommissionLine], *, chain: Chain, partner_view: bool, limit: int, offset: int
) -> Page:
    """`limit` of `lines` from `offset` in the listed order, with their breakdown, and how many
    lines there are in all: one statement (two for a page past the end)."""
    select = f"count(*) OVER (), {_document(partner_view=partner_view, breakdown=True)}"
    made = _query(lines, chain, select=select, order=f"{LISTED_ORDER} LIMIT %s OFFSET %s")
    if made is None:
        return Page(total=0, documents="[]")
    query, query_params, sql, params = made
    with connection.cursor() as cursor:
        cursor.execute(query, (*query_params, limit, offset))
        rows = cursor.fetchall()
        if rows:
            total = rows[0][0]
        elif offset:
            cursor.execute(f"SELECT count(*) FROM ({sql}) AS lines", params)  # noqa: S608 (Django's SQL)
            total = cursor.fetchone()[0]
        else:
            total = 0
    return Page(total=total, documents="[" + ",".join(row[1] for row in rows) + "]")


@dataclass(frozen=True)
class StatementLine:
    final_amount_native: Decimal
    document: str  # a JSON object


def statement_lines(
    lines: QuerySet[CommissionLine], *, chain: Chain, partner_view: bool
) -> tuple[list[StatementLine], list[StatementLine]]:
    """A statement's `lines` as it shows them, without their breakdown: its regular lines, then
    its adjustments (lines correcting earlier months)."""
    select = "line.adjusts_statement_id IS NOT NULL, line.final_amount_native, " + _document(
        partner_view=partner_view, breakdown=False
    )
    made = _query(lines, chain, select=select, order=STATEMENT_ORDER)
    if made is None:
        return [], []
    query, query_params, _, _ = made
    regular: list[StatementLine] = []
    adjustments: list[StatementLine] = []
    with connection.cursor() as cursor:
        cursor.execute(query, query_params)
        for adjustment, amount, document in cursor.fetchall():
            (adjustments if adjustment else regular).append(StatementLine(amount, document))
    return regular, adjustments
