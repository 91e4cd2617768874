"""The typed values the Ethereum adapters return (and parse back from staged payloads).

Every amount is an exact integer in wei (consensus-layer Gwei x 10^9), signed where the chain can
take as well as give (attestation and sync-committee penalties). Fees and MEV extend the shared
`ValidatorFees` / `ValidatorMev` so code written against those reads them as it reads Solana's;
the consensus rewards are Ethereum's own shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ingestion.providers.base import BlockFee, ValidatorFees, ValidatorMeta, ValidatorMev

WEI_PER_GWEI = 10**9

BlockSource = Literal["local", "relay", "missed"]

MISSED = "missed: no block was proposed in this slot"
RELAY_DELIVERED = "relay-delivered: the proposer earned the relay's value (MEV), not the block's fees"


def gwei(amount: int) -> int:
    """Consensus-layer Gwei to wei."""
    return amount * WEI_PER_GWEI


# ---- FEES (execution JSON-RPC) ------------------------------------------------------------------


@dataclass(frozen=True)
class ProposedBlock(BlockFee):
    """One proposer duty of the validator in the window.

    `index` is the slot and `amount` the execution fees (wei) the validator earned from it: the
    block's priority fees when it was built locally; 0 for a relay-delivered block (its income is
    the relay's value, in MEV) and for a missed slot, with the reason in `reason`.
    """

    source: BlockSource = "local"
    block_number: int | None = None
    block_hash: str | None = None
    fee_recipient: str | None = None  # execution_payload.fee_recipient (the block's miner)
    base_fee_per_gas: int | None = None
    gas_used: int | None = None
    transaction_count: int | None = None
    relays: tuple[str, ...] = ()  # relays that delivered this very block (source "relay")


@dataclass(frozen=True)
class ExecutionFees(ValidatorFees):
    """`total_fees` = sum of the priority fees of the validator's locally built blocks (wei);
    `blocks_scheduled` = its proposer duties in the window; `blocks_produced` = duties with a
    canonical block (local or relay-delivered); `blocks` = one `ProposedBlock` per duty, by slot."""

    validator_index: int | None = None


# ---- MEV (relays) -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RelayDelivery:
    """A payload relays say they delivered to the validator, de-duplicated by block hash.

    `value` is the wei promised to `proposer_fee_recipient` (the lowest figure if relays disagree;
    each relay's figure is in `relay_values`). Only a canonical delivery (the slot's beacon block
    carries this block hash) earns it; `reason` says why another one does not.
    """

    slot: int
    block_number: int
    block_hash: str
    value: int
    proposer_fee_recipient: str
    builder_pubkey: str
    relays: tuple[str, ...]
    relay_values: tuple[tuple[str, int], ...]
    canonical: bool
    reason: str = ""


@dataclass(frozen=True)
class RelayMev(ValidatorMev):
    """`total_tips` = sum of the canonical deliveries' values (wei). Ethereum has no MEV split at the
    protocol level: the fee recipient receives the whole value, so `commission_bps` is 10,000.
    `tip_count` = the number of canonical deliveries. `running_mev_client` = at least one canonical
    delivery in the window. `deliveries` lists every delivery found, canonical or not, by slot."""

    deliveries: tuple[RelayDelivery, ...] = ()

    @property
    def canonical_deliveries(self) -> tuple[RelayDelivery, ...]:
        return tuple(delivery for delivery in self.deliveries if delivery.canonical)


# ---- REWARDS (Beacon API) -----------------------------------------------------------------------


@dataclass(frozen=True)
class AttestationReward:
    """Rewards (positive) and penalties (negative) for the validator's attestation duty of an epoch."""

    epoch: int
    head: int
    target: int
    source: int
    inclusion_delay: int
    inactivity: int

    @property
    def total(self) -> int:
        return self.head + self.target + self.source + self.inclusion_delay + self.inactivity


@dataclass(frozen=True)
class ProposerReward:
    """The consensus-layer reward of a block the validator proposed (execution income is in FEES/MEV)."""

    slot: int
    produced: bool
    total: int
    attestations: int = 0
    sync_aggregate: int = 0
    proposer_slashings: int = 0
    attester_slashings: int = 0
    reason: str = ""


@dataclass(frozen=True)
class SyncCommitteeReward:
    """The validator's sync-committee reward (negative: a missed signature) for one block."""

    slot: int
    reward: int
    produced: bool
    reason: str = ""


@dataclass(frozen=True)
class ConsensusRewards:
    """A validator's consensus-layer income over the window, component by component, in wei.

    `withdrawal_address` is where the protocol pays the validator's balance (0x01 or 0x02
    credentials), None while the credentials are still a BLS key (0x00).
    """

    validator_key: str
    period: str
    validator_index: int
    withdrawal_credentials: str
    withdrawal_address: str | None
    effective_balance: int
    status: str
    attestations: tuple[AttestationReward, ...]
    proposals: tuple[ProposerReward, ...] = ()
    sync_committee: tuple[SyncCommitteeReward, ...] = ()
    in_sync_committee: bool = False

    @property
    def attestation_total(self) -> int:
        return sum(reward.total for reward in self.attestations)

    @property
    def proposer_total(self) -> int:
        return sum(reward.total for reward in self.proposals)

    @property
    def sync_committee_total(self) -> int:
        return sum(reward.reward for reward in self.sync_committee)

    @property
    def total(self) -> int:
        """Net consensus income (may be negative)."""
        return self.attestation_total + self.proposer_total + self.sync_committee_total

    def _components(self) -> list[int]:
        parts = [
            part
            for reward in self.attestations
            for part in (reward.head, reward.target, reward.source, reward.inclusion_delay, reward.inactivity)
        ]
        return parts + [r.total for r in self.proposals] + [r.reward for r in self.sync_committee]

    @property
    def earned(self) -> int:
        """The positive components: what the validator was paid, before penalties."""
        return sum(part for part in self._components() if part > 0)

    @property
    def penalties(self) -> int:
        """The negative components, as a positive amount; `earned - penalties == total`."""
        return -sum(part for part in self._components() if part < 0)


# ---- META (Beacon API) --------------------------------------------------------------------------


@dataclass(frozen=True)
class BeaconValidatorMeta(ValidatorMeta):
    """The validator at the window's edges. Ethereum has no protocol commission (`commission_bps`
    0); `active_stake` is the effective balance at the window's end (wei), 0 unless active then.
    Balances are the states' at the slot before the window and at its last slot; their difference is
    the window's consensus income plus deposits minus withdrawals."""

    validator_index: int | None = None
    status: str | None = None
    status_at_start: str | None = None
    balance_start: int | None = None
    balance_end: int | None = None
    effective_balance: int | None = None
    withdrawal_credentials: str | None = None
    withdrawal_address: str | None = None
    slashed: bool | None = None
    activation_epoch: int | None = None
    exit_epoch: int | None = None


def withdrawal_address(credentials: str) -> str | None:
    """The execution address of 0x01 / 0x02 withdrawal credentials (the last 20 bytes), else None."""
    prefix = credentials[2:4]
    if prefix in ("01", "02"):
        return "0x" + credentials[-40:].lower()
    return None
