"""The ingestion orchestrator: fetch every final period's data for the operator's validators and
stage the raw responses.

Work is split into items, one per (validator, provider, data type). An item's responses are
staged in one transaction, so an item is either wholly staged or absent; a re-run skips staged
items and fetches the rest. That makes a crash or a kill midway harmless: running again leaves
exactly the rows one clean run leaves. A PostgreSQL advisory lock per (chain, period) keeps two
runs of the same period apart, and lets a new run recognise a run left RUNNING by a dead process.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
from django.db import transaction
from django.utils import timezone

from accounts.audit import audit_run
from accounts.models import AuditAction
from aurora.common.locks import advisory_lock
from chains.models import Chain, ChainProviderMapping, Period, Provider, ProviderRole, ValidatorIdentity
from ingestion.models import DataType, IngestionRun, IngestionStatus, StagingPayload
from ingestion.providers.base import (
    ChainHead,
    ChainSettings,
    PeriodInfo,
    ProviderAdapter,
    ProviderSettings,
    ValidatorRef,
)
from ingestion.providers.errors import ProviderError
from ingestion.providers.registry import (
    ADAPTERS,
    REPLAY_ADAPTER,
    TransportMode,
    build_adapter,
    recordings_dir,
)
from ingestion.staging import Stager, StagingJob

logger = logging.getLogger(__name__)

ROLE_DATA_TYPES: dict[str, DataType] = {
    ProviderRole.FEES: DataType.FEES,
    ProviderRole.MEV: DataType.MEV,
    ProviderRole.REWARDS: DataType.REWARDS,
    ProviderRole.META: DataType.META,
}
MAX_RECORDED_FAILURES = 200


class IngestionError(Exception):
    """The request cannot be carried out as asked (unknown chain or validator, bad range)."""


@dataclass(frozen=True)
class Item:
    validator: ValidatorRef
    provider: Provider
    data_type: DataType

    def describe(self) -> dict[str, str]:
        return {
            "validator": self.validator.key,
            "provider": self.provider.provider_name,
            "data_type": str(self.data_type),
        }


@dataclass(frozen=True)
class ItemOutcome:
    period: str
    item: Item
    status: str  # staged | skipped | failed
    exchanges: int = 0
    error: dict[str, str] | None = None


@dataclass
class IngestOptions:
    """How to reach the providers: live, recording, or replaying recorded responses."""

    mode: TransportMode = TransportMode.LIVE
    recordings: Path | None = None
    transports: Mapping[str, httpx.BaseTransport] = field(default_factory=dict)
    sleep: Callable[[float], None] = time.sleep
    on_item: Callable[[ItemOutcome], None] | None = None
    on_period: Callable[[IngestionRun], None] | None = None


@dataclass
class IngestPlan:
    chain: Chain
    validators: list[ValidatorRef]
    providers: dict[DataType, list[Provider]]
    period_provider: Provider

    def items(self) -> list[Item]:
        return [
            Item(validator, provider, data_type)
            for validator in self.validators
            for data_type, providers in self.providers.items()
            for provider in providers
        ]


# ---- planning -----------------------------------------------------------------------------------


def ingest_plan(
    *, chain_id: str, validator_keys: Sequence[str] = (), provider_names: Sequence[str] = ()
) -> IngestPlan:
    """Validators and providers for a chain, checked before anything is fetched."""
    chain = Chain.objects.filter(pk=chain_id).first()
    if chain is None:
        raise IngestionError(f"unknown chain {chain_id!r}; run `manage.py sync_registry` first")
    if not chain.is_active:
        raise IngestionError(f"chain {chain_id} is not active (is_active: false in chains.yaml)")
    identities = ValidatorIdentity.objects.filter(chain=chain, is_active=True).order_by("validator_key")
    if validator_keys:
        identities = identities.filter(validator_key__in=validator_keys)
        unknown = sorted(set(validator_keys) - {v.validator_key for v in identities})
        if unknown:
            raise IngestionError(f"not validators of the operator on {chain_id}: {', '.join(unknown)}")
    validators = [
        ValidatorRef(key=v.validator_key, node_pubkey=v.node_pubkey or v.identity_pubkey) for v in identities
    ]
    if not validators:
        raise IngestionError(
            f"no active validators registered for {chain_id}; see `manage.py register_validators`"
        )

    mappings = list(
        ChainProviderMapping.objects.filter(chain=chain, is_active=True, provider__is_enabled=True)
        .select_related("provider")
        .order_by("provider_role", "priority")
    )
    wanted = set(provider_names)
    known = {m.provider.provider_name for m in mappings}
    if wanted - known:
        missing, mapped = ", ".join(sorted(wanted - known)), ", ".join(sorted(known))
        raise IngestionError(f"providers not mapped to {chain_id}: {missing} (mapped: {mapped})")
    providers: dict[DataType, list[Provider]] = {}
    period_provider = None
    for mapping in mappings:
        provider = mapping.provider
        adapter = _adapter_class(provider)
        if mapping.provider_role == ProviderRole.RPC:
            if period_provider is None and adapter is not None and adapter.supplies_periods:
                period_provider = provider
            continue
        data_type = ROLE_DATA_TYPES[mapping.provider_role]
        if wanted and provider.provider_name not in wanted:
            continue
        if adapter is None or data_type not in adapter.supplies:
            logger.warning("%s is mapped for %s but its adapter does not supply it", provider, data_type)
            continue
        providers.setdefault(data_type, [])
        if provider not in providers[data_type]:
            providers[data_type].append(provider)
    if period_provider is None:
        raise IngestionError(f"no RPC provider that lists periods is mapped to {chain_id}")
    return IngestPlan(
        chain=chain, validators=validators, providers=providers, period_provider=period_provider
    )


def _adapter_class(provider: Provider) -> type[ProviderAdapter] | None:
    return ADAPTERS.get(provider.adapter)


def replay_recordings(provider_name: str) -> Path | None:
    """The recordings directory if `provider_name` is a replay provider (adapter `replay`), else None."""
    provider = Provider.objects.filter(provider_name=provider_name, adapter=REPLAY_ADAPTER).first()
    if provider is None:
        return None
    return recordings_dir(str((provider.options or {}).get("recordings_dir") or "") or None)


def recorded_periods(*, chain_id: str, recordings: Path) -> list[int]:
    """The periods the recordings hold for the chain's period provider (Solana: its RPC), in order:
    what a replay can ingest. The head the replay reports comes from the same recordings."""
    plan = ingest_plan(chain_id=chain_id)
    directory = recordings / chain_id / plan.period_provider.provider_name
    if not directory.is_dir():
        return []
    names = {entry.name.removesuffix(".jsonl") for entry in directory.iterdir()}
    return sorted(int(name) for name in names if name.isdigit())


# ---- running ------------------------------------------------------------------------------------


class _Adapters:
    """One adapter (and HTTP client) per provider, built on first use and closed at the end."""

    def __init__(self, chain: Chain, options: IngestOptions) -> None:
        self.chain = ChainSettings.from_model(chain)
        self.options = options
        self._built: dict[str, ProviderAdapter] = {}

    def get(self, provider: Provider) -> ProviderAdapter:
        adapter = self._built.get(provider.provider_name)
        if adapter is None:
            adapter = build_adapter(
                self.chain,
                ProviderSettings.from_model(provider),
                mode=self.options.mode,
                recordings=self.options.recordings,
                transport=self.options.transports.get(provider.provider_name),
                sleep=self.options.sleep,
            )
            self._built[provider.provider_name] = adapter
        return adapter

    def close(self) -> None:
        for adapter in self._built.values():
            adapter.client.close()


def ingest_range(
    *,
    chain_id: str,
    first: int,
    last: int,
    validator_keys: Sequence[str] = (),
    provider_names: Sequence[str] = (),
    options: IngestOptions | None = None,
) -> list[IngestionRun]:
    """Ingest the final periods first..last; returns one run per period (or one FAILED run if the
    periods themselves could not be listed)."""
    if first > last:
        raise IngestionError(f"empty range: {first} > {last}")
    options = options or IngestOptions()
    plan = ingest_plan(chain_id=chain_id, validator_keys=validator_keys, provider_names=provider_names)
    adapters = _Adapters(plan.chain, options)
    with few_collections():
        return _ingest_periods(plan, adapters, options, first, last)


@contextmanager
def few_collections() -> Iterator[None]:
    """Ingestion allocates a great many short-lived objects (parsed payloads); with the default
    thresholds the cyclic collector keeps rescanning everything Django holds, which was a third of
    the run time. Objects alive before the run are frozen out of collection and young collections
    run less often; reference counting still frees the payloads as soon as an item is done."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(50_000, 20, 10)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def chain_head(*, chain_id: str, options: IngestOptions | None = None) -> ChainHead:
    """Where the chain is now, as its period provider sees it (live, or the recorded head when
    replaying): the period in progress and the newest final one. ProviderError if it cannot say."""
    plan = ingest_plan(chain_id=chain_id)
    adapters = _Adapters(plan.chain, options or IngestOptions())
    try:
        return adapters.get(plan.period_provider).chain_head().value
    finally:
        adapters.close()


def record_failure(*, chain_id: str, message: str, error: ProviderError | None = None) -> IngestionRun:
    """A FAILED run of the chain with no period (e.g. its head could not be read), so the ingestion
    health shows the failure."""
    return _failed_run(Chain.objects.get(pk=chain_id), message, error)


def _ingest_periods(
    plan: IngestPlan, adapters: _Adapters, options: IngestOptions, first: int, last: int
) -> list[IngestionRun]:
    chain_id = plan.chain.pk
    try:
        try:
            periods = discover_periods(plan, adapters, first, last)
        except ProviderError as error:
            run = _failed_run(plan.chain, f"periods {first}-{last} could not be listed: {error}", error)
            return [run]
        runs = []
        for info, period in periods:
            if not info.is_final:
                logger.info("%s period %s is not final yet; skipped", chain_id, info.identifier)
                continue
            run = ingest_period(plan, period, info, adapters, options)
            runs.append(run)
            if options.on_period:
                options.on_period(run)
        return runs
    finally:
        adapters.close()


def discover_periods(
    plan: IngestPlan, adapters: _Adapters, first: int, last: int
) -> list[tuple[PeriodInfo, Period]]:
    """Ask the chain for the periods and their bounds, and keep them in canonical_periods."""
    fetched = adapters.get(plan.period_provider).list_periods(first, last)
    result = []
    now = timezone.now()
    for info in fetched.value:
        period, _ = Period.objects.get_or_create(
            chain=plan.chain,
            period_identifier=info.identifier,
            defaults={"period_start": info.start, "period_end": info.end},
        )
        changed = {
            "period_start": info.start,
            "period_end": info.end,
            "first_index": info.first_index,
            "last_index": info.last_index,
        }
        if info.is_final and not period.is_finalized:
            changed |= {"is_finalized": True, "finalized_at": now}
        updates = {name: value for name, value in changed.items() if getattr(period, name) != value}
        if updates:
            for name, value in updates.items():
                setattr(period, name, value)
            period.save(update_fields=[*updates, "updated_at"])
        result.append((info, period))
    return result


def _failed_run(
    chain: Chain, message: str, error: ProviderError | None, period: Period | None = None
) -> IngestionRun:
    run = IngestionRun.objects.create(
        chain=chain,
        period=period,
        status=IngestionStatus.FAILED,
        error_message=message,
        failures=[error.as_dict()] if error else [],
    )
    run.completed_at = run.started_at  # started_at is set by the insert; nothing ran after it
    run.save(update_fields=["completed_at", "updated_at"])
    audit_run(run, AuditAction.INGESTION_RUN)
    return run


def staged_items(period: Period) -> set[tuple[str, UUID, str]]:
    """(validator, provider id, data type) already staged for the period."""
    return set(
        StagingPayload.objects.filter(period=period)
        .values_list("validator_key", "provider_id", "data_type")
        .distinct()
    )


def ingest_period(
    plan: IngestPlan, period: Period, info: PeriodInfo, adapters: _Adapters, options: IngestOptions
) -> IngestionRun:
    lock_name = f"ingest:{plan.chain.pk}:{period.period_identifier}"
    with advisory_lock(lock_name) as acquired:
        if not acquired:
            message = f"period {period.period_identifier} is being ingested by another process; left alone"
            return _failed_run(plan.chain, message, None, period)
        _abandon_stale_runs(period)
        items = plan.items()
        run = IngestionRun.objects.create(
            chain=plan.chain,
            period=period,
            status=IngestionStatus.RUNNING,
            items_total=len(items),
            metadata={"transport": str(options.mode), "period": period.period_identifier},
        )
        done = staged_items(period)
        stager = Stager()
        try:
            for item in items:
                if (item.validator.key, item.provider.pk, str(item.data_type)) in done:
                    _record(run, ItemOutcome(period.period_identifier, item, "skipped"), options)
                    continue
                fetched = _fetch_item(run, period, info, item, adapters)
                if isinstance(fetched, ItemOutcome):
                    _record(run, fetched, options)
                    continue
                for job, error in stager.submit(fetched):
                    _record(run, _written(job, error), options)
            for job, error in stager.finish():
                _record(run, _written(job, error), options)
        except Exception as error:
            _stopped(run, error)
            raise
        finally:
            stager.close()
        return _finish(run)


def _stopped(run: IngestionRun, error: Exception) -> None:
    """A run cut short by an error no item could absorb ends FAILED with it, never left RUNNING."""
    run.status = IngestionStatus.FAILED
    done = run.items_succeeded + run.items_failed + run.items_skipped
    run.error_message = (
        f"the run stopped after {done} of {run.items_total} items: {type(error).__name__}: {error}"
    )
    run.records_staged = StagingPayload.objects.filter(run=run).count()
    run.completed_at = timezone.now()
    run.save()
    audit_run(run, AuditAction.INGESTION_RUN)


def _abandon_stale_runs(period: Period) -> None:
    """Holding the period's lock proves no live process is running it: RUNNING rows are leftovers."""
    IngestionRun.objects.filter(
        period=period, status__in=[IngestionStatus.RUNNING, IngestionStatus.PENDING]
    ).update(
        status=IngestionStatus.FAILED,
        completed_at=timezone.now(),
        error_message="abandoned: the process stopped before the run finished",
    )


def _fetch_item(
    run: IngestionRun, period: Period, info: PeriodInfo, item: Item, adapters: _Adapters
) -> StagingJob | ItemOutcome:
    """The item's responses ready to stage, or the outcome of its failure."""
    try:
        adapter = adapters.get(item.provider)
        fetched = adapter.fetch(item.data_type, info, item.validator)
    except ProviderError as error:
        return ItemOutcome(
            period.period_identifier, item, "failed", error={**item.describe(), **error.as_dict()}
        )
    except NotImplementedError as error:
        failure = {**item.describe(), "kind": "unsupported", "endpoint": "-", "reason": str(error)}
        return ItemOutcome(period.period_identifier, item, "failed", error=failure)
    return StagingJob(
        run=run,
        period=period,
        validator_key=item.validator.key,
        provider=item.provider,
        data_type=str(item.data_type),
        exchanges=fetched.exchanges,
        version=adapter.settings.version,
        token=item,
    )


def _written(job: StagingJob, error: str | None) -> ItemOutcome:
    item: Item = job.token
    if error is not None:
        failure = {**item.describe(), "kind": "storage", "endpoint": "staging", "reason": error}
        return ItemOutcome(job.period.period_identifier, item, "failed", error=failure)
    return ItemOutcome(job.period.period_identifier, item, "staged", exchanges=len(job.exchanges))


def _record(run: IngestionRun, outcome: ItemOutcome, options: IngestOptions) -> None:
    _count(run, outcome)
    if options.on_item:
        options.on_item(outcome)


def _count(run: IngestionRun, outcome: ItemOutcome) -> None:
    if outcome.status == "skipped":
        run.items_skipped += 1
    elif outcome.status == "staged":
        run.items_succeeded += 1
        run.records_fetched += outcome.exchanges
    else:
        run.items_failed += 1
        if len(run.failures) < MAX_RECORDED_FAILURES and outcome.error:
            run.failures.append(outcome.error)


def _finish(run: IngestionRun) -> IngestionRun:
    run.records_staged = StagingPayload.objects.filter(run=run).count()
    if run.items_failed == 0:
        run.status = IngestionStatus.SUCCESS
    elif run.items_succeeded + run.items_skipped == 0:
        run.status = IngestionStatus.FAILED
    else:
        run.status = IngestionStatus.PARTIAL
    if run.items_failed:
        first = run.failures[0] if run.failures else {}
        run.error_message = (
            f"{run.items_failed} of {run.items_total} items failed; first: "
            f"{first.get('validator', '?')} {first.get('provider', '?')} {first.get('data_type', '?')}: "
            f"{first.get('endpoint', '')} {first.get('reason', '')}"
        ).strip()
    run.completed_at = timezone.now()
    run.save()
    audit_run(run, AuditAction.INGESTION_RUN)
    return run


def register_validators(*, chain_id: str, validators: Iterable[Mapping[str, Any]]) -> list[ValidatorIdentity]:
    """Create or update the operator's validators (vote key, node identity, display name)."""
    chain = Chain.objects.filter(pk=chain_id).first()
    if chain is None:
        raise IngestionError(f"unknown chain {chain_id!r}")
    saved = []
    with transaction.atomic():
        for entry in validators:
            key = str(entry.get("validator_key") or entry.get("vote_pubkey") or "").strip()
            if not key:
                raise IngestionError("every validator needs a validator_key (Solana: the vote account)")
            identity, _ = ValidatorIdentity.objects.update_or_create(
                chain=chain,
                validator_key=key,
                defaults={
                    "vote_pubkey": entry.get("vote_pubkey") or key,
                    "node_pubkey": entry.get("node_pubkey"),
                    "display_name": entry.get("display_name") or entry.get("name"),
                    "is_active": bool(entry.get("is_active", True)),
                },
            )
            saved.append(identity)
    return saved
