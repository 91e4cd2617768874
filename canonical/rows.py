"""From the adapters' typed values to canonical row values: pure functions, no database.

A canonical row is identified by its key within a (chain, period): the validator, and for stake
rewards the stake account (None for the validator's aggregate row). Its values are what the
history keeps: two rows with equal values (and the same source provider) are the same fact.

Amounts stay exact in the chain's base unit. Only derived per-stake-account figures can carry a
fraction; they are quantized to NUMERIC(48, 18)'s 18 places, half-even, so the same inputs always
give the same digits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import Any

from canonical.models import (
    CanonicalRecord,
    CanonicalStakeReward,
    CanonicalValidatorFees,
    CanonicalValidatorMeta,
    CanonicalValidatorMev,
)
from ingestion.models import DataType
from ingestion.providers.base import StakeRewards, ValidatorFees, ValidatorMeta, ValidatorMev

# Part of every input fingerprint: change it whenever the rows derived from the same payloads
# change, so that the next normalization recomputes them.
NORMALIZER_VERSION = "2026-11-1"

PLACES = Decimal("1e-18")
PRECISION = 80  # digits; enough for products of 48-digit amounts and rates
HUNDRED = Decimal(100)
MAX_BPS = 10_000


_EXACT = Context(prec=PRECISION)
_SCALE = 10**18


def exact(value: Decimal) -> Decimal:
    """A derived amount as NUMERIC(48, 18) stores it."""
    return value.quantize(PLACES, rounding=ROUND_HALF_EVEN)


def ratio(numerator: int, denominator: int) -> Decimal:
    """numerator / denominator to 18 places, half-even: the same digits as `exact(Decimal(n) / d)`
    in an 80-digit context, in integer arithmetic (this runs once per stake account)."""
    quotient, remainder = divmod(numerator * _SCALE, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient & 1):
        quotient += 1
    return Decimal(quotient).scaleb(-18, _EXACT)


def plain(value: Any) -> str:
    """An amount for people: no exponent, no trailing zeros (13681055517, not 1.3681055517E+10)."""
    return format(Decimal(value).normalize(), "f")


@dataclass(frozen=True)
class TableSpec:
    model: type[CanonicalRecord]
    data_type: DataType
    value_fields: tuple[str, ...]
    amount_field: str  # the headline number, for reports
    per_staker: bool = False


FEES = TableSpec(
    CanonicalValidatorFees, DataType.FEES, ("total_fees_native", "fee_count"), "total_fees_native"
)
MEV = TableSpec(
    CanonicalValidatorMev,
    DataType.MEV,
    ("total_mev_native", "tip_count", "gross_mev_native", "mev_commission_bps"),
    "total_mev_native",
)
STAKE_REWARDS = TableSpec(
    CanonicalStakeReward,
    DataType.REWARDS,
    (
        "withdraw_authority",
        "active_stake_native",
        "rewards_native",
        "commission_native",
        "commission_rate_bps",
    ),
    "rewards_native",
    per_staker=True,
)
META = TableSpec(
    CanonicalValidatorMeta,
    DataType.META,
    (
        "commission_rate_bps",
        "mev_commission_bps",
        "is_mev_enabled",
        "total_stake_native",
        "active_stake_native",
        "delegator_count",
        "uptime_percentage",
        "field_sources",
    ),
    "total_stake_native",
)
TABLES: tuple[TableSpec, ...] = (FEES, MEV, STAKE_REWARDS, META)

RowKey = tuple[str, str | None]  # (validator_key, staker_address or None)


@dataclass(frozen=True, slots=True)
class RowValues:
    """A canonical row to be: its key, its values, and the request its number came from."""

    key: RowKey
    values: Mapping[str, Any]
    request_key: str

    def same_values(self, other: Mapping[str, Any]) -> bool:
        return all(_same(self.values[name], other.get(name)) for name in self.values)

    def changed_fields(self, other: Mapping[str, Any]) -> list[str]:
        return [name for name in self.values if not _same(self.values[name], other.get(name))]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        return a is not None and b is not None and Decimal(a) == Decimal(b)
    return bool(a == b)


# ---- per data type ------------------------------------------------------------------------------


def fee_rows(fees: ValidatorFees, request_key: str) -> list[RowValues]:
    return [
        RowValues(
            key=(fees.validator_key, None),
            values={"total_fees_native": Decimal(fees.total_fees), "fee_count": fees.blocks_produced},
            request_key=request_key,
        )
    ]


def mev_share(mev: ValidatorMev) -> Decimal:
    """The validator's part of its MEV tips: tips x MEV commission / 10,000, exact."""
    return ratio(mev.total_tips * mev.commission_bps, MAX_BPS)


def mev_rows(mev: ValidatorMev, request_key: str) -> list[RowValues]:
    return [
        RowValues(
            key=(mev.validator_key, None),
            values={
                "total_mev_native": mev_share(mev),
                "tip_count": mev.tip_count,
                "gross_mev_native": Decimal(mev.total_tips),
                "mev_commission_bps": mev.commission_bps if mev.running_mev_client else None,
            },
            request_key=request_key,
        )
    ]


@dataclass(frozen=True)
class StakeFacts:
    """What the stake rows say that other tables use: delegators and the stake that earned."""

    earning_accounts: int
    active_stake: Decimal


def solana_stake_rows(
    rewards: StakeRewards, *, sources: Mapping[str, str], default_source: str
) -> tuple[list[RowValues], StakeFacts]:
    """The validator's aggregate row and one row per stake account credited a reward.

    Solana reports each stake account's reward after commission (`net`) with the commission
    percent `c` then in force; the vote account's own reward is the exact total commission of the
    epoch. Per stake account: commission = net x c / (100 - c), gross = net + commission (exact
    to 18 places; Agave floors both sides of the split, so the true figures differ by under a
    lamport, which reconciliation allows for). At 100 % commission stakers get nothing and the
    vote reward is shared by stake. The stake that earned is the listed delegation less the
    period's net reward, which the runtime compounded into it when paying.
    The aggregate row: rewards = vote reward + all net rewards (the period's gross staking
    rewards), commission = vote reward.
    """
    earning = [a for a in rewards.stake_accounts if a.reward is not None]
    stakes = {a.stake_account: max(a.delegated_stake - (a.reward or 0), 0) for a in earning}
    total_stake = sum(stakes.values())
    vote_reward = rewards.vote_reward or 0
    key = rewards.validator_key
    rows = []
    for account in earning:
        net = account.reward or 0
        pct = account.commission_pct if account.commission_pct is not None else rewards.vote_commission_pct
        if pct is None or pct == 0:
            commission = Decimal(0)
        elif pct >= 100:
            commission = (
                ratio(vote_reward * stakes[account.stake_account], total_stake) if total_stake else Decimal(0)
            )
        else:
            commission = ratio(net * pct, 100 - pct)
        rows.append(
            RowValues(
                key=(key, account.stake_account),
                values={
                    "withdraw_authority": account.withdrawer,
                    "active_stake_native": Decimal(stakes[account.stake_account]),
                    "rewards_native": _EXACT.add(commission, Decimal(net)),
                    "commission_native": commission,
                    "commission_rate_bps": None if pct is None else pct * 100,
                },
                request_key=sources.get(account.stake_account, default_source),
            )
        )
    pct = rewards.vote_commission_pct
    aggregate = RowValues(
        key=(rewards.validator_key, None),
        values={
            "withdraw_authority": None,
            "active_stake_native": Decimal(total_stake),
            "rewards_native": Decimal(vote_reward + sum(a.reward or 0 for a in earning)),
            "commission_native": Decimal(vote_reward),
            "commission_rate_bps": None if pct is None else pct * 100,
        },
        request_key=sources.get(rewards.validator_key, default_source),
    )
    return [aggregate, *rows], StakeFacts(earning_accounts=len(earning), active_stake=Decimal(total_stake))


META_FIELDS = ("commission_bps", "mev_commission_bps", "is_mev_enabled", "active_stake", "skip_rate_pct")


@dataclass
class MetaSources:
    """The metadata each provider parsed, best first, plus facts from the other data types."""

    by_provider: Sequence[tuple[str, ValidatorMeta, str]]  # (provider name, value, request key)
    mev: tuple[str, ValidatorMev] | None = None
    fees: tuple[str, ValidatorFees] | None = None
    stake: tuple[str, StakeFacts] | None = None
    field_sources: dict[str, str] = field(default_factory=dict)


def meta_rows(validator_key: str, sources: MetaSources) -> list[RowValues]:
    """One metadata row: the best provider's values, each gap filled from the next provider that
    has it, then from the MEV, fee and stake data of the same period. `field_sources` names the
    provider of every field not from the best provider."""
    if not sources.by_provider:
        return []
    primary, _, request_key = sources.by_provider[0]
    used: dict[str, str] = {}

    def pick(attribute: str, column: str) -> Any:
        for name, meta, _ in sources.by_provider:
            value = getattr(meta, attribute)
            if value is not None:
                if name != primary:
                    used[column] = name
                return value
        return None

    commission = pick("commission_bps", "commission_rate_bps")
    mev_commission = pick("mev_commission_bps", "mev_commission_bps")
    mev_enabled = pick("is_mev_enabled", "is_mev_enabled")
    if sources.mev is not None:
        name, mev = sources.mev
        if mev_enabled is None:
            mev_enabled, used["is_mev_enabled"] = mev.running_mev_client, name
        if mev_commission is None and mev.running_mev_client:
            mev_commission, used["mev_commission_bps"] = mev.commission_bps, name
    stake = pick("active_stake", "total_stake_native")
    delegators = pick("delegator_count", "delegator_count")
    active_stake = None
    if sources.stake is not None:
        name, facts = sources.stake
        active_stake, used["active_stake_native"] = facts.active_stake, name
        if delegators is None:
            delegators, used["delegator_count"] = facts.earning_accounts, name
    uptime = None
    if sources.fees is not None and sources.fees[1].blocks_scheduled:
        name, fees = sources.fees
        with localcontext(prec=PRECISION):
            uptime = (Decimal(fees.blocks_produced) * 100 / fees.blocks_scheduled).quantize(Decimal("0.01"))
        used["uptime_percentage"] = name
    else:
        skip_rate = pick("skip_rate_pct", "uptime_percentage")
        if skip_rate is not None:
            uptime = (HUNDRED - Decimal(skip_rate)).quantize(Decimal("0.01"))
    return [
        RowValues(
            key=(validator_key, None),
            values={
                "commission_rate_bps": commission,
                "mev_commission_bps": mev_commission,
                "is_mev_enabled": bool(mev_enabled),
                "total_stake_native": Decimal(stake) if stake is not None else Decimal(0),
                "active_stake_native": active_stake,
                "delegator_count": delegators,
                "uptime_percentage": uptime,
                "field_sources": dict(sorted(used.items())),
            },
            request_key=request_key,
        )
    ]
