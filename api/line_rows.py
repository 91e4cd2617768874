"""Commission lines as the API sends them, made from plain rows instead of model instances and a
serializer per line: the same fields and values as `CommissionLineSerializer` and
`StatementLineSerializer` (which still describe them in the schema; a test holds the two
together), at a fraction of the cost. The breakdown travels as the JSON text PostgreSQL holds and
is embedded as it is (api.envelope.RawJson), never parsed; the chain's `unit`, the same for every line,
is made once.

`fenced()` is the query plan: a partner's lines in a period range are a few hundred rows found by
the partner index, but with the row-level-security filters the planner cannot estimate them and
walks every agreement instead (20 ms, not 1). Selecting the lines first behind an optimisation
fence (`OFFSET 0`), then joining what the page shows, keeps it on the index."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db.models import QuerySet, TextField
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast
from rest_framework import serializers

from api.envelope import RawJson
from aurora.common.amounts import plain_amount
from chains.models import Chain
from commissions.models import CommissionLine

# output field -> the row's column (a path through the line's relations)
COLUMNS = {
    "line_id": "pk",
    "chain_id": "chain_id",
    "period_identifier": "period__period_identifier",
    "period_start": "period__period_start",
    "period_end": "period__period_end",
    "agreement_id": "agreement_id",
    "agreement_name": "agreement__agreement_name",
    "agreement_version": "agreement_version",
    "rule_order": "rule_order",
    "validator_key": "validator_key",
    "revenue_component": "revenue_component",
    "attribution_method": "attribution_method",
    "base_amount_native": "base_amount_native",
    "commission_rate_bps": "commission_rate_bps",
    "pre_override_amount_native": "pre_override_amount_native",
    "override_amount_native": "override_amount_native",
    "final_amount_native": "final_amount_native",
    "override_reason": "override_reason",
    "statement_id": "statement_id",
    "statement_month": "statement__month",
    "statement_status": "statement__status",
    "adjusts_month": "adjusts_statement__month",
    "computed_at": "computed_at",
}
AMOUNTS = ("base_amount_native", "pre_override_amount_native", "final_amount_native")
DATETIMES = ("period_start", "period_end", "computed_at")
BREAKDOWN = "breakdown_json"
# StatementLineSerializer's fields, in its order; a listed line adds its breakdown before computed_at.
STATEMENT_LINE_FIELDS = (*tuple(COLUMNS), "unit")
LISTED_LINE_FIELDS = (*tuple(COLUMNS)[:-1], "breakdown", "computed_at", "unit")

_datetime = serializers.DateTimeField()


def fenced(lines: QuerySet[CommissionLine]) -> QuerySet[CommissionLine]:
    """The same lines, found first by their own filters and then joined (see the module's note)."""
    sql, params = lines.order_by().values("pk").query.sql_with_params()
    # Django's own compiled SQL, its parameters still bound separately: nothing is interpolated.
    fence = RawSQL(f"SELECT * FROM ({sql}) AS fenced OFFSET 0", params)  # noqa: S608, S611
    return CommissionLine.objects.filter(pk__in=fence)


def line_values(lines: QuerySet[CommissionLine], *, breakdown: bool) -> QuerySet[Any]:
    """`lines` (ordered) as rows of exactly the columns a line's answer needs."""
    extra = {BREAKDOWN: Cast("breakdown", TextField())} if breakdown else {}
    rows: QuerySet[Any] = lines.values(*COLUMNS.values(), **extra)
    return rows


def _unit(chain: Chain) -> dict[str, Any]:
    return {
        "chain_id": chain.pk,
        "native_unit": chain.native_unit,
        "native_decimals": chain.native_decimals,
        "symbol": str(chain.display_symbol or chain.native_unit),
    }


def line_documents(
    rows: Iterable[dict[str, Any]], *, chains: Sequence[Chain], partner_view: bool, breakdown: bool
) -> list[dict[str, Any]]:
    """What the serializer would send for each row of `line_values`."""
    units = {chain.pk: _unit(chain) for chain in chains}
    fields = LISTED_LINE_FIELDS if breakdown else STATEMENT_LINE_FIELDS
    stamps: dict[Any, str] = {}  # a page's lines share a few periods and runs
    documents = []
    for row in rows:
        value = {name: row[column] for name, column in COLUMNS.items()}
        value["line_id"] = str(value["line_id"])
        value["agreement_id"] = str(value["agreement_id"])
        if value["statement_id"] is not None:
            value["statement_id"] = str(value["statement_id"])
        for name in AMOUNTS:
            value[name] = plain_amount(value[name])
        if value["override_amount_native"] is not None:
            value["override_amount_native"] = plain_amount(value["override_amount_native"])
        for name in DATETIMES:
            moment = value[name]
            if moment is not None:
                if moment not in stamps:
                    stamps[moment] = _datetime.to_representation(moment)
                value[name] = stamps[moment]
        if partner_view:
            value["override_reason"] = None
        if breakdown:
            text = row[BREAKDOWN]
            value["breakdown"] = RawJson(text) if text is not None else None
        value["unit"] = units[value["chain_id"]]
        documents.append({name: value[name] for name in fields})
    return documents
