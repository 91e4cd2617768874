"""What terms would have paid: a read-only run of the engine over past periods.

Used before activating a draft or new terms: the proposed rules and the terms in force are both
computed from the same stored P&L and clients, period by period, so they compare like for like;
next to them, what the stored lines of the agreement actually say. Nothing is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from uuid import UUID

from django.db import transaction

from chains.models import Chain, Period
from commissions.engine.attribution import PartnerFigures, ValidatorFigures
from commissions.engine.lines import compute_line
from commissions.engine.tiers import InvalidTerms
from commissions.models import CommissionLine
from commissions.selectors import client_figures, operator_validators, period_pnl, rule_terms_from
from commissions.services.agreements import AgreementError, RuleSpec, validate_rules

ZERO = Decimal(0)
MAX_PERIODS = 200


@dataclass(frozen=True)
class PreviewRow:
    period: str
    period_end: str
    proposed: dict[int, Decimal]  # rule order -> amount
    current: dict[int, Decimal]
    stored: Decimal  # what the agreement's stored lines of the period pay

    @property
    def proposed_total(self) -> Decimal:
        return sum(self.proposed.values(), ZERO)

    @property
    def current_total(self) -> Decimal:
        return sum(self.current.values(), ZERO)

    @property
    def difference(self) -> Decimal:
        return self.proposed_total - self.current_total


@dataclass
class Preview:
    chain: Chain
    rows: list[PreviewRow] = field(default_factory=list)

    @property
    def proposed_total(self) -> Decimal:
        return sum((r.proposed_total for r in self.rows), ZERO)

    @property
    def current_total(self) -> Decimal:
        return sum((r.current_total for r in self.rows), ZERO)

    @property
    def stored_total(self) -> Decimal:
        return sum((r.stored for r in self.rows), ZERO)

    @property
    def difference(self) -> Decimal:
        return self.proposed_total - self.current_total


def preview_terms(
    *,
    partner_id: UUID,
    agreement_id: UUID | None,
    proposed: Sequence[RuleSpec],
    current: Sequence[RuleSpec],
    chain_id: str,
    first: int,
    last: int,
) -> Preview:
    """Per final period first..last of the chain: what `proposed` and `current` would pay the
    partner, and what the agreement's stored lines pay. Refuses invalid terms or ranges."""
    try:
        validate_rules(proposed)
    except InvalidTerms as error:
        raise AgreementError(str(error)) from None
    chain = Chain.objects.filter(pk=chain_id).first()
    if chain is None:
        raise AgreementError(f"unknown chain {chain_id!r}")
    if first > last:
        raise AgreementError("the range is empty: the first period is after the last")
    periods = sorted(
        (
            p
            for p in Period.objects.filter(chain=chain, is_finalized=True)
            if p.period_identifier.isdigit() and first <= int(p.period_identifier) <= last
        ),
        key=lambda p: int(p.period_identifier),
    )
    if not periods:
        raise AgreementError(f"no final period of {chain_id} between {first} and {last}")
    if len(periods) > MAX_PERIODS:
        raise AgreementError(f"preview at most {MAX_PERIODS} periods at a time")
    preview = Preview(chain=chain)
    validators = operator_validators(chain)
    with transaction.atomic():  # read-only; rolled back whatever happens
        for period in periods:
            figures = [p.as_validator_figures() for p in period_pnl(period, validators)]
            partner = client_figures(period, [partner_id]).get(partner_id, PartnerFigures())
            stored = ZERO
            if agreement_id is not None:
                stored = sum(
                    CommissionLine.objects.filter(agreement_id=agreement_id, period=period).values_list(
                        "final_amount_native", flat=True
                    ),
                    ZERO,
                )
            preview.rows.append(
                PreviewRow(
                    period=period.period_identifier,
                    period_end=period.period_end.isoformat(),
                    proposed=_amounts(proposed, chain_id, figures, partner),
                    current=_amounts(current, chain_id, figures, partner),
                    stored=stored,
                )
            )
        transaction.set_rollback(True)
    return preview


def _amounts(
    rules: Sequence[RuleSpec], chain_id: str, figures: Sequence[ValidatorFigures], partner: PartnerFigures
) -> dict[int, Decimal]:
    amounts = {}
    for rule in rules:
        if rule.chain_id not in (None, chain_id):
            continue
        amounts[rule.rule_order] = compute_line(rule_terms_from(rule, chain_id), figures, partner).amount
    return amounts
