"""MEV-Boost relays (Data API): the payloads relays delivered to the validator, and their value.

`GET {relay}/relay/v1/data/bidtraces/proposer_payload_delivered?proposer_pubkey=&cursor=&limit=`
is asked of every relay configured under the provider's `relays` option (its own URL and page
limit: 200 on Flashbots-style relays, 100 on bloXroute's), newest first from the window's last
slot, a page at a time (cursor = lowest slot seen - 1) until the window's first slot is passed.

Rows are de-duplicated by block hash (a builder sends the same block to several relays) and kept
only when canonical: the beacon block of that slot (asked of the `beacon_provider`) carries that
execution block hash. A delivered payload whose slot is empty or holds another block earns
nothing, and says why. The validator's MEV is the sum of the canonical deliveries' `value` (wei).

Each relay has its own client (rate limit and circuit breaker), named `<provider>:<relay>`; its
answers are recorded and replayed under the scope `<period>/<relay>`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Annotated
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ingestion.models import DataType
from ingestion.providers.base import (
    PROBE_SCOPE,
    ChainSettings,
    Exchange,
    Fetched,
    PeriodInfo,
    ProbeOutcome,
    ProviderSettings,
    ValidatorMev,
    ValidatorRef,
    numbered,
)
from ingestion.providers.errors import ProviderBadResponse, ProviderError, ProviderNotConfigured
from ingestion.providers.ethereum.common import EthereumAdapter
from ingestion.providers.ethereum.consensus import BeaconReader
from ingestion.providers.ethereum.shapes import BidTrace
from ingestion.providers.ethereum.values import RelayDelivery, RelayMev
from ingestion.providers.http import ProviderClient
from ingestion.providers.options import ClientOptions, Companion
from ingestion.providers.parsing import validate

PAYLOADS = "/relay/v1/data/bidtraces/proposer_payload_delivered"
ENDPOINT = f"GET {PAYLOADS}"
DEFAULT_PAGE_LIMIT = 100
MAX_PAGES = 100
NO_BLOCK = "not included: the slot has no block"


class RelayEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: Annotated[str, StringConstraints(pattern=r"^https?://[^/?#\s]+", max_length=500)]
    page_limit: Annotated[int, Field(strict=True, ge=1, le=1000)] = DEFAULT_PAGE_LIMIT
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None


class RelayOptions(ClientOptions):
    beacon_provider: Companion = "beacon-api"
    relays: Annotated[list[RelayEntry], Field(min_length=1)]


@dataclass(frozen=True)
class RelayEndpoint:
    name: str
    url: str
    page_limit: int


@dataclass(frozen=True)
class Relay:
    endpoint: RelayEndpoint
    client: ProviderClient

    @property
    def name(self) -> str:
        return self.endpoint.name


def relay_endpoints(settings: ProviderSettings) -> list[RelayEndpoint]:
    """The relays of a relay provider's `relays` option: `{url, page_limit?, name?}` each."""
    configured = settings.options.get("relays")
    if not isinstance(configured, list) or not configured:
        raise ProviderNotConfigured(
            provider=settings.name, endpoint="-", reason="no relays configured (options.relays)"
        )
    endpoints = []
    for entry in configured:
        url = entry.get("url") if isinstance(entry, dict) else None
        host = urlparse(url).hostname if isinstance(url, str) else None
        if not isinstance(url, str) or not url.startswith(("https://", "http://")) or not host:
            raise ProviderNotConfigured(
                provider=settings.name, endpoint="-", reason=f"bad relay entry {entry!r}"
            )
        limit = entry.get("page_limit", DEFAULT_PAGE_LIMIT)
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 1000:
            raise ProviderNotConfigured(
                provider=settings.name, endpoint="-", reason=f"bad page_limit for {url}"
            )
        endpoints.append(
            RelayEndpoint(name=str(entry.get("name") or host), url=url.rstrip("/"), page_limit=limit)
        )
    names = [endpoint.name for endpoint in endpoints]
    if len(set(names)) != len(names):
        raise ProviderNotConfigured(provider=settings.name, endpoint="-", reason="two relays share a name")
    return endpoints


def relay_settings(provider: ProviderSettings, endpoint: RelayEndpoint) -> ProviderSettings:
    """One relay as a provider of its own: its URL, the provider's limits, a name for its breaker."""
    options = {key: value for key, value in provider.options.items() if key != "relays"}
    return replace(provider, name=f"{provider.name}:{endpoint.name}", base_url=endpoint.url, options=options)


def connect_relays(adapter: EthereumAdapter, provider: ProviderSettings) -> list[Relay]:
    return [
        Relay(endpoint, adapter.make_client(relay_settings(provider, endpoint)))
        for endpoint in relay_endpoints(provider)
    ]


def slot_key(relay: str, slot: int) -> str:
    return f"relay/{relay}/slot/{slot}"


def page_key(relay: str, page: int) -> str:
    return f"relay/{relay}#{page:04d}"


def bid_traces(adapter: EthereumAdapter, exchange: Exchange) -> list[BidTrace]:
    rows: list[BidTrace] = validate(
        list[BidTrace], exchange.body, provider=adapter.settings.name, endpoint=ENDPOINT
    )
    return rows


def fetch_by_slot(adapter: EthereumAdapter, relay: Relay, period: PeriodInfo, slot: int) -> Exchange:
    return relay.client.get(
        PAYLOADS,
        params={"slot": slot},
        scope=adapter.scope(period, relay.name),
        request_key=slot_key(relay.name, slot),
    )


def delivering_relays(
    exchanges: Sequence[Exchange], adapter: EthereumAdapter, slot: int, block_hash: str
) -> tuple[str, ...]:
    """Relays whose by-slot answer (`relay/<name>/slot/<slot>`) delivered exactly this block."""
    found = []
    suffix = f"/slot/{slot}"
    for exchange in exchanges:
        key = exchange.request_key
        if not (key.startswith("relay/") and key.endswith(suffix)):
            continue
        name = key[len("relay/") : -len(suffix)]
        for row in bid_traces(adapter, exchange):
            if row.slot != slot:
                raise adapter.bad(ENDPOINT, f"{name} answered about slot {row.slot} when asked for {slot}")
            if row.block_hash.lower() == block_hash.lower():
                found.append(name)
    return tuple(sorted(set(found)))


class RelayAdapter(EthereumAdapter):
    supplies = frozenset({DataType.MEV})
    requires_base_url = False
    companion_options = {"beacon_provider": "beacon-api"}
    Options = RelayOptions
    probe_call = f"GET {PAYLOADS} per relay"

    def __init__(self, *, chain: ChainSettings, settings: ProviderSettings, client: ProviderClient) -> None:
        super().__init__(chain=chain, settings=settings, client=client)
        self.beacon = BeaconReader(self, None, prefix="beacon/")
        self.relays: list[Relay] = []

    def connected(self, companions: Mapping[str, ProviderSettings]) -> None:
        beacon = self.companion(companions, "beacon_provider")
        self.beacon = BeaconReader(self, self.make_client(beacon), prefix="beacon/")
        self.relays = connect_relays(self, self.settings)

    def probe(self, validator: ValidatorRef | None) -> ProbeOutcome:
        """The newest delivered payload of every configured relay."""
        if not self.relays:
            raise ProviderNotConfigured(
                provider=self.settings.name, endpoint="-", reason="no relays configured"
            )
        failed = []
        for relay in self.relays:
            try:
                exchange = relay.client.get(
                    PAYLOADS, params={"limit": 1}, scope=PROBE_SCOPE, request_key="probe"
                )
                bid_traces(self, exchange)
            except ProviderError as error:
                failed.append(f"{relay.name}: {error.reason}")
        if failed:
            raise ProviderBadResponse(
                provider=self.settings.name,
                endpoint=ENDPOINT,
                reason=f"{len(failed)} of {len(self.relays)} relays failed: {'; '.join(failed)}",
            )
        return ProbeOutcome(f"all {len(self.relays)} relays answered")

    def fetch_mev(self, period: PeriodInfo, validator: ValidatorRef) -> Fetched[ValidatorMev]:
        """The value is a RelayMev."""
        pubkey = self.pubkey(validator)
        if not self.relays:
            raise self.not_connected()
        exchanges: list[Exchange] = []
        for relay in self.relays:
            exchanges.extend(self._pages(relay, period, pubkey))
        slots = sorted(
            {row.slot for rows in self._rows_by_relay(exchanges, period, pubkey).values() for row in rows}
        )
        _, beacon = self.beacon.fetch_slot_blocks(period, slots, self.scope(period, pubkey))
        exchanges.extend(beacon)
        return Fetched(self.parse_mev(exchanges, period, validator), exchanges)

    def _pages(self, relay: Relay, period: PeriodInfo, pubkey: str) -> list[Exchange]:
        first_slot = self.time.first_slot(period.first_index)
        cursor = self.time.last_slot(period.last_index)
        pages = []
        for page in range(MAX_PAGES):
            exchange = relay.client.get(
                PAYLOADS,
                params={"proposer_pubkey": pubkey, "cursor": cursor, "limit": relay.endpoint.page_limit},
                scope=self.scope(period, relay.name),
                request_key=page_key(relay.name, page),
            )
            pages.append(exchange)
            rows = bid_traces(self, exchange)
            if any(row.slot > cursor for row in rows):
                raise self.bad(ENDPOINT, f"{relay.name} answered with slots after the cursor {cursor}")
            if len(rows) < relay.endpoint.page_limit:
                return pages
            lowest = min(row.slot for row in rows)
            if lowest <= first_slot:
                return pages
            cursor = lowest - 1
        raise self.bad(ENDPOINT, f"{relay.name}: more than {MAX_PAGES} pages for one window")

    def _rows_by_relay(
        self, exchanges: Sequence[Exchange], period: PeriodInfo, pubkey: str
    ) -> dict[str, list[BidTrace]]:
        """Each relay's rows for the window, from its pages (`relay/<name>#NNNN`)."""
        first_slot = self.time.first_slot(period.first_index)
        last_slot = self.time.last_slot(period.last_index)
        names = sorted(
            {
                exchange.request_key[len("relay/") :].split("#")[0]
                for exchange in exchanges
                if exchange.request_key.startswith("relay/") and "#" in exchange.request_key
            }
        )
        rows: dict[str, list[BidTrace]] = {}
        for name in names:
            rows[name] = []
            for exchange in numbered(exchanges, f"relay/{name}"):
                for row in bid_traces(self, exchange):
                    if row.proposer_pubkey.lower() != pubkey:
                        raise self.bad(ENDPOINT, f"{name} answered with a payload of another proposer")
                    if first_slot <= row.slot <= last_slot:
                        rows[name].append(row)
        return rows

    def parse_mev(self, exchanges: list[Exchange], period: PeriodInfo, validator: ValidatorRef) -> RelayMev:
        pubkey = self.pubkey(validator)
        grouped: dict[str, dict[str, BidTrace]] = {}  # block hash -> relay -> row
        for name, rows in self._rows_by_relay(exchanges, period, pubkey).items():
            for row in rows:
                grouped.setdefault(row.block_hash.lower(), {})[name] = row
        deliveries = [
            self._delivery(block_hash, by_relay, exchanges) for block_hash, by_relay in grouped.items()
        ]
        deliveries.sort(key=lambda delivery: (delivery.slot, delivery.block_hash))
        canonical = [delivery for delivery in deliveries if delivery.canonical]
        return RelayMev(
            validator_key=validator.key,
            period=period.identifier,
            total_tips=sum(delivery.value for delivery in canonical),
            commission_bps=10_000,
            tip_count=len(canonical),
            running_mev_client=bool(canonical),
            deliveries=tuple(deliveries),
        )

    def _delivery(
        self, block_hash: str, by_relay: dict[str, BidTrace], exchanges: Sequence[Exchange]
    ) -> RelayDelivery:
        rows = list(by_relay.values())
        first = rows[0]
        if any((row.slot, row.block_number) != (first.slot, first.block_number) for row in rows):
            raise self.bad(ENDPOINT, f"relays disagree on the slot of block {block_hash}")
        block = self.beacon.slot_block(exchanges, first.slot)
        canonical, reason = False, NO_BLOCK
        if block is not None:
            payload = block.message.body.execution_payload
            if payload is None:
                raise self.bad(
                    "GET /eth/v2/beacon/blocks/{block_id}", f"block {first.slot} has no execution payload"
                )
            canonical = payload.block_hash.lower() == block_hash
            reason = "" if canonical else f"not included: the slot's block is {payload.block_hash.lower()}"
        values = tuple(sorted((name, row.value) for name, row in by_relay.items()))
        return RelayDelivery(
            slot=first.slot,
            block_number=first.block_number,
            block_hash=block_hash,
            value=min(value for _, value in values),
            proposer_fee_recipient=first.proposer_fee_recipient.lower(),
            builder_pubkey=first.builder_pubkey.lower(),
            relays=tuple(name for name, _ in values),
            relay_values=values,
            canonical=canonical,
            reason=reason,
        )
