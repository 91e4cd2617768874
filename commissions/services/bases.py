"""Set-based attribution: every base of a period, with its breakdown, computed by PostgreSQL.

The engine's strategies define each method twice, side by side (`validator_base` in Python and
`sql_amount` / `sql_detail` in SQL, see `commissions.engine.attribution`). This module runs the SQL
form for all the rules of a period in one statement, over the canonical stake rows, the partners'
clients and the validators' figures, so the 200,000 stake accounts and the (line x validator)
parts of a period never reach Python: it gets one row per distinct attribution (a base, the
partner's introduced stake and the breakdown's validator parts as JSON text), and the rules'
rates, tiers, floors, caps and rounding are applied per line by `commissions.engine.lines`.

Attributions are shared as the Python path's cache shares them: a FIXED_SHARE base depends on the
component and the validator filter only; the other methods (and tiers on introduced stake) on the
partner too. In the benchmark month that is about 1,000 attributions for 6,000 lines a period.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any
from uuid import UUID

from django.db import connection

from aurora.common.hashing import parse_json
from chains.models import Period
from commissions.engine.attribution import STRATEGIES, Attribution
from commissions.engine.lines import RuleTerms, needs_introduced_stake
from commissions.models import AttributionMethod, RevenueComponent
from commissions.selectors import CLIENT_TOTALS_SQL, STORE_SNAPSHOTS_SQL, PnlFigures, client_join_planner

_COMPONENT_TOTAL = (
    "CASE g.component"
    + "".join(
        f" WHEN '{component}' THEN f.{column}"
        for component, column in (
            (RevenueComponent.EXEC_FEES, "exec_fees"),
            (RevenueComponent.MEV_TIPS, "mev_tips"),
            (RevenueComponent.VOTE_REWARDS, "vote_rewards"),
            (RevenueComponent.COMMISSION, "commission"),
        )
    )
    + " END"
)
_AMOUNT = (
    "CASE method"
    + "".join(f" WHEN '{method}' THEN {strategy.sql_amount}" for method, strategy in STRATEGIES.items())
    + " END"
)
_DETAIL = (
    "CASE method"
    + "".join(f" WHEN '{method}' THEN {strategy.sql_detail}" for method, strategy in STRATEGIES.items())
    + " END"
)

# Built from constants only (the strategies' SQL and the enumerations); values are parameters.
_BASES_SQL = f"""
, figures AS (
    SELECT * FROM unnest(%(v_key)s::text[], %(v_exec)s::numeric[], %(v_mev)s::numeric[],
                         %(v_vote)s::numeric[], %(v_commission)s::numeric[], %(v_stake)s::numeric[],
                         %(v_penalties)s::numeric[])
        AS f(validator_key, exec_fees, mev_tips, vote_rewards, commission, validator_stake, penalties)
), attributions AS (
    SELECT * FROM unnest(%(a_no)s::int[], %(a_partner)s::uuid[], %(a_validator)s::text[],
                         %(a_component)s::text[], %(a_method)s::text[])
        AS a(attribution_no, partner_id, only_validator, component, method)
), inputs AS (
    SELECT g.attribution_no, g.method, g.component, f.validator_key, {_COMPONENT_TOTAL} AS total,
           f.validator_stake, f.penalties, coalesce(v.n, 0) AS accounts,
           coalesce(v.stake, 0) AS client_stake, coalesce(v.rewards, 0) AS client_rewards,
           coalesce(v.commission, 0) AS client_commission, coalesce(v.penalties, 0) AS client_penalties
    FROM attributions g
    JOIN figures f ON g.only_validator IS NULL OR g.only_validator = f.validator_key
    LEFT JOIN per_validator v ON v.partner_id = g.partner_id AND v.validator_key = f.validator_key
), shared AS (
    SELECT inputs.*,
           CASE WHEN validator_stake <> 0 THEN round(client_stake, 100) / validator_stake END AS share
    FROM inputs
), amounts AS (
    SELECT shared.*, {_AMOUNT} AS amount FROM shared
), parts AS (
    SELECT attribution_no, validator_key, amount, client_stake,
           CASE WHEN amount <> 0 OR (method <> '{AttributionMethod.FIXED_SHARE}' AND accounts > 0) THEN
               jsonb_build_object('validator', validator_key, 'base', aurora_amount_text(amount))
               || {_DETAIL}
               || CASE WHEN component = '{RevenueComponent.VOTE_REWARDS}' AND penalties <> 0
                       THEN jsonb_build_object('penalties', aurora_amount_text(penalties))
                       ELSE '{{}}'::jsonb END
           END AS part
    FROM amounts
)
SELECT attribution_no, aurora_round_half_even(sum(amount), 18), sum(client_stake),
       coalesce(jsonb_agg(part ORDER BY validator_key COLLATE "C") FILTER (WHERE part IS NOT NULL),
                '[]'::jsonb)::text
FROM parts GROUP BY attribution_no
"""  # noqa: S608


@dataclass(frozen=True)
class AttributionKey:
    method: str
    component: str
    validator_key: str | None
    partner_id: UUID | None  # None: the same for every partner (FIXED_SHARE without introduced-stake tiers)

    @classmethod
    def of(cls, terms: RuleTerms, partner_id: UUID) -> AttributionKey:
        shared = terms.method == AttributionMethod.FIXED_SHARE and not needs_introduced_stake(terms)
        return cls(terms.method, terms.component, terms.validator_key, None if shared else partner_id)


@dataclass(frozen=True)
class Attributed:
    attribution: Attribution
    introduced_stake: Fraction  # the partner's clients' stake on the matched validators


def attribute_period(
    period: Period,
    pnl: Sequence[PnlFigures],
    keys: Iterable[AttributionKey],
    partner_ids: Iterable[UUID],
    *,
    snapshot: bool = False,
) -> dict[AttributionKey, Attributed]:
    """The attributions `keys` of the period, in one statement. With `snapshot`, the statement also
    stores each of `partner_ids`' client stake snapshot (see `commissions.selectors.client_figures`).
    A key whose validator filter matches none of `pnl`'s validators has a zero base and no parts."""
    wanted = sorted(set(keys), key=_order)
    partners = sorted({*partner_ids, *(k.partner_id for k in wanted if k.partner_id is not None)})
    figures = sorted(pnl, key=lambda p: p.validator_key)
    parameters: dict[str, Any] = {
        "chain": period.chain_id,
        "end": period.period_end,
        "period": period.pk,
        "partners": partners,
        "v_key": [p.validator_key for p in figures],
        "v_exec": [p.exec_fees for p in figures],
        "v_mev": [p.mev_tips for p in figures],
        "v_vote": [p.vote_rewards - p.penalties for p in figures],  # as ValidatorFigures: net of penalties
        "v_commission": [p.commission for p in figures],
        "v_stake": [p.active_stake for p in figures],
        "v_penalties": [p.penalties for p in figures],
        "a_no": list(range(len(wanted))),
        "a_partner": [k.partner_id for k in wanted],
        "a_validator": [k.validator_key for k in wanted],
        "a_component": [k.component for k in wanted],
        "a_method": [k.method for k in wanted],
    }
    query = CLIENT_TOTALS_SQL + (STORE_SNAPSHOTS_SQL if snapshot and partners else "") + _BASES_SQL
    with client_join_planner(partners), connection.cursor() as cursor:
        cursor.execute(query, parameters)
        rows = cursor.fetchall()
    found: dict[AttributionKey, Attributed] = {}
    for number, base, introduced, parts in rows:
        key = wanted[number]
        found[key] = Attributed(
            Attribution(base=base, breakdown=_breakdown(key, parse_json(parts))), Fraction(introduced)
        )
    for key in wanted:
        if key not in found:
            found[key] = Attributed(Attribution(base=Decimal(0), breakdown=_breakdown(key, [])), Fraction(0))
    return found


def _order(key: AttributionKey) -> tuple[str, str, str, str]:
    return (key.method, key.component, key.validator_key or "", str(key.partner_id))


def _breakdown(key: AttributionKey, parts: list[Any]) -> dict[str, Any]:
    return {"method": key.method, "component": key.component, "validators": parts}
