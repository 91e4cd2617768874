"""The documented shapes of Beacon API, execution JSON-RPC and relay Data API answers.

Beacon and relay integers are decimal strings (Uint64, Int64 and Gwei; relay `value` and the
payload's `base_fee_per_gas` are Uint256 and may exceed 2^64); execution JSON-RPC quantities are
0x-prefixed hex strings. All are parsed into exact Python integers. Unknown fields are ignored,
known ones are checked strictly: a body of another shape is refused with the path of the field.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from ingestion.providers.parsing import ProviderModel

_UNSIGNED = re.compile(r"^[0-9]{1,80}$")
_SIGNED = re.compile(r"^-?[0-9]{1,80}$")
_QUANTITY = re.compile(r"^0x[0-9a-fA-F]{1,64}$")


def _unsigned(value: Any) -> Any:
    if isinstance(value, str) and _UNSIGNED.match(value):
        return int(value)
    raise ValueError("expected an unsigned integer as a decimal string")


def _signed(value: Any) -> Any:
    if isinstance(value, str) and _SIGNED.match(value):
        return int(value)
    raise ValueError("expected an integer as a decimal string")


def _quantity(value: Any) -> Any:
    if isinstance(value, str) and _QUANTITY.match(value):
        return int(value, 16)
    raise ValueError("expected a 0x-prefixed hex quantity")


Uint = Annotated[int, BeforeValidator(_unsigned)]
Int = Annotated[int, BeforeValidator(_signed)]
Quantity = Annotated[int, BeforeValidator(_quantity)]
Root = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{64}$")]
BlsPubkey = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{96}$")]
Address = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{40}$")]
HexData = Annotated[str, Field(pattern=r"^0x([0-9a-fA-F]{2})*$")]

BLS_PUBKEY = re.compile(r"^0x[0-9a-f]{96}$")


# ---- Beacon API ---------------------------------------------------------------------------------


class NodeSyncing(ProviderModel):
    head_slot: Uint
    sync_distance: Uint
    is_syncing: bool


class NodeSyncingBody(ProviderModel):
    data: NodeSyncing


class BeaconEnvelope(ProviderModel):
    execution_optimistic: bool | None = None
    finalized: bool | None = None


class HeaderMessage(ProviderModel):
    slot: Uint
    proposer_index: Uint
    parent_root: Root
    state_root: Root
    body_root: Root


class SignedHeader(ProviderModel):
    message: HeaderMessage
    signature: HexData


class HeaderEntry(ProviderModel):
    root: Root
    canonical: bool
    header: SignedHeader


class HeadersBody(BeaconEnvelope):
    """GET /eth/v1/beacon/headers?slot= : empty for a slot without a block."""

    data: list[HeaderEntry]


class HeaderBody(BeaconEnvelope):
    """GET /eth/v1/beacon/headers/{block_id}."""

    data: HeaderEntry


class Checkpoint(ProviderModel):
    epoch: Uint
    root: Root


class FinalityData(ProviderModel):
    previous_justified: Checkpoint
    current_justified: Checkpoint
    finalized: Checkpoint


class FinalityBody(BeaconEnvelope):
    data: FinalityData


class ProposerDuty(ProviderModel):
    pubkey: BlsPubkey
    validator_index: Uint
    slot: Uint


class ProposerDutiesBody(ProviderModel):
    dependent_root: Root
    execution_optimistic: bool | None = None
    data: list[ProposerDuty]


class ValidatorRecord(ProviderModel):
    pubkey: BlsPubkey
    withdrawal_credentials: Root
    effective_balance: Uint
    slashed: bool
    activation_eligibility_epoch: Uint
    activation_epoch: Uint
    exit_epoch: Uint
    withdrawable_epoch: Uint


class ValidatorEntry(ProviderModel):
    index: Uint
    balance: Uint
    status: Annotated[str, Field(min_length=1, max_length=40)]  # new statuses appear: any name is kept
    validator: ValidatorRecord


class ValidatorsBody(BeaconEnvelope):
    data: list[ValidatorEntry]


class BlockRewardsData(ProviderModel):
    proposer_index: Uint
    total: Uint
    attestations: Uint
    sync_aggregate: Uint
    proposer_slashings: Uint
    attester_slashings: Uint


class BlockRewardsBody(BeaconEnvelope):
    data: BlockRewardsData


class AttestationTotal(ProviderModel):
    validator_index: Uint
    head: Int
    target: Int
    source: Int
    inclusion_delay: Int | None = None  # phase0 only
    inactivity: Int | None = None  # absent in an older revision of the spec


class IdealAttestationReward(ProviderModel):
    effective_balance: Uint
    head: Int
    target: Int
    source: Int
    inclusion_delay: Int | None = None
    inactivity: Int | None = None


class AttestationRewardsData(ProviderModel):
    ideal_rewards: list[IdealAttestationReward]
    total_rewards: list[AttestationTotal]


class AttestationRewardsBody(BeaconEnvelope):
    """`data: {ideal_rewards, total_rewards}`; an older revision put both arrays at the top level."""

    data: AttestationRewardsData | None = None
    ideal_rewards: list[IdealAttestationReward] | None = None
    total_rewards: list[AttestationTotal] | None = None

    def totals(self) -> list[AttestationTotal] | None:
        if self.data is not None:
            return self.data.total_rewards
        return self.total_rewards


class SyncCommitteeReward(ProviderModel):
    validator_index: Uint
    reward: Int


class SyncCommitteeRewardsBody(BeaconEnvelope):
    data: list[SyncCommitteeReward]


class SyncCommitteeData(ProviderModel):
    validators: list[Uint]
    validator_aggregates: list[list[Uint]]


class SyncCommitteeBody(BeaconEnvelope):
    data: SyncCommitteeData


class ExecutionPayload(ProviderModel):
    parent_hash: Root
    fee_recipient: Address
    block_number: Uint
    block_hash: Root
    gas_limit: Uint
    gas_used: Uint
    timestamp: Uint
    base_fee_per_gas: Uint
    transactions: list[HexData] | None = None


class BeaconBlockBody(ProviderModel):
    execution_payload: ExecutionPayload | None = None  # absent before the merge


class BeaconBlockMessage(ProviderModel):
    slot: Uint
    proposer_index: Uint
    parent_root: Root
    state_root: Root
    body: BeaconBlockBody


class SignedBeaconBlock(ProviderModel):
    message: BeaconBlockMessage
    signature: HexData


class BlockV2Body(BeaconEnvelope):
    version: Annotated[str, Field(min_length=1, max_length=20)]
    data: SignedBeaconBlock


# ---- execution JSON-RPC -------------------------------------------------------------------------


class ExecutionTransaction(ProviderModel):
    hash: Root
    transactionIndex: Quantity
    type: Quantity | None = None


class ExecutionBlock(ProviderModel):
    """eth_getBlockByNumber with full transactions (hydrated)."""

    number: Quantity
    hash: Root
    miner: Address
    gasUsed: Quantity
    baseFeePerGas: Quantity
    timestamp: Quantity
    transactions: list[ExecutionTransaction]


class Receipt(ProviderModel):
    transactionHash: Root
    transactionIndex: Quantity
    blockHash: Root
    blockNumber: Quantity
    gasUsed: Quantity
    cumulativeGasUsed: Quantity
    effectiveGasPrice: Quantity


# ---- MEV-Boost relay Data API ---------------------------------------------------------------------


class BidTrace(ProviderModel):
    """A row of /relay/v1/data/bidtraces/proposer_payload_delivered (BidTraceV2, every number a string)."""

    slot: Uint
    parent_hash: Root
    block_hash: Root
    builder_pubkey: BlsPubkey
    proposer_pubkey: BlsPubkey
    proposer_fee_recipient: Address
    gas_limit: Uint
    gas_used: Uint
    value: Uint
    block_number: Uint
    num_tx: Uint | None = None
