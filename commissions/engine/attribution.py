"""Attribution: the base of a commission line, and its breakdown, from one period's figures.

Pure functions of typed inputs (no database). Sums of amounts are exact; a stake share is
computed to 80 significant digits; a base is rounded once, to the 18 places NUMERIC(48, 18)
keeps, half-even. Validators and stake accounts are always taken in key order, so the result does
not depend on the order of the inputs.

The methods (SPEC.md, "Attribution"):
- FIXED_SHARE: the component's total over the matched validators.
- STAKE_WEIGHT: sum over matched validators of component x (partner's introduced active stake on
  the validator / the validator's total active stake).
- CLIENT_REVENUE: what the partner's clients generated: for COMMISSION the clients' stake
  accounts' commission, for VOTE_REWARDS their rewards (before commission) less their penalties;
  for EXEC_FEES and MEV_TIPS the component x client stake share, as STAKE_WEIGHT.

Penalties make VOTE_REWARDS a net figure that can be negative (the operator's own stake's, or the
clients', when penalties exceed rewards); a base below zero pays nothing (see `lines`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from fractions import Fraction
from functools import cached_property
from typing import Any, ClassVar

from commissions.models import AttributionMethod, RevenueComponent

PLACES = Decimal("1e-18")
EXACT = Context(prec=80)


def to_decimal(value: Fraction) -> Decimal:
    """A fraction as NUMERIC(48, 18) keeps it: 18 places, half-even."""
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(PLACES, rounding=ROUND_HALF_EVEN)


def text(value: Fraction | Decimal | int) -> str:
    """An exact amount for a breakdown: integers as they are, anything finer to 18 places, no
    trailing zeros; zero is "0", never "-0" (as PostgreSQL spells it)."""
    if type(value) is Decimal:
        rounded = value.quantize(PLACES, rounding=ROUND_HALF_EVEN)
        return "0" if rounded.is_zero() else format(rounded.normalize(), "f")
    if isinstance(value, Fraction):
        return text(to_decimal(value))
    return str(value)


@dataclass(frozen=True)
class ValidatorFigures:
    """One validator's P&L components and total active stake in the period."""

    validator_key: str
    components: Mapping[str, Decimal]  # RevenueComponent -> amount (VOTE_REWARDS net of penalties)
    active_stake: Decimal
    penalties: Decimal = Decimal(0)  # already subtracted from VOTE_REWARDS

    @cached_property
    def texts(self) -> dict[str, str]:
        """The figures as breakdowns show them, formatted once for all the period's lines."""
        return {"active_stake": text(self.active_stake), **{k: text(v) for k, v in self.components.items()}}


@dataclass(frozen=True)
class ClientAccount:
    """One of the partner's clients' stake accounts at a validator, in the period."""

    stake_account: str
    withdraw_authority: str | None
    client: str  # the partner_clients address that matched (the account or its withdraw authority)
    active_stake: Decimal
    rewards: Decimal  # before commission
    commission: Decimal
    penalties: Decimal = Decimal(0)


@dataclass(frozen=True)
class ClientTotals:
    """A partner's clients at one validator, summed once: every rule of the partner reuses them."""

    accounts: int
    active_stake: Decimal
    rewards: Decimal
    commission: Decimal
    penalties: Decimal = Decimal(0)

    @cached_property
    def texts(self) -> tuple[str, str, str]:
        return text(self.active_stake), text(self.rewards), text(self.commission)


NO_CLIENTS = ClientTotals(0, Decimal(0), Decimal(0), Decimal(0))


@dataclass(frozen=True)
class PartnerFigures:
    """What the partner introduced, per validator: its clients' stake accounts."""

    accounts: Mapping[str, Sequence[ClientAccount]] = field(default_factory=dict)
    _totals: dict[str, ClientTotals] = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def from_totals(cls, totals: Mapping[str, ClientTotals]) -> PartnerFigures:
        """Figures from per-validator totals summed elsewhere (the database)."""
        figures = cls()
        figures._totals.update(totals)
        return figures

    def at(self, validator_key: str) -> Sequence[ClientAccount]:
        return self.accounts.get(validator_key, ())

    def totals(self, validator_key: str) -> ClientTotals:
        found = self._totals.get(validator_key)
        if found is None:
            accounts = sorted(self.at(validator_key), key=lambda a: a.stake_account)
            with localcontext(EXACT):  # sums of 18-place amounts: exact at 80 digits
                found = ClientTotals(
                    accounts=len(accounts),
                    active_stake=sum((a.active_stake for a in accounts), Decimal(0)),
                    rewards=sum((a.rewards for a in accounts), Decimal(0)),
                    commission=sum((a.commission for a in accounts), Decimal(0)),
                    penalties=sum((a.penalties for a in accounts), Decimal(0)),
                )
            self._totals[validator_key] = found if accounts else NO_CLIENTS
        return found

    def introduced_stake(self, validator_keys: Sequence[str]) -> Fraction:
        return sum((Fraction(self.totals(key).active_stake) for key in sorted(validator_keys)), Fraction(0))


@dataclass(frozen=True)
class Attribution:
    base: Decimal
    breakdown: dict[str, Any]


def stored(value: Decimal) -> str:
    """An amount read from the database (18 places at most) without trailing zeros."""
    return format(value.normalize(), "f")


class Strategy:
    """A base = the sum of per-validator parts, each computed at 80 significant digits in key order
    and the sum rounded once to 18 places (half-even). Validators that contribute nothing and where
    the partner has no clients are left out of the breakdown.

    Each method is written twice, side by side: `validator_base` in Python and `sql_amount` /
    `sql_detail` in SQL, which `commissions.services.bases` runs for a whole period at once. The
    SQL reads one row per validator and attribution with the columns `component`, `total` (the
    component's figure), `validator_stake`, `accounts`, `client_stake`, `client_rewards`,
    `client_commission`, `client_penalties` and `share` (client_stake / validator_stake at 100
    places, NULL without stake); `aurora_amount_text(x)` spells an amount as `text` does. Property tests
    hold the two forms equal (tests/commissions/test_bases.py).
    """

    method: ClassVar[str]
    sql_amount: ClassVar[str]
    sql_detail: ClassVar[str] = "'{}'::jsonb"

    def attribute(
        self, component: str, validators: Sequence[ValidatorFigures], partner: PartnerFigures
    ) -> Attribution:
        parts: list[dict[str, Any]] = []
        base = Decimal(0)
        with localcontext(EXACT):
            for figures in sorted(validators, key=lambda v: v.validator_key):
                amount, detail = self.validator_base(component, figures, partner)
                base += amount
                if figures.penalties and component == RevenueComponent.VOTE_REWARDS:
                    detail = {**detail, "penalties": text(figures.penalties)}
                if amount or detail.get("stake_accounts"):
                    parts.append({"validator": figures.validator_key, "base": text(amount), **detail})
            rounded = base.quantize(PLACES, rounding=ROUND_HALF_EVEN)
        return Attribution(
            base=rounded, breakdown={"method": self.method, "component": component, "validators": parts}
        )

    def validator_base(
        self, component: str, figures: ValidatorFigures, partner: PartnerFigures
    ) -> tuple[Decimal, dict[str, Any]]:
        raise NotImplementedError


class FixedShare(Strategy):
    method = AttributionMethod.FIXED_SHARE
    sql_amount = "total"

    def validator_base(
        self, component: str, figures: ValidatorFigures, partner: PartnerFigures
    ) -> tuple[Decimal, dict[str, Any]]:
        return figures.components[component], {}


class StakeWeight(Strategy):
    method = AttributionMethod.STAKE_WEIGHT
    sql_amount = """CASE WHEN accounts = 0 OR validator_stake = 0 THEN 0
        ELSE round(total * client_stake, 100) / validator_stake END"""
    sql_detail = """CASE WHEN accounts = 0 OR validator_stake = 0
        THEN jsonb_build_object('stake_accounts', accounts)
        ELSE jsonb_build_object('component_total', aurora_amount_text(total),
                                'introduced_stake', aurora_amount_text(client_stake),
                                'validator_stake', aurora_amount_text(validator_stake),
                                'stake_share', aurora_amount_text(share),
                                'stake_accounts', accounts) END"""

    def validator_base(
        self, component: str, figures: ValidatorFigures, partner: PartnerFigures
    ) -> tuple[Decimal, dict[str, Any]]:
        clients = partner.totals(figures.validator_key)
        if not clients.accounts or not figures.active_stake:
            return Decimal(0), {"stake_accounts": clients.accounts}
        share = clients.active_stake / figures.active_stake
        amount = figures.components[component] * share
        return amount, {
            "component_total": figures.texts[component],
            "introduced_stake": clients.texts[0],
            "validator_stake": figures.texts["active_stake"],
            "stake_share": text(share),
            "stake_accounts": clients.accounts,
        }


class ClientRevenue(Strategy):
    method = AttributionMethod.CLIENT_REVENUE
    sql_amount = f"""CASE component WHEN 'COMMISSION' THEN client_commission
        WHEN 'VOTE_REWARDS' THEN client_rewards - client_penalties
        ELSE {StakeWeight.sql_amount} END"""
    sql_detail = f"""CASE component
        WHEN 'COMMISSION' THEN jsonb_build_object('clients_commission', aurora_amount_text(client_commission),
                                                  'stake_accounts', accounts)
        WHEN 'VOTE_REWARDS' THEN jsonb_build_object('clients_rewards', aurora_amount_text(client_rewards),
                                                    'stake_accounts', accounts)
            || CASE WHEN client_penalties <> 0
                    THEN jsonb_build_object('clients_penalties', aurora_amount_text(client_penalties))
                    ELSE '{{}}'::jsonb END
        ELSE {StakeWeight.sql_detail} END"""

    def validator_base(
        self, component: str, figures: ValidatorFigures, partner: PartnerFigures
    ) -> tuple[Decimal, dict[str, Any]]:
        clients = partner.totals(figures.validator_key)
        if component == RevenueComponent.COMMISSION:
            return clients.commission, {
                "clients_commission": text(clients.commission),
                "stake_accounts": clients.accounts,
            }
        if component == RevenueComponent.VOTE_REWARDS:
            detail: dict[str, Any] = {"clients_rewards": text(clients.rewards)}
            if clients.penalties:
                detail["clients_penalties"] = text(clients.penalties)
            return clients.rewards - clients.penalties, {**detail, "stake_accounts": clients.accounts}
        return StakeWeight().validator_base(component, figures, partner)


STRATEGIES: dict[str, Strategy] = {
    strategy.method: strategy for strategy in (FixedShare(), StakeWeight(), ClientRevenue())
}
