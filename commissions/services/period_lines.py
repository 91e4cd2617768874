"""The lines of one period: every rule of every agreement in force, in key order, computed either
wholly in Python (`compute_period`, the reference) or with the bases and breakdowns computed by
PostgreSQL (`compute_period_in_database`, what runs use); and the lines' fingerprint."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from aurora.common.hashing import sha256_hex
from chains.models import Period
from commissions.engine.attribution import PartnerFigures
from commissions.engine.lines import AttributionCache, LineResult, compute_line, line_result
from commissions.selectors import AgreementInForce, PnlFigures, RuleInForce
from commissions.services.bases import AttributionKey, attribute_period


@dataclass(frozen=True)
class ComputedLine:
    agreement_id: UUID
    partner_id: UUID
    version_number: int
    rule_id: UUID
    rule_order: int
    validator_key: str | None
    component: str
    method: str
    result: LineResult

    @property
    def key(self) -> tuple[UUID, int]:
        return (self.agreement_id, self.rule_order)

    def as_json(self) -> list[Any]:
        return [
            str(self.agreement_id),
            self.rule_order,
            self.version_number,
            str(self.rule_id),
            self.validator_key,
            self.component,
            self.method,
            str(self.result.base),
            self.result.rate_bps,
            str(self.result.amount),
            self.result.breakdown,
        ]


def compute_period(
    pnl: Sequence[PnlFigures], agreements: Sequence[AgreementInForce], clients: dict[UUID, PartnerFigures]
) -> list[ComputedLine]:
    """Every line of the period, in key order, attributed in Python (pure: no database). The
    reference for `compute_period_in_database`, which must give the same lines."""
    figures = [p.as_validator_figures() for p in sorted(pnl, key=lambda p: p.validator_key)]
    cache: AttributionCache = {}

    def result(agreement: AgreementInForce, rule: RuleInForce) -> LineResult:
        partner = clients.get(agreement.partner_id, PartnerFigures())
        return compute_line(rule.terms, figures, partner, cache)

    return _lines(agreements, result)


def compute_period_in_database(
    period: Period, pnl: Sequence[PnlFigures], agreements: Sequence[AgreementInForce], *, snapshot: bool
) -> list[ComputedLine]:
    """Every line of the period, in key order, with the bases and breakdowns computed by PostgreSQL
    (`commissions.services.bases`) and the terms applied here. With `snapshot`, the partners'
    client stake snapshots are stored by the same statement."""
    keys = {
        (agreement.agreement_id, rule.terms.rule_order): AttributionKey.of(rule.terms, agreement.partner_id)
        for agreement in agreements
        for rule in agreement.rules
    }
    attributed = attribute_period(
        period, pnl, keys.values(), [a.partner_id for a in agreements], snapshot=snapshot
    )

    def result(agreement: AgreementInForce, rule: RuleInForce) -> LineResult:
        found = attributed[keys[(agreement.agreement_id, rule.terms.rule_order)]]
        return line_result(rule.terms, found.attribution, found.introduced_stake)

    return _lines(agreements, result)


def _lines(
    agreements: Sequence[AgreementInForce], result: Callable[[AgreementInForce, RuleInForce], LineResult]
) -> list[ComputedLine]:
    lines = [
        ComputedLine(
            agreement_id=agreement.agreement_id,
            partner_id=agreement.partner_id,
            version_number=agreement.version_number,
            rule_id=rule.rule_id,
            rule_order=rule.terms.rule_order,
            validator_key=rule.terms.validator_key,
            component=rule.terms.component,
            method=rule.terms.method,
            result=result(agreement, rule),
        )
        for agreement in sorted(agreements, key=lambda a: str(a.agreement_id))
        for rule in sorted(agreement.rules, key=lambda r: r.terms.rule_order)
    ]
    return sorted(lines, key=lambda line: (str(line.agreement_id), line.rule_order))


def lines_fingerprint(period: Period, lines: Sequence[ComputedLine]) -> str:
    return sha256_hex([period.chain_id, period.period_identifier, [line.as_json() for line in lines]])
