"""Which adapter class serves which `adapter:` name in providers.yaml, and how to build one.

The transport is the only thing that differs between live calls, recording and replay.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path

import httpx
from django.conf import settings

from ingestion.providers.base import ChainSettings, ProviderAdapter, ProviderSettings
from ingestion.providers.errors import ProviderNotConfigured
from ingestion.providers.http import ProviderClient
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
}
REPLAY_ADAPTER = "replay"


class TransportMode(StrEnum):
    LIVE = "live"
    RECORD = "record"
    REPLAY = "replay"


def recordings_dir(options_dir: str | None = None) -> Path:
    """Recordings root: the replay provider's `recordings_dir` option (relative to the project), else
    the AURORA_RECORDINGS_DIR setting."""
    if options_dir:
        path = Path(options_dir)
        return path if path.is_absolute() else Path(settings.BASE_DIR) / path
    return Path(settings.AURORA_RECORDINGS_DIR)


def build_adapter(
    chain: ChainSettings,
    provider: ProviderSettings,
    *,
    mode: TransportMode = TransportMode.LIVE,
    recordings: Path | None = None,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> ProviderAdapter:
    adapter_class = ADAPTERS.get(provider.adapter)
    if adapter_class is None:
        raise ProviderNotConfigured(
            provider=provider.name, endpoint="-", reason=f"no adapter named {provider.adapter!r}"
        )
    if not provider.base_url and mode is not TransportMode.REPLAY:
        raise ProviderNotConfigured(provider=provider.name, endpoint="-", reason="no base_url configured")
    directory = (recordings or recordings_dir()) / chain.chain_id / provider.name
    key_param = provider.options.get("api_key_param")
    ignored = frozenset({str(key_param)}) if key_param else frozenset()
    if mode is TransportMode.REPLAY:
        transport = ReplayTransport(directory, provider=provider.name, ignored_params=ignored)
    elif mode is TransportMode.RECORD:
        transport = RecordingTransport(
            transport or httpx.HTTPTransport(retries=0), directory, ignored_params=ignored
        )
    client = ProviderClient(
        provider,
        transport=transport,
        sleep=sleep,
        rate_limited=mode is not TransportMode.REPLAY,
        require_credentials=mode is not TransportMode.REPLAY,
    )
    return adapter_class(chain=chain, settings=provider, client=client)


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
