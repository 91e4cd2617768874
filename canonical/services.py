"""Normalization: staged provider payloads in, canonical rows out, with a reconciliation report.

For each final period and each of the operator's validators, every data type is taken from the
mapped providers in priority order: the first provider whose staged payloads parse wins, and the
row records it. Payloads are parsed again by the same adapter code that fetched them (newest
payload per request). Canonical rows are compared with the current ones: equal values write
nothing, changed values supersede the current row, and nothing is ever updated in place or
deleted (the database refuses that too). A period is one transaction.

Memory stays flat in the number of rows: work goes one validator at a time, and only that
validator's payloads and current rows are in memory.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db import connection, transaction
from django.utils import timezone

from aurora.common.hashing import parse_json, sha256_hex
from aurora.common.locks import advisory_lock
from canonical import reconciliation
from canonical.models import (
    FindingKind,
    NormalizationRun,
    NormalizationStatus,
    NormalizedInput,
    ReconciliationFinding,
    ReconciliationReport,
    Severity,
)
from canonical.rows import (
    FEES,
    META,
    MEV,
    NORMALIZER_VERSION,
    STAKE_REWARDS,
    TABLES,
    MetaSources,
    RowValues,
    StakeFacts,
    TableSpec,
    fee_rows,
    meta_rows,
    mev_rows,
    plain,
    solana_stake_rows,
)
from canonical.writing import insert_rows, supersede_rows
from chains.models import Chain, ChainProviderMapping, Period, Provider, ValidatorIdentity
from ingestion.models import DataType
from ingestion.providers.base import (
    ChainSettings,
    Exchange,
    PeriodInfo,
    ProviderAdapter,
    ProviderSettings,
    StakeRewards,
    ValidatorMeta,
    ValidatorMev,
    ValidatorRef,
)
from ingestion.providers.errors import ProviderError
from ingestion.providers.registry import ADAPTERS, build_parser
from ingestion.services import ROLE_DATA_TYPES, few_collections

logger = logging.getLogger(__name__)

DATA_TYPES = (DataType.FEES, DataType.MEV, DataType.REWARDS, DataType.META)
MAX_RECORDED_FAILURES = 200
MAX_CHANGED_EXAMPLES = 20


class NormalizationError(Exception):
    """The request cannot be carried out as asked (unknown chain or validator, empty range)."""


# ---- planning -----------------------------------------------------------------------------------


@dataclass
class NormalizationPlan:
    chain: Chain
    validators: list[ValidatorIdentity]
    providers: dict[DataType, list[Provider]]  # best first
    parsers: dict[str, ProviderAdapter]
    settings: reconciliation.Settings

    @property
    def family(self) -> str:
        families = {type(parser).chain_family for parser in self.parsers.values()}
        return families.pop() if len(families) == 1 else ""


def normalization_plan(*, chain_id: str, validator_keys: Sequence[str] = ()) -> NormalizationPlan:
    chain = Chain.objects.filter(pk=chain_id).first()
    if chain is None:
        raise NormalizationError(f"unknown chain {chain_id!r}; run `manage.py sync_registry` first")
    identities = list(ValidatorIdentity.objects.filter(chain=chain, is_active=True).order_by("validator_key"))
    if validator_keys:
        unknown = sorted(set(validator_keys) - {v.validator_key for v in identities})
        if unknown:
            raise NormalizationError(f"not validators of the operator on {chain_id}: {', '.join(unknown)}")
        identities = [v for v in identities if v.validator_key in set(validator_keys)]
    if not identities:
        raise NormalizationError(f"no active validators registered for {chain_id}")
    mappings = (
        ChainProviderMapping.objects.filter(chain=chain, is_active=True, provider__is_enabled=True)
        .select_related("provider")
        .order_by("provider_role", "priority", "provider__provider_name")
    )
    settings = ChainSettings.from_model(chain)
    providers: dict[DataType, list[Provider]] = {}
    parsers: dict[str, ProviderAdapter] = {}
    for mapping in mappings:
        data_type = ROLE_DATA_TYPES.get(mapping.provider_role)
        adapter = ADAPTERS.get(mapping.provider.adapter)
        if data_type is None or adapter is None or data_type not in adapter.supplies:
            continue
        providers.setdefault(data_type, []).append(mapping.provider)
        name = mapping.provider.provider_name
        if name not in parsers:
            parsers[name] = build_parser(settings, ProviderSettings.from_model(mapping.provider))
    try:
        thresholds = reconciliation.Settings.for_chain(chain)
    except reconciliation.ReconciliationSettingsError as error:
        raise NormalizationError(f"chains.yaml: {error}") from error
    return NormalizationPlan(
        chain=chain, validators=identities, providers=providers, parsers=parsers, settings=thresholds
    )


# ---- staged inputs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PayloadRef:
    id: UUID
    request_key: str


Inputs = dict[str, dict[UUID, list[PayloadRef]]]  # data type -> provider id -> newest payload per request


def staged_inputs(period: Period) -> dict[str, Inputs]:
    """Per validator: the newest payload of every request, per data type and provider. Only
    ids and request keys; the bodies are read one validator at a time."""
    index: dict[str, Inputs] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT ON (validator_key, data_type, provider_id, request_key) "
            "payload_id, validator_key, data_type, provider_id, request_key FROM staging_payloads "
            "WHERE chain_id = %s AND period_id = %s "
            "ORDER BY validator_key, data_type, provider_id, request_key, fetch_timestamp DESC, "
            "created_at DESC, payload_id DESC",
            [period.chain_id, period.pk],
        )
        for payload_id, validator_key, data_type, provider_id, request_key in cursor.fetchall():
            index[validator_key][data_type][provider_id].append(PayloadRef(payload_id, request_key))
    return index


def fingerprint(plan: NormalizationPlan, inputs: Inputs) -> str:
    """Identifies everything a validator's rows are computed from, in priority order."""
    return sha256_hex(
        [
            NORMALIZER_VERSION,
            [
                [
                    str(data_type),
                    [
                        [provider.provider_name, sorted([r.request_key, str(r.id)] for r in refs)]
                        for provider in plan.providers.get(data_type, [])
                        if (refs := inputs.get(str(data_type), {}).get(provider.pk))
                    ],
                ]
                for data_type in DATA_TYPES
            ],
        ]
    )


def load_exchanges(refs: Sequence[PayloadRef]) -> list[Exchange]:
    """The staged payloads as the exchanges the adapters parse (bodies parsed with parse_json:
    exact integers, and faster than the ORM's JSON decoding)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT request_key, request::text, raw_payload::text, fetch_timestamp "
            "FROM staging_payloads WHERE payload_id = ANY(%s)",
            [[ref.id for ref in refs]],
        )
        return [
            Exchange(
                request_key=request_key,
                request=parse_json(request),
                status=200,
                body=parse_json(body),
                fetched_at=fetched_at,
                scope="",
            )
            for request_key, request, body, fetched_at in cursor.fetchall()
        ]


# ---- one validator ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Parsed:
    provider: Provider
    value: Any
    payloads: Mapping[str, UUID]  # request key -> payload id
    sources: Mapping[str, str]  # row part -> request key (adapter's row_sources)
    default_request_key: str

    def payload_for(self, request_key: str) -> UUID:
        return self.payloads.get(request_key) or self.payloads[self.default_request_key]


@dataclass
class TableRows:
    spec: TableSpec
    rows: list[RowValues]
    parsed: Parsed


@dataclass
class ValidatorWork:
    identity: ValidatorIdentity
    tables: list[TableRows] = field(default_factory=list)
    findings: list[ReconciliationFinding] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)
    payloads_read: int = 0


@dataclass
class RunContext:
    plan: NormalizationPlan
    period: Period
    info: PeriodInfo
    run: NormalizationRun
    now: datetime
    findings: list[ReconciliationFinding] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def finding(self, **values: Any) -> ReconciliationFinding:
        return ReconciliationFinding(chain_id=self.plan.chain.pk, period=self.period, **values)

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[phase] += time.perf_counter() - started


def period_info(period: Period) -> PeriodInfo:
    return PeriodInfo(
        identifier=period.period_identifier,
        first_index=period.first_index or 0,
        last_index=period.last_index or 0,
        start=period.period_start,
        end=period.period_end,
        is_final=period.is_finalized,
    )


def _parse_all(
    ctx: RunContext, work: ValidatorWork, inputs: Inputs, data_type: DataType, *, first_only: bool
) -> list[Parsed]:
    """Every mapped provider's value for the data type, best first; unusable payloads are findings."""
    validator = ValidatorRef(work.identity.validator_key, work.identity.node_pubkey)
    parsed: list[Parsed] = []
    for provider in ctx.plan.providers.get(data_type, []):
        refs = inputs.get(str(data_type), {}).get(provider.pk)
        if not refs:
            continue
        parser = ctx.plan.parsers[provider.provider_name]
        with ctx.timed("load"):
            exchanges = load_exchanges(refs)
        work.payloads_read += len(exchanges)
        try:
            with ctx.timed("parse"):
                value = parser.parse(data_type, exchanges, ctx.info, validator)
                sources = parser.row_sources(data_type, exchanges)
        except ProviderError as error:
            failure = {
                "validator": validator.key,
                "data_type": str(data_type),
                **error.as_dict(),
            }
            work.failures.append(failure)
            work.findings.append(
                ctx.finding(
                    kind=FindingKind.UNUSABLE_PAYLOAD,
                    severity=Severity.ERROR,
                    validator_key=validator.key,
                    data_type=str(data_type),
                    providers=provider.provider_name,
                    message=f"staged {data_type} payloads of {provider.provider_name} cannot be used: "
                    f"{error.endpoint}: {error.reason}",
                    details=failure,
                )
            )
            continue
        payloads = {ref.request_key: ref.id for ref in refs}
        parsed.append(Parsed(provider, value, payloads, sources, min(payloads)))
        if first_only:
            break
    return parsed


def normalize_validator(ctx: RunContext, identity: ValidatorIdentity, inputs: Inputs) -> ValidatorWork:
    """The canonical rows of one validator for the period, and what reconciliation saw on the way."""
    work = ValidatorWork(identity)
    key = identity.validator_key
    fees = _parse_all(ctx, work, inputs, DataType.FEES, first_only=False)
    mev = _parse_all(ctx, work, inputs, DataType.MEV, first_only=False)
    rewards = _parse_all(ctx, work, inputs, DataType.REWARDS, first_only=True)
    metas = _parse_all(ctx, work, inputs, DataType.META, first_only=False)

    if fees:
        best = fees[0]
        work.tables.append(TableRows(FEES, fee_rows(best.value, best.default_request_key), best))
        _compare_providers(
            ctx, work, DataType.FEES, fees, "total_fees_native", lambda v: Decimal(v.total_fees)
        )
    if mev:
        best = mev[0]
        work.tables.append(TableRows(MEV, mev_rows(best.value, best.default_request_key), best))
        _compare_providers(ctx, work, DataType.MEV, mev, "total_mev_native", _mev_share)
    stake_facts: StakeFacts | None = None
    if rewards:
        best = rewards[0]
        value: StakeRewards = best.value
        if ctx.plan.family != "solana":
            raise NormalizationError(f"no stake-reward normalizer for chain family {ctx.plan.family!r}")
        rows, stake_facts = solana_stake_rows(
            value, sources=best.sources, default_source=best.default_request_key
        )
        work.tables.append(TableRows(STAKE_REWARDS, rows, best))
    if metas:
        sources = MetaSources(
            by_provider=[(p.provider.provider_name, p.value, p.default_request_key) for p in metas],
            mev=(mev[0].provider.provider_name, mev[0].value) if mev else None,
            fees=(fees[0].provider.provider_name, fees[0].value) if fees else None,
            stake=(rewards[0].provider.provider_name, stake_facts) if rewards and stake_facts else None,
        )
        work.tables.append(TableRows(META, meta_rows(key, sources), metas[0]))
        _compare_meta(ctx, work, metas, mev)
        _check_identity(ctx, work, metas[0])
    return work


def _mev_share(value: ValidatorMev) -> Decimal:
    return Decimal(value.total_tips) * value.commission_bps / 10_000


def _differs(a: Decimal, b: Decimal, tolerance_pct: Decimal) -> bool:
    if a == b:
        return False
    base = max(abs(a), abs(b))
    return base == 0 or abs(a - b) * 100 / base > tolerance_pct


def _disagreement(
    ctx: RunContext,
    work: ValidatorWork,
    data_type: DataType,
    column: str,
    best: tuple[str, Decimal],
    other: tuple[str, Decimal],
) -> None:
    (best_name, best_value), (other_name, other_value) = best, other
    delta = (other_value - best_value) * 100 / best_value if best_value else None
    work.findings.append(
        ctx.finding(
            kind=FindingKind.PROVIDER_DISAGREEMENT,
            severity=Severity.WARNING,
            validator_key=work.identity.validator_key,
            data_type=str(data_type),
            field=column,
            providers=f"{best_name} vs {other_name}",
            expected_value=best_value,
            observed_value=other_value,
            delta_pct=None if delta is None else round(delta, 4),
            message=f"{column}: {best_name} says {plain(best_value)}, "
            f"{other_name} says {plain(other_value)}; {best_name} (higher priority) is used",
        )
    )


def _compare_providers(
    ctx: RunContext,
    work: ValidatorWork,
    data_type: DataType,
    parsed: list[Parsed],
    column: str,
    number: Any,
) -> None:
    best = parsed[0]
    for other in parsed[1:]:
        a, b = Decimal(number(best.value)), Decimal(number(other.value))
        if _differs(a, b, Decimal(0)):  # amounts of the same period: they should agree exactly
            _disagreement(
                ctx,
                work,
                data_type,
                column,
                (best.provider.provider_name, a),
                (other.provider.provider_name, b),
            )


def _compare_meta(ctx: RunContext, work: ValidatorWork, metas: list[Parsed], mev: list[Parsed]) -> None:
    best = metas[0]
    best_meta: ValidatorMeta = best.value
    name = best.provider.provider_name
    tolerance = ctx.plan.settings.disagreement_tolerance_pct
    for other in metas[1:]:
        meta: ValidatorMeta = other.value
        pairs = [
            ("commission_rate_bps", best_meta.commission_bps, meta.commission_bps, Decimal(0)),
            ("total_stake_native", best_meta.active_stake, meta.active_stake, tolerance),
            ("mev_commission_bps", best_meta.mev_commission_bps, meta.mev_commission_bps, Decimal(0)),
        ]
        for column, a, b, allowed in pairs:
            if a is not None and b is not None and _differs(Decimal(a), Decimal(b), allowed):
                _disagreement(
                    ctx,
                    work,
                    DataType.META,
                    column,
                    (name, Decimal(a)),
                    (other.provider.provider_name, Decimal(b)),
                )
    if mev:
        mev_value: ValidatorMev = mev[0].value
        claimed = next((p for p in metas if p.value.mev_commission_bps is not None), None)
        if claimed is not None and mev_value.running_mev_client:
            a, b = Decimal(claimed.value.mev_commission_bps), Decimal(mev_value.commission_bps)
            if a != b:
                _disagreement(
                    ctx,
                    work,
                    DataType.META,
                    "mev_commission_bps",
                    (mev[0].provider.provider_name, b),
                    (claimed.provider.provider_name, a),
                )


def _check_identity(ctx: RunContext, work: ValidatorWork, best: Parsed) -> None:
    """Fill the identity's node key and name when unknown; report a node key that differs."""
    identity, meta = work.identity, best.value
    changed = []
    if meta.node_pubkey and not identity.node_pubkey:
        identity.node_pubkey = meta.node_pubkey
        changed.append("node_pubkey")
    elif meta.node_pubkey and identity.node_pubkey != meta.node_pubkey:
        work.findings.append(
            ctx.finding(
                kind=FindingKind.INCONSISTENCY,
                severity=Severity.WARNING,
                validator_key=identity.validator_key,
                data_type=str(DataType.META),
                field="node_pubkey",
                providers=best.provider.provider_name,
                message=f"{best.provider.provider_name} reports node identity {meta.node_pubkey}; "
                f"the registered one is {identity.node_pubkey}",
            )
        )
    if meta.display_name and not identity.display_name:
        identity.display_name = meta.display_name
        changed.append("display_name")
    if changed:
        identity.save(update_fields=[*changed, "updated_at"])


# ---- writing ------------------------------------------------------------------------------------


@dataclass
class WriteCounts:
    inserted: int = 0
    superseded: int = 0
    unchanged: int = 0


def _current_rows(ctx: RunContext, spec: TableSpec, validator_key: str) -> dict[Any, dict[str, Any]]:
    fields = ["id", "source_provider_id", *spec.value_fields]
    if spec.per_staker:
        fields.append("staker_address")
    rows = spec.model._default_manager.filter(
        chain_id=ctx.plan.chain.pk, period=ctx.period, validator_key=validator_key, superseded_at__isnull=True
    ).values(*fields)
    return {(validator_key, row.get("staker_address")): row for row in rows}


def write_table(ctx: RunContext, table: TableRows, counts: WriteCounts) -> list[ReconciliationFinding]:
    """Insert new and changed rows, supersede what they replace; returns the change findings."""
    spec, parsed = table.spec, table.parsed
    validator_key = parsed.value.validator_key
    current = _current_rows(ctx, spec, validator_key)
    provider_id = parsed.provider.pk
    inserts: list[tuple[RowValues, UUID]] = []
    replaced: list[tuple[UUID, UUID | None]] = []
    changes: list[tuple[RowValues, dict[str, Any]]] = []
    for row in table.rows:
        existing = current.pop(row.key, None)
        if (
            existing is not None
            and existing["source_provider_id"] == provider_id
            and row.same_values(existing)
        ):
            counts.unchanged += 1
            continue
        new_id = uuid.uuid4()
        inserts.append((row, new_id))
        if existing is not None:
            replaced.append((existing["id"], new_id))
            changes.append((row, existing))
    withdrawn = list(current.values()) if spec.per_staker else []
    replaced.extend((row["id"], None) for row in withdrawn)
    counts.superseded += supersede_rows(spec.model, replaced, ctx.now)
    insert_fields = ("staker_address", *spec.value_fields) if spec.per_staker else spec.value_fields
    chain_id, period_id, now = ctx.plan.chain.pk, ctx.period.pk, ctx.now
    counts.inserted += insert_rows(
        spec.model,
        insert_fields,
        (
            (
                new_id,
                chain_id,
                period_id,
                validator_key,
                provider_id,
                parsed.payload_for(row.request_key),
                now,
                now,
                now,
                *((row.key[1],) if spec.per_staker else ()),
                *(row.values[name] for name in spec.value_fields),
            )
            for row, new_id in inserts
        ),
    )
    return _change_findings(ctx, spec, validator_key, parsed, changes, withdrawn)


def _text(value: Any) -> Any:
    return plain(value) if isinstance(value, Decimal) else value


def _change_findings(
    ctx: RunContext,
    spec: TableSpec,
    validator_key: str,
    parsed: Parsed,
    changes: list[tuple[RowValues, dict[str, Any]]],
    withdrawn: list[dict[str, Any]],
) -> list[ReconciliationFinding]:
    if not changes and not withdrawn:
        return []
    provider = parsed.provider.provider_name
    described: list[dict[str, Any]] = []
    for row, old in changes:
        fields = row.changed_fields(old)
        if old["source_provider_id"] != parsed.provider.pk:
            fields.append("source_provider")
        described.append(
            {
                "staker_address": row.key[1],
                "changed": {
                    name: [_text(old.get(name)), _text(row.values.get(name))]
                    for name in fields
                    if name != "source_provider"
                },
                "source_changed": "source_provider" in fields,
            }
        )
    amount = spec.amount_field
    if not spec.per_staker and changes:
        row, old = changes[0]
        before, after = old.get(amount), row.values.get(amount)
        delta = None
        if before is not None and after is not None and before != 0:
            delta = (Decimal(after) - Decimal(before)) * 100 / Decimal(before)
        summary = ", ".join(
            f"{name} {old_new[0]} -> {old_new[1]}" for name, old_new in described[0]["changed"].items()
        )
        if described[0]["source_changed"]:
            summary = (summary + "; " if summary else "") + f"now from {provider}"
        return [
            ctx.finding(
                kind=FindingKind.VALUE_CHANGED,
                severity=Severity.WARNING,
                validator_key=validator_key,
                data_type=str(spec.data_type),
                field=amount,
                providers=provider,
                expected_value=before,
                observed_value=after,
                delta_pct=None if delta is None else round(delta, 4),
                message=f"{spec.data_type} changed since the last normalization: {summary}",
                details={"changes": described},
            )
        ]
    before_total = sum((Decimal(old.get(amount) or 0) for _, old in changes), Decimal(0))
    before_total += sum((Decimal(row.get(amount) or 0) for row in withdrawn), Decimal(0))
    after_total = sum((Decimal(row.values.get(amount) or 0) for row, _ in changes), Decimal(0))
    parts = []
    if changes:
        parts.append(f"{len(changes)} row(s) changed")
    if withdrawn:
        parts.append(f"{len(withdrawn)} row(s) no longer reported")
    return [
        ctx.finding(
            kind=FindingKind.VALUE_CHANGED,
            severity=Severity.WARNING,
            validator_key=validator_key,
            data_type=str(spec.data_type),
            field=amount,
            providers=provider,
            expected_value=before_total,
            observed_value=after_total,
            message=f"{spec.data_type} changed since the last normalization: {', '.join(parts)}",
            details={
                "changes": described[:MAX_CHANGED_EXAMPLES],
                "withdrawn": [row.get("staker_address") for row in withdrawn[:MAX_CHANGED_EXAMPLES]],
                "changed_count": len(changes),
                "withdrawn_count": len(withdrawn),
            },
        )
    ]


# ---- a period -----------------------------------------------------------------------------------


def normalize_range(
    *,
    chain_id: str,
    first: int,
    last: int,
    validator_keys: Sequence[str] = (),
    triggered_by: str = "",
) -> list[NormalizationRun]:
    """Normalize the final periods first..last (by identifier); one run per period."""
    if first > last:
        raise NormalizationError(f"empty range: {first} > {last}")
    plan = normalization_plan(chain_id=chain_id, validator_keys=validator_keys)
    periods = [
        period
        for period in Period.objects.filter(chain=plan.chain, is_finalized=True)
        if period.period_identifier.isdigit() and first <= int(period.period_identifier) <= last
    ]
    if not periods:
        raise NormalizationError(
            f"no final period of {chain_id} between {first} and {last} is known; ingest them first"
        )
    periods.sort(key=lambda p: int(p.period_identifier))
    with few_collections():
        return [normalize_period(plan=plan, period=period, triggered_by=triggered_by) for period in periods]


def normalize_period(*, plan: NormalizationPlan, period: Period, triggered_by: str = "") -> NormalizationRun:
    lock = f"normalize:{plan.chain.pk}:{period.period_identifier}"
    with advisory_lock(lock) as acquired:
        if not acquired:
            return _failed_run(
                plan, period, triggered_by, f"period {period.period_identifier} is being normalized elsewhere"
            )
        NormalizationRun.objects.filter(period=period, status=NormalizationStatus.RUNNING).update(
            status=NormalizationStatus.FAILED,
            completed_at=timezone.now(),
            error_message="abandoned: the process stopped before the run finished",
        )
        run = NormalizationRun.objects.create(
            chain=plan.chain, period=period, triggered_by=triggered_by, validators_total=len(plan.validators)
        )
        started = time.perf_counter()
        try:
            with transaction.atomic():
                _normalize(plan, period, run)
                _finish(run, started)
        except Exception as error:
            logger.exception("normalization of %s %s failed", plan.chain.pk, period.period_identifier)
            run.refresh_from_db()
            run.status = NormalizationStatus.FAILED
            run.error_message = f"{type(error).__name__}: {error}"[:2000]
            _finish(run, started, status=NormalizationStatus.FAILED)
        return run


def _normalize(plan: NormalizationPlan, period: Period, run: NormalizationRun) -> None:
    ctx = RunContext(plan=plan, period=period, info=period_info(period), run=run, now=timezone.now())
    with ctx.timed("load"):
        staged = staged_inputs(period)
        known = {
            n.validator_key: n
            for n in NormalizedInput.objects.filter(chain=plan.chain, period=period).select_related("run")
        }
    counts = WriteCounts()
    unchanged: list[str] = []
    processed_inputs: list[NormalizedInput] = []
    for identity in plan.validators:
        inputs = staged.get(identity.validator_key, {})
        print_ = fingerprint(plan, inputs)
        previous = known.get(identity.validator_key)
        if previous is not None and previous.fingerprint == print_:
            unchanged.append(identity.validator_key)
            continue
        work = normalize_validator(ctx, identity, inputs)
        with ctx.timed("write"):
            for table in work.tables:
                ctx.findings.extend(write_table(ctx, table, counts))
        ctx.findings.extend(work.findings)
        run.payloads_read += work.payloads_read
        if work.failures:
            run.items_failed += len(work.failures)
            room = MAX_RECORDED_FAILURES - len(run.failures)
            run.failures.extend(work.failures[: max(room, 0)])
        elif inputs:
            processed_inputs.append(
                NormalizedInput(
                    chain=plan.chain,
                    period=period,
                    validator_key=identity.validator_key,
                    fingerprint=print_,
                    run=run,
                )
            )
    NormalizedInput.objects.bulk_create(
        processed_inputs,
        update_conflicts=True,
        unique_fields=["chain", "period", "validator_key"],
        update_fields=["fingerprint", "run", "updated_at"],
    )
    with ctx.timed("reconcile"):
        ctx.findings.extend(_carried_findings(ctx, [known[key] for key in unchanged]))
        ctx.findings.extend(
            reconciliation.check_period(ctx.plan.chain, period, plan.validators, plan.settings)
        )
    _report(ctx)
    run.validators_unchanged = len(unchanged)
    run.rows_inserted, run.rows_superseded, run.rows_unchanged = (
        counts.inserted,
        counts.superseded,
        counts.unchanged,
    )
    run.timings = {phase: round(seconds, 3) for phase, seconds in ctx.timings.items()}


def _carried_findings(ctx: RunContext, inputs: list[NormalizedInput]) -> list[ReconciliationFinding]:
    """Provider disagreements still stand for validators whose inputs did not change: the new
    report repeats them from the report of the run that normalized those inputs."""
    carried = []
    for normalized in inputs:
        for old in ReconciliationFinding.objects.filter(
            report__run=normalized.run,
            validator_key=normalized.validator_key,
            kind=FindingKind.PROVIDER_DISAGREEMENT,
        ):
            old.pk = uuid.uuid4()
            old._state.adding = True
            old.details = {**old.details, "first_reported_by_run": str(normalized.run_id)}
            carried.append(old)
    return carried


def _report(ctx: RunContext) -> None:
    findings = ctx.findings
    counts = {severity: sum(1 for f in findings if f.severity == severity) for severity in Severity.values}
    report = ReconciliationReport.objects.create(
        run=ctx.run,
        chain=ctx.plan.chain,
        period=ctx.period,
        info_count=counts[Severity.INFO],
        warning_count=counts[Severity.WARNING],
        error_count=counts[Severity.ERROR],
        summary=reconciliation.summarize(findings),
    )
    for finding in findings:
        finding.report = report
    ReconciliationFinding.objects.bulk_create(findings, batch_size=1000)


def _finish(run: NormalizationRun, started: float, *, status: str | None = None) -> None:
    if status is None:
        status = NormalizationStatus.PARTIAL if run.items_failed else NormalizationStatus.SUCCESS
    run.status = status
    run.completed_at = timezone.now()
    run.duration_seconds = Decimal(time.perf_counter() - started).quantize(Decimal("0.001"))
    run.save()


def _failed_run(plan: NormalizationPlan, period: Period, triggered_by: str, message: str) -> NormalizationRun:
    run = NormalizationRun.objects.create(
        chain=plan.chain,
        period=period,
        triggered_by=triggered_by,
        status=NormalizationStatus.FAILED,
        error_message=message,
    )
    run.completed_at = run.started_at
    run.duration_seconds = Decimal(0)
    run.save(update_fields=["completed_at", "duration_seconds", "updated_at"])
    return run


__all__ = [
    "TABLES",
    "NormalizationError",
    "normalization_plan",
    "normalize_period",
    "normalize_range",
]
