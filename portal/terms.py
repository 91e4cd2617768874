"""Agreement terms in words, as a partner reads them: "5.00% of MEV tips (fixed share) on
solana-mainnet, all validators"."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aurora.common.amounts import base_units, token_amount
from chains.models import Chain
from commissions.models import AttributionMethod, RevenueComponent

METHOD_WORDS = {
    AttributionMethod.FIXED_SHARE: "of the validators' total",
    AttributionMethod.STAKE_WEIGHT: "in proportion to the stake you introduced",
    AttributionMethod.CLIENT_REVENUE: "of what your clients' stake earned",
}
BASIS_WORDS = {
    "base_amount": "the amount the rate applies to",
    "introduced_stake": "the stake you introduced",
}
MODE_WORDS = {"marginal": "each rate on its own band", "whole": "one rate on the whole amount"}


def percent(bps: int) -> str:
    return f"{Decimal(bps) / 100:.2f}%"


def _amount(value: Any, chain: Chain | None) -> str:
    if chain is None:
        return f"{base_units(value)} base units"
    return token_amount(value, chain.native_decimals, chain.display_symbol or chain.native_unit)


def describe_rule(rule: dict[str, Any], chains: dict[str, Chain]) -> dict[str, Any]:
    """One rule of a terms snapshot (`RuleSpec.as_json`), as a heading and its details."""
    chain = chains.get(rule.get("chain_id") or "")
    component = RevenueComponent(rule["revenue_component"]).label
    method = AttributionMethod(rule["attribution_method"])
    tiers = rule.get("tier_config") or None
    rate = "tiered rates" if tiers else percent(int(rule["commission_rate_bps"]))
    details = [
        f"On {chain.name if chain else rule.get('chain_id') or 'every chain'}, "
        + (f"validator {rule['validator_key']}" if rule.get("validator_key") else "all validators"),
        f"Attribution: {method.label.lower()} ({METHOD_WORDS[method]})",
    ]
    if tiers:
        bands = ", ".join(
            f"from {_amount(tier['from'], chain)}: {percent(int(tier['rate_bps']))}"
            for tier in tiers["tiers"]
        )
        details.append(
            f"Tiers on {BASIS_WORDS.get(tiers['basis'], tiers['basis'])}, "
            f"{MODE_WORDS.get(tiers['mode'], tiers['mode'])}: {bands}"
        )
    if rule.get("floor_amount_native") is not None:
        details.append(f"At least {_amount(rule['floor_amount_native'], chain)} per period")
    if rule.get("cap_amount_native") is not None:
        details.append(f"At most {_amount(rule['cap_amount_native'], chain)} per period")
    return {
        "order": rule["rule_order"],
        "heading": f"{rate} of {component_words(component)}",
        "details": details,
    }


def component_words(label: str) -> str:
    """'MEV tips' stays 'MEV tips', 'Execution fees' becomes 'execution fees'."""
    return " ".join(word if word.isupper() else word.lower() for word in label.split())


def describe_terms(snapshots: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Each terms snapshot's rules in words, in rule order (the chains read once for all)."""
    ids = {
        rule.get("chain_id") for terms in snapshots for rule in terms.get("rules", []) if rule.get("chain_id")
    }
    chains = {chain.pk: chain for chain in Chain.objects.filter(pk__in=ids)}
    return [
        [
            describe_rule(rule, chains)
            for rule in sorted(terms.get("rules", []), key=lambda r: r["rule_order"])
        ]
        for terms in snapshots
    ]
