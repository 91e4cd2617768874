"""Which adapter class serves which `adapter:` name in providers.yaml, and how to build one.

The transport is the only thing that differs between live calls, recording and replay.

Some adapters also read other providers ("companions": the Ethereum execution and relay adapters
ask the beacon node which blocks a validator proposed). Their clients are built here like the
adapter's own, on the same transport, so their answers are recorded, replayed and staged with the
adapter's; closing the adapter's client closes them too.

A recorded dataset may carry a `recording.json` next to its providers' directories, naming chain
settings it was recorded under that differ from the configured ones (`period_length_epochs`: the
shipped Ethereum recordings use short windows to stay small); replaying it uses them.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx
from django.conf import settings
from pydantic import ValidationError

from ingestion.providers.base import ChainSettings, ProviderAdapter, ProviderSettings
from ingestion.providers.errors import ProviderNotConfigured
from ingestion.providers.ethereum.beacon import BeaconAdapter
from ingestion.providers.ethereum.common import EthereumAdapter
from ingestion.providers.ethereum.execution import ExecutionAdapter
from ingestion.providers.ethereum.relay import RelayAdapter
from ingestion.providers.http import ProviderClient
from ingestion.providers.options import AdapterOptions, ReplayOptions
from ingestion.providers.recording import RecordingTransport, ReplayTransport
from ingestion.providers.solana.jito import JitoAdapter
from ingestion.providers.solana.rpc import SolanaRpcAdapter
from ingestion.providers.solana.solanabeach import SolanaBeachAdapter
from ingestion.providers.solana.stakewiz import StakewizAdapter

ADAPTERS: dict[str, type[ProviderAdapter]] = {
    "solana.rpc": SolanaRpcAdapter,
    "solana.jito": JitoAdapter,
    "solana.stakewiz": StakewizAdapter,
    "solana.solanabeach": SolanaBeachAdapter,
    "ethereum.beacon": BeaconAdapter,
    "ethereum.execution": ExecutionAdapter,
    "ethereum.relay": RelayAdapter,
}
REPLAY_ADAPTER = "replay"
RECORDING_MANIFEST = "recording.json"
RECORDED_CHAIN_SETTINGS = frozenset({"period_length_epochs"})

logger = logging.getLogger(__name__)


def options_model(adapter: str) -> type[AdapterOptions] | None:
    """The options an `adapter:` name accepts, or None if no adapter has that name."""
    if adapter == REPLAY_ADAPTER:
        return ReplayOptions
    adapter_class = ADAPTERS.get(adapter)
    return adapter_class.Options if adapter_class is not None else None


def provider_spec_problems(adapter: str, options: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(key, problem) for a providers.yaml entry's adapter name and options; [] when usable."""
    model = options_model(adapter)
    if model is None:
        known = ", ".join(sorted([*ADAPTERS, REPLAY_ADAPTER]))
        return [("adapter", f"no adapter named '{adapter}' (known: {known})")]
    try:
        model.model_validate(dict(options))
    except ValidationError as error:
        return [
            (
                ".".join(["options", *(str(part) for part in item["loc"])]),
                "unknown option" if item["type"] == "extra_forbidden" else item["msg"],
            )
            for item in error.errors()
        ]
    return []


class TransportMode(StrEnum):
    LIVE = "live"
    RECORD = "record"
    REPLAY = "replay"


def recordings_dir(options_dir: str | None = None) -> Path:
    """Recordings root: AURORA_RECORDINGS_DIR when set in the environment, else the replay provider's
    `recordings_dir` option (relative to the project), else the AURORA_RECORDINGS_DIR default."""
    if options_dir and not settings.AURORA_RECORDINGS_DIR_FROM_ENV:
        path = Path(options_dir)
        return path if path.is_absolute() else Path(settings.BASE_DIR) / path
    return Path(settings.AURORA_RECORDINGS_DIR)


class _LeadClient(ProviderClient):
    """An adapter's own client; closing it closes the companion clients built for the adapter."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.companions: list[ProviderClient] = []

    def close(self) -> None:
        for companion in self.companions:
            companion.close()
        super().close()


def recording_manifest(root: Path, chain_id: str) -> dict[str, Any]:
    """The `recording.json` of a chain's recordings ({} if there is none)."""
    path = root / chain_id / RECORDING_MANIFEST
    if not path.is_file():
        return {}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ProviderNotConfigured(provider="replay", endpoint="-", reason=f"{path}: {error}") from error
    return manifest if isinstance(manifest, dict) else {}


def recorded_chain(chain: ChainSettings, root: Path) -> ChainSettings:
    """The chain as its recordings were made: the configured settings with those the recording
    names (`chain` in recording.json, e.g. a shorter `period_length_epochs`)."""
    recorded = recording_manifest(root, chain.chain_id).get("chain") or {}
    changes = {name: value for name, value in recorded.items() if name in RECORDED_CHAIN_SETTINGS}
    if not changes:
        return chain
    logger.debug("replaying %s with the recording's settings %s", chain.chain_id, changes)
    return replace(chain, **changes)


def _provider_settings(name: str) -> ProviderSettings:
    from chains.models import Provider  # the registry is also used without a database (recording)

    provider = Provider.objects.filter(provider_name=name, is_enabled=True).first()
    if provider is None:
        raise ProviderNotConfigured(provider=name, endpoint="-", reason="no enabled provider of that name")
    return ProviderSettings.from_model(provider)


def build_adapter(
    chain: ChainSettings,
    provider: ProviderSettings,
    *,
    mode: TransportMode = TransportMode.LIVE,
    recordings: Path | None = None,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
    companions: Mapping[str, ProviderSettings] | None = None,
) -> ProviderAdapter:
    """An adapter for `provider`; `companions` gives the settings of the providers it also reads
    (by name; default: from the database)."""
    adapter_class = ADAPTERS.get(provider.adapter)
    if adapter_class is None:
        raise ProviderNotConfigured(
            provider=provider.name, endpoint="-", reason=f"no adapter named {provider.adapter!r}"
        )
    needs_base_url = getattr(adapter_class, "requires_base_url", True)
    if needs_base_url and not provider.base_url and mode is not TransportMode.REPLAY:
        raise ProviderNotConfigured(provider=provider.name, endpoint="-", reason="no base_url configured")
    root = recordings or recordings_dir()
    directory = root / chain.chain_id / provider.name
    key_param = provider.options.get("api_key_param")
    ignored = frozenset({str(key_param)}) if key_param else frozenset()
    if mode is TransportMode.REPLAY:
        chain = recorded_chain(chain, root)
        transport = ReplayTransport(directory, provider=provider.name, ignored_params=ignored)
    elif mode is TransportMode.RECORD:
        transport = RecordingTransport(
            transport or httpx.HTTPTransport(retries=0), directory, ignored_params=ignored
        )

    def make_client(settings: ProviderSettings, lead: bool = False) -> ProviderClient:
        client_class = _LeadClient if lead else ProviderClient
        return client_class(
            settings,
            transport=transport,
            sleep=sleep,
            rate_limited=mode is not TransportMode.REPLAY,
            require_credentials=mode is not TransportMode.REPLAY,
        )

    client = make_client(provider, lead=True)
    adapter = adapter_class(chain=chain, settings=provider, client=client)
    if isinstance(adapter, EthereumAdapter):
        lead = client
        assert isinstance(lead, _LeadClient)  # noqa: S101 (built just above)

        def make_companion(settings: ProviderSettings) -> ProviderClient:
            companion = make_client(settings)
            lead.companions.append(companion)
            return companion

        names = set(adapter.companion_names().values())
        resolved = {name: (companions or {}).get(name) or _provider_settings(name) for name in names}
        adapter.connect(make_companion, resolved)
    return adapter


def _no_network(request: httpx.Request) -> httpx.Response:
    raise ProviderNotConfigured(
        provider="parser", endpoint=str(request.url.path), reason="a parsing-only adapter makes no calls"
    )


def build_parser(chain: ChainSettings, provider: ProviderSettings) -> ProviderAdapter:
    """An adapter for parsing staged exchanges again (normalization): the same parsing code as the
    fetch, with a transport that refuses any call, and no credentials or rate limit needed."""
    adapter_class = ADAPTERS.get(provider.adapter)
    if adapter_class is None:
        raise ProviderNotConfigured(
            provider=provider.name, endpoint="-", reason=f"no adapter named {provider.adapter!r}"
        )
    client = ProviderClient(
        provider,
        transport=httpx.MockTransport(_no_network),
        rate_limited=False,
        require_credentials=False,
    )
    return adapter_class(chain=chain, settings=provider, client=client)
