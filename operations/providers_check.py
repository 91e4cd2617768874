"""Can the configured providers be used right now? One cheap call per provider of the active chains.

Each probe is the adapter's own (`ProviderAdapter.probe`) and goes through its HTTP client
(`ingestion.providers.http`), so it meets the same base URL, API key, timeout, rate limit and
circuit breaker as ingestion does; it makes one attempt (no retries) unless told otherwise, and
checks the answer's shape with the adapter's own response models. Probes run concurrently;
nothing is written to the database.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum

import httpx
from django.db import connections

from chains.models import Chain, ChainProviderMapping, Provider, ValidatorIdentity
from ingestion.providers.base import ChainSettings, ProviderAdapter, ProviderSettings, ValidatorRef
from ingestion.providers.errors import ProviderError, ProviderNotConfigured
from ingestion.providers.registry import ADAPTERS, REPLAY_ADAPTER, build_adapter

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 10.0


class ProviderCheckError(ValueError):
    """The check cannot run as asked (an unknown or inactive chain)."""


class ProbeStatus(StrEnum):
    OK = "ok"
    FAILED = "failed"  # no usable answer: unreachable, timed out, an error status, the wrong shape
    NOT_CONFIGURED = "not configured"  # no adapter, no base URL, a required API key missing
    SKIPPED = "skipped"  # disabled, replayed recordings, or nothing to ask about


USABLE = frozenset({ProbeStatus.OK, ProbeStatus.SKIPPED})


@dataclass(frozen=True)
class ProbeResult:
    chain_id: str
    provider: str
    adapter: str
    roles: tuple[str, ...]
    status: ProbeStatus
    detail: str
    latency_ms: float | None = None
    endpoint: str = ""

    @property
    def usable(self) -> bool:
        return self.status in USABLE


@dataclass
class _Target:
    chain: Chain
    provider: Provider
    roles: tuple[str, ...]
    validator: ValidatorRef | None


def _chains(chain_ids: Sequence[str]) -> list[Chain]:
    if not chain_ids:
        return list(Chain.objects.filter(is_active=True).order_by("pk"))
    chains = {chain.pk: chain for chain in Chain.objects.filter(pk__in=chain_ids)}
    for chain_id in chain_ids:
        if chain_id not in chains:
            raise ProviderCheckError(f"unknown chain {chain_id!r}")
        if not chains[chain_id].is_active:
            raise ProviderCheckError(f"{chain_id} is not active")
    return [chains[chain_id] for chain_id in dict.fromkeys(chain_ids)]


def _targets(chains: Sequence[Chain]) -> list[_Target]:
    mappings = (
        ChainProviderMapping.objects.filter(chain__in=chains, is_active=True)
        .select_related("provider")
        .order_by("chain_id", "priority", "provider_role")
    )
    validators: dict[str, ValidatorRef] = {}
    for identity in ValidatorIdentity.objects.filter(chain__in=chains, is_active=True).order_by(
        "validator_key"
    ):
        validators.setdefault(identity.chain_id, ValidatorRef(identity.validator_key, identity.node_pubkey))
    by_key: dict[tuple[str, str], _Target] = {}
    chain_of = {chain.pk: chain for chain in chains}
    for mapping in mappings:
        key = (mapping.chain_id, mapping.provider.provider_name)
        target = by_key.get(key)
        if target is None:
            by_key[key] = _Target(
                chain_of[mapping.chain_id],
                mapping.provider,
                (mapping.provider_role,),
                validators.get(mapping.chain_id),
            )
        elif mapping.provider_role not in target.roles:
            target.roles = (*target.roles, mapping.provider_role)
    return sorted(by_key.values(), key=lambda t: (t.chain.pk, t.provider.provider_name))


def _result(
    target: _Target,
    status: ProbeStatus,
    detail: str,
    *,
    latency_ms: float | None = None,
    endpoint: str = "",
) -> ProbeResult:
    return ProbeResult(
        chain_id=target.chain.pk,
        provider=target.provider.provider_name,
        adapter=target.provider.adapter,
        roles=target.roles,
        status=status,
        detail=detail,
        latency_ms=latency_ms,
        endpoint=endpoint,
    )


@dataclass
class _Prepared:
    """A target with its adapter built (in the calling thread: building may read the database),
    ready to be probed on a pool thread; or the result already known."""

    target: _Target
    adapter: ProviderAdapter | None = None
    endpoint: str = ""
    result: ProbeResult | None = None


def _prepare(
    target: _Target, *, timeout: float, attempts: int, transport: httpx.BaseTransport | None
) -> _Prepared:
    provider = target.provider
    if not provider.is_enabled:
        return _Prepared(target, result=_result(target, ProbeStatus.SKIPPED, "disabled in providers.yaml"))
    if provider.adapter == REPLAY_ADAPTER:
        return _Prepared(
            target, result=_result(target, ProbeStatus.SKIPPED, "recorded responses; no network")
        )
    if provider.adapter not in ADAPTERS:
        reason = f"no adapter named {provider.adapter!r}"
        return _Prepared(target, result=_result(target, ProbeStatus.NOT_CONFIGURED, reason))
    endpoint = ADAPTERS[provider.adapter].probe_call
    if endpoint is None:
        reason = f"no probe for the {provider.adapter} adapter"
        return _Prepared(target, result=_result(target, ProbeStatus.SKIPPED, reason))
    configured = ProviderSettings.from_model(provider)
    settings = dataclasses.replace(
        configured,
        timeout_seconds=min(configured.timeout_seconds, timeout),
        options={**configured.options, "max_attempts": attempts},
    )
    try:  # companions (Ethereum) are read from the database here, in the caller's thread
        adapter = build_adapter(ChainSettings.from_model(target.chain), settings, transport=transport)
    except ProviderError as error:
        status = (
            ProbeStatus.NOT_CONFIGURED if isinstance(error, ProviderNotConfigured) else ProbeStatus.FAILED
        )
        return _Prepared(target, result=_result(target, status, error.reason, endpoint=endpoint))
    return _Prepared(target, adapter=adapter, endpoint=endpoint)


def _run(prepared: _Prepared) -> ProbeResult:
    """The adapter's probe: HTTP only, no database."""
    if prepared.result is not None:
        return prepared.result
    assert prepared.adapter is not None  # noqa: S101 (set by _prepare)
    target, endpoint, adapter = prepared.target, prepared.endpoint, prepared.adapter
    started = time.perf_counter()
    try:
        outcome = adapter.probe(target.validator)
    except ProviderNotConfigured as error:
        return _result(target, ProbeStatus.NOT_CONFIGURED, error.reason, endpoint=endpoint)
    except ProviderError as error:
        latency = (time.perf_counter() - started) * 1000
        reason = f"{error.endpoint}: {error.reason}"
        return _result(target, ProbeStatus.FAILED, reason, latency_ms=latency, endpoint=endpoint)
    except Exception as error:  # a probe never takes the whole check down
        logger.exception("probe of %s failed unexpectedly", target.provider.provider_name)
        return _result(target, ProbeStatus.FAILED, f"{type(error).__name__}: {error}", endpoint=endpoint)
    finally:
        adapter.client.close()
    if outcome.skipped:
        return _result(target, ProbeStatus.SKIPPED, outcome.detail, endpoint=endpoint)
    latency = (time.perf_counter() - started) * 1000
    return _result(target, ProbeStatus.OK, outcome.detail, latency_ms=latency, endpoint=endpoint)


def check_providers(
    *,
    chain_ids: Sequence[str] = (),
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    attempts: int = 1,
    transport: httpx.BaseTransport | None = None,
) -> list[ProbeResult]:
    """Probe every provider mapped to the chains (default: the active ones), one result per
    (chain, provider). `transport` replaces the network (tests)."""
    if timeout <= 0 or attempts < 1:
        raise ProviderCheckError("the timeout must be positive and at least one attempt made")
    prepared = [
        _prepare(target, timeout=timeout, attempts=attempts, transport=transport)
        for target in _targets(_chains(chain_ids))
    ]
    if not prepared:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(prepared)), thread_name_prefix="provider-check") as pool:
        return list(pool.map(_run, prepared))


def render_table(results: Iterable[ProbeResult]) -> str:
    """The results as an aligned text table, one provider per row."""
    header = ("chain", "provider", "roles", "status", "latency", "call", "detail")
    rows = [
        (
            r.chain_id,
            r.provider,
            ",".join(r.roles),
            r.status.value,
            "-" if r.latency_ms is None else f"{r.latency_ms:,.0f} ms",
            r.endpoint or "-",
            r.detail,
        )
        for r in results
    ]
    widths = [max(len(str(row[i])) for row in (header, *rows)) for i in range(len(header) - 1)]

    def line(row: Sequence[str]) -> str:
        cells = [str(cell).ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        return "  ".join([*cells, row[-1]]).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths] + ["-" * 6]), *map(line, rows)])


def log_provider_problems(*, transport: httpx.BaseTransport | None = None) -> list[ProbeResult]:
    """The check as the worker runs it when it starts: problems are warnings, never errors."""
    try:
        results = check_providers(transport=transport)
    except Exception:
        logger.warning("the provider check could not run", exc_info=True)
        return []
    for result in results:
        if not result.usable:
            logger.warning(
                "provider %s (%s, %s) cannot be used: %s: %s",
                result.provider,
                result.chain_id,
                ",".join(result.roles),
                result.status.value,
                result.detail,
            )
    if results and all(result.usable for result in results):
        logger.info("provider check: all %d provider(s) of the active chains answered", len(results))
    return results


def check_providers_in_background() -> threading.Thread:
    """`log_provider_problems` on a thread of its own, so a slow provider never delays the caller
    (the Celery worker starting to take tasks); the thread closes its database connection."""

    def run() -> None:
        try:
            log_provider_problems()
        finally:
            connections.close_all()  # this thread's connections only

    thread = threading.Thread(target=run, name="aurora-provider-check", daemon=True)
    thread.start()
    return thread
