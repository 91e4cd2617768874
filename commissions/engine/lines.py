"""One commission line: a rule's terms applied to a period's figures (no database).

base -> rate (flat, or from the tiers) -> base x rate -> floor, then cap -> rounded down to whole
base units, once, at the end: a partner is never paid a fraction of a unit more than earned.

A base below zero (penalties exceeded rewards) pays nothing: the line is zero, with no floor, its
stored base is 0 and its breakdown gives the reason and the attributed (negative) base.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from commissions.engine.attribution import (
    STRATEGIES,
    Attribution,
    PartnerFigures,
    ValidatorFigures,
    text,
)
from commissions.engine.tiers import MAX_BPS, TierConfig
from commissions.models import AttributionMethod


@dataclass(frozen=True)
class RuleTerms:
    rule_order: int
    chain_id: str
    validator_key: str | None  # None: every validator of the operator on the chain
    component: str
    method: str
    rate_bps: int
    floor: Decimal | None = None
    cap: Decimal | None = None
    tiers: TierConfig | None = None


@dataclass(frozen=True)
class LineResult:
    base: Decimal  # as stored: 18 places
    rate: Fraction  # the rate applied (blended, for marginal tiers)
    amount: Decimal  # whole base units, rounded down
    breakdown: dict[str, Any]

    @property
    def rate_bps(self) -> int:
        """The applied rate in whole basis points, rounded down (the exact rate is in the breakdown)."""
        return math.floor(self.rate * MAX_BPS)


AttributionCache = dict[tuple[Any, ...], Attribution]

NEGATIVE_BASE = "negative base: penalties exceeded rewards"


def needs_introduced_stake(terms: RuleTerms) -> bool:
    """Whether the line's rate depends on the partner's introduced stake (tiers on that basis)."""
    return terms.tiers is not None and terms.tiers.basis == "introduced_stake"


def compute_line(
    terms: RuleTerms,
    validators: Sequence[ValidatorFigures],
    partner: PartnerFigures,
    cache: AttributionCache | None = None,
) -> LineResult:
    """One line. `cache` shares attributions between the lines of a period: a FIXED_SHARE base
    depends only on the component and the validator filter; the others on the partner too."""
    matched = [v for v in validators if terms.validator_key in (None, v.validator_key)]
    key = (
        terms.method,
        terms.component,
        terms.validator_key,
        None if terms.method == AttributionMethod.FIXED_SHARE else id(partner),
    )
    attribution = cache.get(key) if cache is not None else None
    if attribution is None:
        attribution = STRATEGIES[terms.method].attribute(terms.component, matched, partner)
        if cache is not None:
            cache[key] = attribution
    introduced = None
    if needs_introduced_stake(terms):
        introduced = partner.introduced_stake([v.validator_key for v in matched])
    return line_result(terms, attribution, introduced)


def line_result(terms: RuleTerms, attribution: Attribution, introduced_stake: Fraction | None) -> LineResult:
    """The terms applied to an attribution (however it was computed): rate, floor, cap, rounding.
    `introduced_stake` is the partner's stake on the matched validators, needed by tiers on that
    basis only."""
    base = attribution.base
    breakdown = dict(attribution.breakdown)
    if base < 0:
        rate = Fraction(terms.rate_bps, MAX_BPS) if terms.tiers is None else Fraction(0)
        breakdown.update(
            {
                "reason": NEGATIVE_BASE,
                "attributed_base": text(base),
                "base": "0",
                "rate": text(rate),
                "computed": "0",
                "amount": "0",
            }
        )
        return LineResult(base=Decimal(0), rate=rate, amount=Decimal(0), breakdown=breakdown)
    if terms.tiers is not None:
        if terms.tiers.basis == "base_amount":
            measure = Fraction(base)
        elif introduced_stake is None:
            raise ValueError("tiers on introduced stake need the partner's introduced stake")
        else:
            measure = introduced_stake
        rate = terms.tiers.rate(measure)
        breakdown["tiers"] = {**terms.tiers.as_json(), "measured": text(measure)}
    else:
        rate = Fraction(terms.rate_bps, MAX_BPS)
    computed = Fraction(base) * rate
    bounded = computed
    if terms.floor is not None and bounded < terms.floor:
        bounded = Fraction(terms.floor)
        breakdown["floor_applied"] = text(terms.floor)
    if terms.cap is not None and bounded > terms.cap:
        bounded = Fraction(terms.cap)
        breakdown["cap_applied"] = text(terms.cap)
    amount = Decimal(math.floor(bounded))
    breakdown.update(
        {
            "base": text(base),
            "rate": text(rate),
            "computed": text(computed),
            "amount": text(amount),
        }
    )
    return LineResult(base=base, rate=rate, amount=amount, breakdown=breakdown)
