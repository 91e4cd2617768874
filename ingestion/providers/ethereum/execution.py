"""Execution JSON-RPC: the priority fees of the blocks the validator built itself.

For each proposer duty of the validator in the window (from its `beacon_provider`):

* no block in the slot: zero, with the reason (missed);
* a block some relay of the `relay_provider` delivered (`proposer_payload_delivered?slot=` names
  this very block hash): zero here, the proposer's income is the relay's value, counted as MEV
  by the relay adapter, never both;
* otherwise the block was built locally and its fee recipient earned the priority fees:
  `eth_getBlockByNumber(n, true)` and `eth_getBlockReceipts(n)` (or, where a node lacks that
  method, `eth_getTransactionReceipt` for each transaction), and
  fees = sum over transactions of gasUsed x (effectiveGasPrice - baseFeePerGas), in wei.
  Base fees and blob fees are burned and never reach the fee recipient.

The execution block must be the beacon block's payload (same hash, number, fee recipient, base
fee and gas used) and the receipts must be its transactions', in order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ingestion.models import DataType
from ingestion.providers.base import (
    PROBE_SCOPE,
    ChainSettings,
    Exchange,
    Fetched,
    PeriodInfo,
    ProbeOutcome,
    ProviderSettings,
    ValidatorFees,
    ValidatorRef,
    named,
    numbered,
)
from ingestion.providers.errors import ProviderBadResponse, ProviderRpcError
from ingestion.providers.ethereum.common import EthereumAdapter
from ingestion.providers.ethereum.consensus import BeaconReader
from ingestion.providers.ethereum.relay import Relay, connect_relays, delivering_relays, fetch_by_slot
from ingestion.providers.ethereum.shapes import ExecutionBlock, ExecutionPayload, Quantity, Receipt
from ingestion.providers.ethereum.values import MISSED, RELAY_DELIVERED, ExecutionFees, ProposedBlock
from ingestion.providers.http import ProviderClient, RpcCall
from ingestion.providers.options import ClientOptions, Companion
from ingestion.providers.parsing import validate

METHOD_NOT_SUPPORTED = frozenset({-32601, -32600})  # method not found / not available on this node


def priority_fees(block: ExecutionBlock, receipts: Sequence[Receipt]) -> int:
    """Sum over the block's transactions of gasUsed x (effectiveGasPrice - baseFeePerGas), in wei."""
    return sum(receipt.gasUsed * (receipt.effectiveGasPrice - block.baseFeePerGas) for receipt in receipts)


class ExecutionOptions(ClientOptions):
    beacon_provider: Companion = "beacon-api"  # which slots the validators proposed, and their blocks
    relay_provider: Companion = "mev-relays"  # relay-delivered blocks earn MEV, not fees


class ExecutionAdapter(EthereumAdapter):
    supplies = frozenset({DataType.FEES})
    companion_options = {"beacon_provider": "beacon-api", "relay_provider": "mev-relays"}
    Options = ExecutionOptions
    probe_call = "eth_syncing, eth_blockNumber"

    def __init__(self, *, chain: ChainSettings, settings: ProviderSettings, client: ProviderClient) -> None:
        super().__init__(chain=chain, settings=settings, client=client)
        self.beacon = BeaconReader(self, None, prefix="beacon/")
        self.relays: list[Relay] = []
        self._connected = False

    def connected(self, companions: Mapping[str, ProviderSettings]) -> None:
        names = self.companion_names()
        self.beacon = BeaconReader(
            self, self.make_client(self.companion(companions, "beacon_provider")), prefix="beacon/"
        )
        relay_provider = names.get("relay_provider")
        self.relays = (
            connect_relays(self, self.companion(companions, "relay_provider")) if relay_provider else []
        )
        self._connected = True

    def probe(self, validator: ValidatorRef | None) -> ProbeOutcome:
        """The node is not syncing; its latest block."""
        outcomes, _ = self.client.rpc_batch(
            [RpcCall("eth_syncing", []), RpcCall("eth_blockNumber", [])],
            scope=PROBE_SCOPE,
            request_key="probe",
        )
        for outcome in outcomes:
            if outcome.error is not None:
                raise outcome.error
        name = self.settings.name
        if outcomes[0].result is not False:
            raise ProviderBadResponse(provider=name, endpoint="eth_syncing", reason="the node is syncing")
        block = validate(Quantity, outcomes[1].result, provider=name, endpoint="eth_blockNumber")
        return ProbeOutcome(f"synced; latest block {block:,}")

    # ---- fetching ------------------------------------------------------------------------------

    def fetch_fees(
        self, period: PeriodInfo, validator: ValidatorRef
    ) -> Fetched[ValidatorFees]:  # an ExecutionFees
        if not self._connected:
            raise self.not_connected()
        pubkey = self.pubkey(validator)
        scope = self.scope(period, pubkey)
        exchanges = self.beacon.fetch_duties(period)
        duties = self.beacon.duties(exchanges, period, pubkey)
        blocks, beacon = self.beacon.fetch_slot_blocks(period, [duty.slot for duty in duties], scope)
        exchanges.extend(beacon)
        for slot, block in blocks.items():
            if block is None:
                continue
            payload = self._payload(block.message.body.execution_payload, slot)
            answers = [fetch_by_slot(self, relay, period, slot) for relay in self.relays]
            exchanges.extend(answers)
            if delivering_relays(answers, self, slot, payload.block_hash):
                continue
            exchanges.extend(self._fetch_block(payload.block_number, scope))
        return Fetched(self.parse_fees(exchanges, period, validator), exchanges)

    def _fetch_block(self, number: int, scope: str) -> list[Exchange]:
        _, block_exchange = self.client.rpc(
            "eth_getBlockByNumber", [hex(number), True], scope=scope, request_key=f"block/{number}"
        )
        try:
            _, receipts = self.client.rpc(
                "eth_getBlockReceipts", [hex(number)], scope=scope, request_key=f"receipts/{number}"
            )
            return [block_exchange, receipts]
        except ProviderRpcError as error:
            if error.code not in METHOD_NOT_SUPPORTED:
                raise
        block = self._execution_block(block_exchange, number)
        _, batches = self.client.rpc_batch(
            [RpcCall("eth_getTransactionReceipt", [tx.hash]) for tx in block.transactions],
            scope=scope,
            request_key=f"receipts/{number}",
        )
        return [block_exchange, *batches]

    # ---- parsing -------------------------------------------------------------------------------

    def _payload(self, payload: ExecutionPayload | None, slot: int) -> ExecutionPayload:
        if payload is None:
            raise self.bad("GET /eth/v2/beacon/blocks/{block_id}", f"block {slot} has no execution payload")
        return payload

    def _execution_block(self, exchange: Exchange, number: int) -> ExecutionBlock:
        result = self.client.rpc_result(exchange.body, "eth_getBlockByNumber")
        block: ExecutionBlock | None = validate(
            ExecutionBlock | None, result, provider=self.settings.name, endpoint="eth_getBlockByNumber"
        )
        if block is None:
            raise self.bad("eth_getBlockByNumber", f"block {number} is unknown to the node")
        return block

    def _receipts(self, exchanges: Sequence[Exchange], number: int) -> list[Receipt]:
        whole = named(exchanges, f"receipts/{number}")
        if whole is not None:
            result = self.client.rpc_result(whole.body, "eth_getBlockReceipts")
            receipts: list[Receipt] | None = validate(
                list[Receipt] | None, result, provider=self.settings.name, endpoint="eth_getBlockReceipts"
            )
            if receipts is None:
                raise self.bad("eth_getBlockReceipts", f"no receipts for block {number}")
            return receipts
        batches = numbered(exchanges, f"receipts/{number}")
        if not batches:
            raise self.bad("eth_getBlockReceipts", f"the receipts of block {number} were not fetched")
        found = []
        for exchange in batches:
            sent = exchange.request.get("body")
            if not isinstance(sent, list):
                raise self.bad("eth_getTransactionReceipt", "not a batch")
            calls = [RpcCall(call["method"], call["params"]) for call in sent]
            for outcome in self.client.batch_outcomes(exchange.body, calls):
                if outcome.error is not None:
                    raise outcome.error
                receipt: Receipt | None = validate(
                    Receipt | None,
                    outcome.result,
                    provider=self.settings.name,
                    endpoint="eth_getTransactionReceipt",
                )
                if receipt is None:
                    raise self.bad("eth_getTransactionReceipt", f"a receipt of block {number} is unknown")
                found.append(receipt)
        return found

    def _local_fees(self, exchanges: Sequence[Exchange], payload: ExecutionPayload, slot: int) -> int:
        number = payload.block_number
        block = self._execution_block(self.exchange(exchanges, f"block/{number}"), number)
        expected: list[tuple[str, Any, Any]] = [
            ("hash", block.hash.lower(), payload.block_hash.lower()),
            ("number", block.number, payload.block_number),
            ("fee recipient", block.miner.lower(), payload.fee_recipient.lower()),
            ("base fee", block.baseFeePerGas, payload.base_fee_per_gas),
            ("gas used", block.gasUsed, payload.gas_used),
        ]
        for what, got, want in expected:
            if got != want:
                raise self.bad(
                    "eth_getBlockByNumber",
                    f"block {number}: {what} {got} but slot {slot}'s payload says {want}",
                )
        receipts = sorted(self._receipts(exchanges, number), key=lambda receipt: receipt.transactionIndex)
        hashes = [tx.hash.lower() for tx in sorted(block.transactions, key=lambda tx: tx.transactionIndex)]
        if [receipt.transactionHash.lower() for receipt in receipts] != hashes:
            raise self.bad("eth_getBlockReceipts", f"block {number}: the receipts are not its transactions'")
        if any(receipt.blockHash.lower() != block.hash.lower() for receipt in receipts):
            raise self.bad("eth_getBlockReceipts", f"block {number}: a receipt of another block")
        if sum(receipt.gasUsed for receipt in receipts) != block.gasUsed:
            raise self.bad("eth_getBlockReceipts", f"block {number}: gas used does not add up")
        if any(receipt.effectiveGasPrice < block.baseFeePerGas for receipt in receipts):
            raise self.bad("eth_getBlockReceipts", f"block {number}: a transaction priced below the base fee")
        return priority_fees(block, receipts)

    def parse_fees(
        self, exchanges: list[Exchange], period: PeriodInfo, validator: ValidatorRef
    ) -> ExecutionFees:
        pubkey = self.pubkey(validator)
        duties = self.beacon.duties(exchanges, period, pubkey)
        indices = {duty.validator_index for duty in duties}
        if len(indices) > 1:
            raise self.bad("GET /eth/v1/validator/duties/proposer/{epoch}", "one key under several indices")
        blocks = []
        for duty in duties:
            slot = duty.slot
            block = self.beacon.slot_block(exchanges, slot, proposer_index=duty.validator_index)
            if block is None:
                blocks.append(
                    ProposedBlock(index=slot, amount=0, produced=False, reason=MISSED, source="missed")
                )
                continue
            payload = self._payload(block.message.body.execution_payload, slot)
            details: dict[str, Any] = {
                "block_number": payload.block_number,
                "block_hash": payload.block_hash.lower(),
                "fee_recipient": payload.fee_recipient.lower(),
                "base_fee_per_gas": payload.base_fee_per_gas,
                "gas_used": payload.gas_used,
                "transaction_count": len(payload.transactions) if payload.transactions is not None else None,
            }
            relays = delivering_relays(exchanges, self, slot, payload.block_hash)
            if relays:
                blocks.append(
                    ProposedBlock(
                        index=slot,
                        amount=0,
                        produced=True,
                        reason=RELAY_DELIVERED,
                        source="relay",
                        relays=relays,
                        **details,
                    )
                )
                continue
            fees = self._local_fees(exchanges, payload, slot)
            blocks.append(ProposedBlock(index=slot, amount=fees, produced=True, source="local", **details))
        return ExecutionFees(
            validator_key=validator.key,
            period=period.identifier,
            total_fees=sum(block.amount for block in blocks),
            blocks_scheduled=len(blocks),
            blocks_produced=sum(1 for block in blocks if block.produced),
            blocks=tuple(blocks),
            validator_index=next(iter(indices), None),
        )
