"""Attribution: the base of a commission line, and its breakdown, from one period's figures.

Pure functions of typed inputs (no database). Amounts are exact: bases are summed as fractions
and rounded once, to the 18 places NUMERIC(48, 18) keeps, half-even. Validators and stake
accounts are always taken in key order, so the result does not depend on the order of the inputs.

The methods (SPEC.md, "Attribution"):
- FIXED_SHARE: the component's total over the matched validators.
- STAKE_WEIGHT: sum over matched validators of component x (partner's introduced active stake on
  the validator / the validator's total active stake).
- CLIENT_REVENUE: what the partner's clients generated: for COMMISSION the clients' stake
  accounts' commission, for VOTE_REWARDS their rewards (before commission); for EXEC_FEES and
  MEV_TIPS the component x client stake share, as STAKE_WEIGHT.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import Any, ClassVar

from commissions.models import AttributionMethod, RevenueComponent

PLACES = Decimal("1e-18")


def to_decimal(value: Fraction) -> Decimal:
    """A fraction as NUMERIC(48, 18) keeps it: 18 places, half-even."""
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(PLACES, rounding=ROUND_HALF_EVEN)


def text(value: Fraction | Decimal | int) -> str:
    """An exact amount for a breakdown: integers as they are, fractions to 18 places, no trailing zeros."""
    if isinstance(value, Fraction):
        value = to_decimal(value)
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


@dataclass(frozen=True)
class ValidatorFigures:
    """One validator's P&L components and total active stake in the period."""

    validator_key: str
    components: Mapping[str, Decimal]  # RevenueComponent -> amount
    active_stake: Decimal


@dataclass(frozen=True)
class ClientAccount:
    """One of the partner's clients' stake accounts at a validator, in the period."""

    stake_account: str
    withdraw_authority: str | None
    client: str  # the partner_clients address that matched (the account or its withdraw authority)
    active_stake: Decimal
    rewards: Decimal  # before commission
    commission: Decimal


@dataclass(frozen=True)
class PartnerFigures:
    """What the partner introduced, per validator: its clients' stake accounts."""

    accounts: Mapping[str, Sequence[ClientAccount]] = field(default_factory=dict)

    def at(self, validator_key: str) -> Sequence[ClientAccount]:
        return self.accounts.get(validator_key, ())

    def introduced_stake(self, validator_keys: Sequence[str]) -> Fraction:
        return sum((Fraction(a.active_stake) for key in validator_keys for a in self.at(key)), Fraction(0))


@dataclass(frozen=True)
class Attribution:
    base: Fraction
    breakdown: dict[str, Any]


def accounts_json(partner: PartnerFigures) -> dict[str, list[list[str | None]]]:
    """The partner's stake accounts per validator, compactly: [account, withdraw authority, client,
    active stake, rewards, commission], in key order. Lines give per-validator counts and sums;
    this is the stake-account level behind them (stored once per partner and period)."""
    return {
        key: [
            [
                a.stake_account,
                a.withdraw_authority,
                a.client,
                text(a.active_stake),
                text(a.rewards),
                text(a.commission),
            ]
            for a in sorted(partner.accounts[key], key=lambda a: a.stake_account)
        ]
        for key in sorted(partner.accounts)
    }


class Strategy:
    method: ClassVar[str]

    def attribute(
        self, component: str, validators: Sequence[ValidatorFigures], partner: PartnerFigures
    ) -> Attribution:
        parts: list[dict[str, Any]] = []
        base = Fraction(0)
        for figures in sorted(validators, key=lambda v: v.validator_key):
            amount, detail = self.validator_base(component, figures, partner)
            base += amount
            parts.append({"validator": figures.validator_key, "base": text(amount), **detail})
        return Attribution(
            base=base, breakdown={"method": self.method, "component": component, "validators": parts}
        )

    def validator_base(
        self, component: str, figures: ValidatorFigures, partner: PartnerFigures
    ) -> tuple[Fraction, dict[str, Any]]:
        raise NotImplementedError


class FixedShare(Strategy):
    method = AttributionMethod.FIXED_SHARE

    def validator_base(
        self, component: str, figures: ValidatorFigures, partner: PartnerFigures
    ) -> tuple[Fraction, dict[str, Any]]:
        amount = Fraction(figures.components[component])
        return amount, {"component_total": text(amount)}


class StakeWeight(Strategy):
    method = AttributionMethod.STAKE_WEIGHT

    def validator_base(
        self, component: str, figures: ValidatorFigures, partner: PartnerFigures
    ) -> tuple[Fraction, dict[str, Any]]:
        accounts = partner.at(figures.validator_key)
        introduced = sum((Fraction(a.active_stake) for a in accounts), Fraction(0))
        total = Fraction(figures.active_stake)
        share = introduced / total if total else Fraction(0)
        amount = Fraction(figures.components[component]) * share
        return amount, {
            "component_total": text(figures.components[component]),
            "introduced_stake": text(introduced),
            "validator_stake": text(figures.active_stake),
            "stake_share": text(share),
            "stake_accounts": len(accounts),
        }


class ClientRevenue(Strategy):
    method = AttributionMethod.CLIENT_REVENUE

    def validator_base(
        self, component: str, figures: ValidatorFigures, partner: PartnerFigures
    ) -> tuple[Fraction, dict[str, Any]]:
        accounts = partner.at(figures.validator_key)
        if component == RevenueComponent.COMMISSION:
            amount = sum((Fraction(a.commission) for a in accounts), Fraction(0))
            return amount, {"clients_commission": text(amount), "stake_accounts": len(accounts)}
        if component == RevenueComponent.VOTE_REWARDS:
            amount = sum((Fraction(a.rewards) for a in accounts), Fraction(0))
            return amount, {"clients_rewards": text(amount), "stake_accounts": len(accounts)}
        return StakeWeight().validator_base(component, figures, partner)


STRATEGIES: dict[str, Strategy] = {
    strategy.method: strategy for strategy in (FixedShare(), StakeWeight(), ClientRevenue())
}
