"""Tiered commission rates: validated configuration and exact application (no database).

    {"basis": "base_amount" | "introduced_stake",
     "mode": "marginal" | "whole",
     "tiers": [{"from": "<amount in base units>", "rate_bps": N}, ...]}

`base_amount` tiers apply to the line's base; `introduced_stake` tiers to the partner's introduced
active stake. `whole` pays the rate of the tier the amount falls in on all of it; `marginal` pays
each tier's rate on the part that falls in that tier (for `introduced_stake`, the resulting
blended rate is applied to the base). Below the first tier's `from` the rate is 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

BASES = ("base_amount", "introduced_stake")
MODES = ("marginal", "whole")
MAX_BPS = 10_000


class InvalidTerms(ValueError):
    """Agreement terms that cannot be applied; the message says which and why."""


@dataclass(frozen=True)
class Tier:
    start: Decimal
    rate_bps: int


@dataclass(frozen=True)
class TierConfig:
    basis: str
    mode: str
    tiers: tuple[Tier, ...]

    @classmethod
    def parse(cls, config: Any, *, where: str = "tier_config") -> TierConfig:
        if not isinstance(config, dict):
            raise InvalidTerms(f"{where}: expected an object with basis, mode and tiers")
        unknown = sorted(set(config) - {"basis", "mode", "tiers"})
        if unknown:
            raise InvalidTerms(f"{where}: unknown key(s) {', '.join(unknown)}")
        basis, mode, tiers = config.get("basis"), config.get("mode"), config.get("tiers")
        if basis not in BASES:
            raise InvalidTerms(f"{where}.basis: expected one of {', '.join(BASES)}, got {basis!r}")
        if mode not in MODES:
            raise InvalidTerms(f"{where}.mode: expected one of {', '.join(MODES)}, got {mode!r}")
        if not isinstance(tiers, list) or not tiers:
            raise InvalidTerms(f"{where}.tiers: expected a non-empty list")
        parsed: list[Tier] = []
        for index, tier in enumerate(tiers):
            place = f"{where}.tiers[{index}]"
            if not isinstance(tier, dict) or set(tier) != {"from", "rate_bps"}:
                raise InvalidTerms(f'{place}: expected {{"from": "<amount>", "rate_bps": N}}')
            start = _amount(tier["from"], f"{place}.from")
            rate = tier["rate_bps"]
            if isinstance(rate, bool) or not isinstance(rate, int) or not 0 <= rate <= MAX_BPS:
                raise InvalidTerms(f"{place}.rate_bps: expected an integer from 0 to {MAX_BPS}, got {rate!r}")
            if parsed and start <= parsed[-1].start:
                raise InvalidTerms(
                    f"{place}.from: tiers must ascend; {start} does not exceed {parsed[-1].start}"
                )
            parsed.append(Tier(start, rate))
        return cls(basis=basis, mode=mode, tiers=tuple(parsed))

    def rate(self, measure: Fraction) -> Fraction:
        """The (blended) rate, as a fraction of 1, for an amount of `measure` on the tier basis."""
        if self.mode == "whole":
            rate = 0
            for tier in self.tiers:
                if measure >= tier.start:
                    rate = tier.rate_bps
            return Fraction(rate, MAX_BPS)
        if measure <= 0:
            return Fraction(self.tiers[0].rate_bps, MAX_BPS) if self.tiers[0].start <= 0 else Fraction(0)
        return self.marginal_amount(measure) / measure

    def marginal_amount(self, measure: Fraction) -> Fraction:
        """Each tier's rate on the part of `measure` that falls in that tier."""
        total = Fraction(0)
        for index, tier in enumerate(self.tiers):
            start = Fraction(tier.start)
            end = Fraction(self.tiers[index + 1].start) if index + 1 < len(self.tiers) else None
            if measure <= start:
                break
            part = (min(measure, end) if end is not None else measure) - start
            total += part * Fraction(tier.rate_bps, MAX_BPS)
        return total

    def as_json(self) -> dict[str, Any]:
        return {
            "basis": self.basis,
            "mode": self.mode,
            "tiers": [{"from": str(t.start), "rate_bps": t.rate_bps} for t in self.tiers],
        }


def _amount(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidTerms(f"{where}: expected an amount in base units as a string, got {value!r}")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise InvalidTerms(f"{where}: {value!r} is not a number") from None
    if not amount.is_finite() or amount < 0:
        raise InvalidTerms(f"{where}: expected an amount >= 0, got {value!r}")
    return amount
