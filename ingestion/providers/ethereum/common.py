"""What the Ethereum adapters share: beacon time, companion providers, per-period shared reads.

Companions. An Ethereum item needs more than its own provider: the execution fees of a block need
the beacon block (which slots the validator proposed, which execution block filled them) and the
relays (was the block relay-delivered?); a relay delivery counts only if the beacon block carries
it. An adapter names the providers it also reads in its options (`beacon_provider`,
`relay_provider`); the registry connects it to clients for them built exactly like its own (same
transport: live, recording or replay), so their responses are part of the item's staged payloads
and recorded with the adapter's own.

Shared reads. Proposer duties, slot headers and sync committees are the same for every validator.
An adapter fetches each once per period and gives the same exchange to every validator's item:
the network is asked once, and each item's staged payloads still parse on their own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from ingestion.providers.base import (
    ChainSettings,
    Exchange,
    PeriodInfo,
    ProviderAdapter,
    ProviderSettings,
    ValidatorRef,
)
from ingestion.providers.errors import ProviderBadResponse, ProviderHttpError, ProviderNotConfigured
from ingestion.providers.ethereum.shapes import BLS_PUBKEY
from ingestion.providers.ethereum.windows import BeaconTime, Windows
from ingestion.providers.http import ProviderClient
from ingestion.providers.parsing import validate

ClientFactory = Callable[[ProviderSettings], ProviderClient]


class SharedReads:
    """Exchanges fetched once per period and reused by every validator's item of that period."""

    def __init__(self) -> None:
        self._period: str | None = None
        self._exchanges: dict[str, Exchange] = {}

    def get(self, period: PeriodInfo, request_key: str, fetch: Callable[[], Exchange]) -> Exchange:
        if period.identifier != self._period:
            self._exchanges.clear()
            self._period = period.identifier
        exchange = self._exchanges.get(request_key)
        if exchange is None:
            exchange = self._exchanges[request_key] = fetch()
        return exchange


def get_or_absent(
    client: ProviderClient, path: str, *, scope: str, request_key: str, json: Any = None
) -> Exchange:
    """GET (or POST when `json` is given) that keeps a 404 ("no block in that slot") as an answer:
    an exchange with status 404 and the provider's message, staged like any other, not an error."""
    try:
        if json is not None:
            return client.post(path, json=json, scope=scope, request_key=request_key)
        return client.get(path, scope=scope, request_key=request_key)
    except ProviderHttpError as error:
        if error.status != 404:
            raise
        base = (client.settings.base_url or "").rstrip("/")
        request: dict[str, Any] = {
            "method": "GET" if json is None else "POST",
            "url": f"{base}/{path.lstrip('/')}",
        }
        if json is not None:
            request["body"] = json
        return Exchange(
            request_key=request_key,
            request=request,
            status=404,
            body={"code": 404, "message": error.reason},
            fetched_at=datetime.now(UTC),
            scope=scope,
        )


def is_absent(exchange: Exchange) -> bool:
    """A kept 404 (see `get_or_absent`). Staging keeps bodies, not statuses, so the body tells."""
    body = exchange.body
    return exchange.status == 404 or (
        isinstance(body, dict) and body.get("code") == 404 and "data" not in body
    )


class EthereumAdapter(ProviderAdapter):
    """Base of the Ethereum adapters: beacon time from the chain's parameters, validator keys
    checked, companion providers connected by the registry."""

    chain_family = "ethereum"
    requires_base_url: ClassVar[bool] = True
    # option naming another provider this adapter reads -> the provider used when the option is unset
    companion_options: ClassVar[Mapping[str, str]] = {}

    def __init__(self, *, chain: ChainSettings, settings: ProviderSettings, client: ProviderClient) -> None:
        super().__init__(chain=chain, settings=settings, client=client)
        self.time = BeaconTime.from_parameters(chain.parameters)
        self.shared = SharedReads()
        self._make_client: ClientFactory | None = None

    # ---- companions --------------------------------------------------------------------------

    def companion_names(self) -> dict[str, str]:
        """Option -> provider name of every companion this adapter reads (an option set to null
        or false: none)."""
        names = {}
        for option, default in self.companion_options.items():
            value = self.settings.options.get(option, default)
            if value:
                names[option] = str(value)
        return names

    def connect(self, make_client: ClientFactory, companions: Mapping[str, ProviderSettings]) -> None:
        """Called by the registry with a factory for clients on this adapter's transport and the
        settings of each companion provider (keyed by provider name)."""
        self._make_client = make_client
        self.connected(companions)

    def companion(self, companions: Mapping[str, ProviderSettings], option: str) -> ProviderSettings:
        name = self.companion_names().get(option)
        if not name or name not in companions:
            raise ProviderNotConfigured(
                provider=self.settings.name, endpoint="-", reason=f"options.{option} names no provider"
            )
        return companions[name]

    def connected(self, companions: Mapping[str, ProviderSettings]) -> None:
        """Build the companion clients (subclasses)."""

    def make_client(self, settings: ProviderSettings) -> ProviderClient:
        if self._make_client is None:
            raise self.not_connected()
        return self._make_client(settings)

    def not_connected(self) -> ProviderNotConfigured:
        return ProviderNotConfigured(
            provider=self.settings.name,
            endpoint="-",
            reason="not connected to its companion providers (an adapter built for parsing only)",
        )

    # ---- helpers -----------------------------------------------------------------------------

    def windows(self) -> Windows:
        if not self.chain.period_length_epochs:
            raise ProviderNotConfigured(
                provider=self.settings.name,
                endpoint="-",
                reason=f"{self.chain.chain_id} has no period_length_epochs",
            )
        return Windows(self.chain.period_length_epochs, self.chain.finality_lag, self.time)

    def pubkey(self, validator: ValidatorRef) -> str:
        key = validator.key.lower()
        if not BLS_PUBKEY.match(key):
            raise ProviderNotConfigured(
                provider=self.settings.name,
                endpoint="-",
                reason=f"{validator.key!r} is not an Ethereum validator public key (0x and 96 hex digits)",
            )
        return key

    def scope(self, period: PeriodInfo, *parts: str) -> str:
        return "/".join([period.identifier, *parts])

    def exchange(self, exchanges: Sequence[Exchange], request_key: str) -> Exchange:
        """The exchange with this request key; ProviderBadResponse if it is not there."""
        return self._exchange(exchanges, request_key)

    def bad(self, endpoint: str, reason: str) -> ProviderBadResponse:
        return ProviderBadResponse(provider=self.settings.name, endpoint=endpoint, reason=reason)

    def body(self, shape: Any, exchange: Exchange, endpoint: str, *, final: bool = True) -> Any:
        """The exchange's body validated against `shape`; a beacon answer for a final window must not
        be optimistic nor say it is not finalized."""
        value = validate(shape, exchange.body, provider=self.settings.name, endpoint=endpoint)
        if final:
            if getattr(value, "execution_optimistic", None) is True:
                raise self.bad(endpoint, "the node answered optimistically (execution not verified)")
            if getattr(value, "finalized", None) is False:
                raise self.bad(endpoint, "the node does not consider this data finalized yet")
        return value
