"""Beacon reads every Ethereum item needs: the validator's proposer duties in a window, whether
each duty slot got a block, and the block itself.

A slot's block is first looked up with `GET /eth/v1/beacon/headers?slot=`: an empty list (HTTP 200)
is the evidence of a missed slot, kept with the item's payloads. Only slots with a canonical header
are asked for their block; a 404 there is kept as a missed slot too.

The beacon adapter uses this with its own client; the execution and relay adapters with a client
for their `beacon_provider`, their request keys prefixed `beacon/`.
"""

from __future__ import annotations

from collections.abc import Sequence

from ingestion.providers.base import Exchange, PeriodInfo, named
from ingestion.providers.ethereum.common import EthereumAdapter, get_or_absent, is_absent
from ingestion.providers.ethereum.shapes import (
    BlockV2Body,
    HeaderEntry,
    HeadersBody,
    ProposerDutiesBody,
    ProposerDuty,
    SignedBeaconBlock,
)
from ingestion.providers.ethereum.windows import period_epochs
from ingestion.providers.http import ProviderClient

DUTIES = "GET /eth/v1/validator/duties/proposer/{epoch}"
HEADERS = "GET /eth/v1/beacon/headers?slot="
BLOCK = "GET /eth/v2/beacon/blocks/{block_id}"


class BeaconReader:
    def __init__(self, adapter: EthereumAdapter, client: ProviderClient | None, prefix: str = "") -> None:
        self.adapter = adapter
        self._client = client
        self.prefix = prefix

    @property
    def client(self) -> ProviderClient:
        if self._client is None:
            raise self.adapter.not_connected()
        return self._client

    def _shared_get(
        self, period: PeriodInfo, request_key: str, path: str, params: dict[str, int] | None = None
    ) -> Exchange:
        def fetch() -> Exchange:
            return self.client.get(path, params=params, scope=period.identifier, request_key=request_key)

        return self.adapter.shared.get(period, request_key, fetch)

    # ---- request keys --------------------------------------------------------------------------

    def duties_key(self, epoch: int) -> str:
        return f"{self.prefix}proposer-duties/{epoch}"

    def header_key(self, slot: int) -> str:
        return f"{self.prefix}header/{slot}"

    def block_key(self, slot: int) -> str:
        return f"{self.prefix}block/{slot}"

    # ---- fetching ------------------------------------------------------------------------------

    def fetch_duties(self, period: PeriodInfo) -> list[Exchange]:
        """Proposer duties of every epoch of the window (shared by all validators of the period)."""
        return [
            self._shared_get(period, self.duties_key(epoch), f"/eth/v1/validator/duties/proposer/{epoch}")
            for epoch in period_epochs(period)
        ]

    def fetch_header(self, period: PeriodInfo, slot: int) -> Exchange:
        return self._shared_get(period, self.header_key(slot), "/eth/v1/beacon/headers", {"slot": slot})

    def fetch_block(self, slot: int, scope: str) -> Exchange:
        return get_or_absent(
            self.client, f"/eth/v2/beacon/blocks/{slot}", scope=scope, request_key=self.block_key(slot)
        )

    def fetch_slot_blocks(
        self, period: PeriodInfo, slots: Sequence[int], scope: str
    ) -> tuple[dict[int, SignedBeaconBlock | None], list[Exchange]]:
        """For each slot: its header, then its block when it has one; None for a missed slot."""
        exchanges: list[Exchange] = []
        blocks: dict[int, SignedBeaconBlock | None] = {}
        for slot in slots:
            header_exchange = self.fetch_header(period, slot)
            exchanges.append(header_exchange)
            if self.header(header_exchange, slot) is None:
                blocks[slot] = None
                continue
            block_exchange = self.fetch_block(slot, scope)
            exchanges.append(block_exchange)
            blocks[slot] = self.block(block_exchange, slot)
        return blocks, exchanges

    # ---- parsing -------------------------------------------------------------------------------

    def duties(self, exchanges: Sequence[Exchange], period: PeriodInfo, pubkey: str) -> list[ProposerDuty]:
        """The validator's duties in the window, by slot; every epoch's answer must be present."""
        found: list[ProposerDuty] = []
        for epoch in period_epochs(period):
            exchange = self.adapter.exchange(exchanges, self.duties_key(epoch))
            body: ProposerDutiesBody = self.adapter.body(ProposerDutiesBody, exchange, DUTIES)
            first, last = self.adapter.time.first_slot(epoch), self.adapter.time.last_slot(epoch)
            for duty in body.data:
                if not first <= duty.slot <= last:
                    raise self.adapter.bad(
                        DUTIES, f"a duty for slot {duty.slot} in the answer for epoch {epoch}"
                    )
                if duty.pubkey.lower() == pubkey:
                    found.append(duty)
        return sorted(found, key=lambda duty: duty.slot)

    def header(self, exchange: Exchange, slot: int) -> HeaderEntry | None:
        """The slot's canonical header, or None when the slot has no (canonical) block."""
        body: HeadersBody = self.adapter.body(HeadersBody, exchange, HEADERS)
        canonical = [entry for entry in body.data if entry.canonical]
        if any(entry.header.message.slot != slot for entry in body.data):
            raise self.adapter.bad(HEADERS, f"a header of another slot in the answer for slot {slot}")
        if len(canonical) > 1:
            raise self.adapter.bad(HEADERS, f"{len(canonical)} canonical headers for slot {slot}")
        return canonical[0] if canonical else None

    def block(self, exchange: Exchange, slot: int) -> SignedBeaconBlock | None:
        if is_absent(exchange):
            return None
        body: BlockV2Body = self.adapter.body(BlockV2Body, exchange, BLOCK)
        if body.data.message.slot != slot:
            raise self.adapter.bad(
                BLOCK, f"the block of slot {body.data.message.slot} where {slot} was asked"
            )
        return body.data

    def slot_block(
        self, exchanges: Sequence[Exchange], slot: int, proposer_index: int | None = None
    ) -> SignedBeaconBlock | None:
        """The canonical block of a slot from staged exchanges (None: missed), checked against the
        header and, when given, the expected proposer."""
        header = self.header(self.adapter.exchange(exchanges, self.header_key(slot)), slot)
        if header is None:
            return None
        if proposer_index is not None and header.header.message.proposer_index != proposer_index:
            raise self.adapter.bad(
                HEADERS,
                f"slot {slot} was proposed by validator {header.header.message.proposer_index}, "
                f"not by {proposer_index} as the duties said",
            )
        block_exchange = named(exchanges, self.block_key(slot))
        if block_exchange is None:
            raise self.adapter.bad(BLOCK, f"the block of slot {slot} was not fetched")
        block = self.block(block_exchange, slot)
        if block is not None and block.message.proposer_index != header.header.message.proposer_index:
            raise self.adapter.bad(
                BLOCK, f"the block of slot {slot} disagrees with its header on the proposer"
            )
        return block
