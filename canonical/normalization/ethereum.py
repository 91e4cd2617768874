"""Ethereum's typed values into the canonical tables, in wei (pure functions, no database).

- FEES: the priority fees of locally built blocks (`ExecutionFees.total_fees`); a relay-delivered
  block earns nothing here, its relay value is MEV.
- MEV: the relay values of canonical deliveries. No protocol split: the fee recipient receives the
  whole value, so the validator's share (`total_mev_native`) equals the gross and the MEV
  commission is 10,000 bps; `tip_count` is the number of canonical deliveries.
- REWARDS: the staker of a validator is its withdrawal address (the stake account and withdraw
  authority of Solana in one); one staker row per validator keyed by it, and the validator's
  aggregate row with the same figures. A validator still on BLS (0x00) credentials has no address:
  its staker row is keyed by the credentials themselves, with no withdraw authority.
  `rewards_native` = consensus income earned (attestations, proposals, sync committee: the positive
  parts), `penalties_native` = the negative parts as a positive amount, so both stay >= 0 and the
  net is rewards - penalties. The protocol has no commission: `commission_native` is the operator's
  contractual fee on the net income (nothing when penalties exceed rewards), at the rate configured
  for the validator (chain parameter `operator_fee_bps_by_validator`) or the chain
  (`operator_fee_bps`), so COMMISSION means what it means on Solana: the operator's cut of the
  stakers' income, and the staker keeps rewards - penalties - commission.
- META: the Beacon state at the window's end; the commission rate is the operator fee.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

from canonical.rows import (
    MAX_BPS,
    STAKE_REWARDS,
    MetaSources,
    RowValues,
    StakeFacts,
    TableSpec,
    meta_rows,
    ratio,
)
from chains.models import Chain
from ingestion.providers.ethereum.values import ConsensusRewards

# The stake-reward columns Ethereum fills: Solana's, plus the penalties it has and Solana has not.
ETHEREUM_STAKE_REWARDS = replace(
    STAKE_REWARDS, value_fields=(*STAKE_REWARDS.value_fields, "penalties_native")
)


class OperatorFeeError(ValueError):
    """The configured operator fee cannot be used (not an integer number of basis points)."""


def operator_fee_bps(parameters: Mapping[str, Any] | None, validator_key: str) -> int:
    """The operator's contractual fee on a validator's consensus income, in basis points: the
    validator's own rate if `operator_fee_bps_by_validator` names it, else the chain's
    `operator_fee_bps`, else 0."""
    parameters = parameters or {}
    by_validator = parameters.get("operator_fee_bps_by_validator") or {}
    if not isinstance(by_validator, Mapping):
        raise OperatorFeeError("operator_fee_bps_by_validator: expected a map of validator key to bps")
    if validator_key in by_validator:
        value, where = by_validator[validator_key], f"operator_fee_bps_by_validator[{validator_key}]"
    else:
        value, where = parameters.get("operator_fee_bps", 0), "operator_fee_bps"
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_BPS:
        raise OperatorFeeError(f"{where}: expected an integer from 0 to {MAX_BPS}, got {value!r}")
    return int(value)


def staker_key(rewards: ConsensusRewards) -> str:
    """The withdrawal address, or the BLS withdrawal credentials while there is none."""
    return rewards.withdrawal_address or rewards.withdrawal_credentials


def is_active(status: str | None) -> bool:
    return bool(status) and str(status).startswith("active")


def stake_rows(
    rewards: ConsensusRewards, *, chain: Chain, sources: Mapping[str, str], default_source: str
) -> tuple[TableSpec, list[RowValues], StakeFacts]:
    """The validator's aggregate row and its withdrawal address's row (the same figures)."""
    key = rewards.validator_key
    bps = operator_fee_bps(chain.parameters, key)
    earned, penalties = rewards.earned, rewards.penalties
    net = earned - penalties
    commission = ratio(net * bps, MAX_BPS) if net > 0 and bps else Decimal(0)
    stake = Decimal(rewards.effective_balance if is_active(rewards.status) else 0)
    values = {
        "active_stake_native": stake,
        "rewards_native": Decimal(earned),
        "commission_native": commission,
        "commission_rate_bps": bps,
        "penalties_native": Decimal(penalties),
    }
    staker = staker_key(rewards)
    rows = [
        RowValues(
            key=(key, None),
            values={"withdraw_authority": None, **values},
            request_key=sources.get(key, default_source),
        ),
        RowValues(
            key=(key, staker),
            values={"withdraw_authority": rewards.withdrawal_address, **values},
            request_key=sources.get(staker, default_source),
        ),
    ]
    return ETHEREUM_STAKE_REWARDS, rows, StakeFacts(earning_accounts=1, active_stake=stake)


def ethereum_meta_rows(validator_key: str, sources: MetaSources, *, chain: Chain) -> list[RowValues]:
    """The Beacon metadata, with the operator fee as the validator's commission rate."""
    rows = meta_rows(validator_key, sources)
    bps = operator_fee_bps(chain.parameters, validator_key)
    result = []
    for row in rows:
        field_sources = dict(row.values["field_sources"])
        field_sources["commission_rate_bps"] = "operator fee (chain parameters)"
        values = {
            **row.values,
            "commission_rate_bps": bps,
            "field_sources": dict(sorted(field_sources.items())),
        }
        result.append(RowValues(key=row.key, values=values, request_key=row.request_key))
    return result
