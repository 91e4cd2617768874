"""Normalization: staged provider payloads in, canonical rows out, with a reconciliation report.

For each final period and each of the operator's validators, every data type is taken from the
mapped providers in priority order: the first provider whose staged payloads parse wins, and the
row records it. Payloads are parsed again by the same adapter code that fetched them (newest
payload per request). Canonical rows are compared with the current ones: equal values write
nothing, changed values supersede the current row, and nothing is ever updated in place or
deleted (the database refuses that too). A period is one transaction.

Memory stays flat in the number of rows: work goes one validator at a time, and only that
validator's payloads, current rows and prepared writes (a few validators' worth, queued for the
writer) are in memory.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from uuid import UUID

from django.conf import settings
from django.db import connection
from django.utils import timezone

from accounts.audit import audit_run
from accounts.models import AuditAction
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
from canonical.normalization.context import RunContext, WriteCounts
from canonical.normalization.history import prepare_table
from canonical.normalization.inputs import Inputs, Prefetcher, fingerprint, period_info, staged_inputs
from canonical.normalization.plan import NormalizationError, NormalizationPlan, normalization_plan
from canonical.normalization.processes import ParsingPool, Prepared
from canonical.normalization.validator import normalize_validator
from canonical.writing import PeriodWriter
from chains.models import Period, ValidatorIdentity
from ingestion.models import IngestionRun, IngestionStatus
from ingestion.providers.base import Exchange
from ingestion.services import few_collections

logger = logging.getLogger(__name__)

MAX_RECORDED_FAILURES = 200
# Below this many validators per process, starting the processes costs more than they save.
MIN_VALIDATORS_PER_PROCESS = 8

__all__ = [
    "NormalizationError",
    "normalization_plan",
    "normalize_period",
    "normalize_range",
    "shortfall",
]


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
        writer = PeriodWriter()
        try:
            finish = _normalize(plan, period, run, writer, started)
            writer.finish(finish)
        except Exception as error:
            writer.abort(error)
            logger.exception("normalization of %s %s failed", plan.chain.pk, period.period_identifier)
            run = NormalizationRun.objects.get(pk=run.pk)
            run.error_message = f"{type(error).__name__}: {error}"[:2000]
            _finish(run, started, status=NormalizationStatus.FAILED)
        else:
            run.refresh_from_db()
        audit_run(run, AuditAction.NORMALIZATION_RUN, reason=triggered_by)
        return run


def _normalize(
    plan: NormalizationPlan, period: Period, run: NormalizationRun, writer: PeriodWriter, started: float
) -> Callable[[], None]:
    """Prepare every validator's writes (the writer applies them as they come) and return the last
    job: bookkeeping, reconciliation and the report, run inside the period's transaction."""
    ctx = RunContext(
        plan=plan, period=period, info=period_info(period), run=run, now=timezone.now(), writer=writer
    )
    ingestion_gap = incomplete_ingestion(plan, period)
    with ctx.timed("load"):
        staged = staged_inputs(period)
        known = {
            n.validator_key: n
            for n in NormalizedInput.objects.filter(chain=plan.chain, period=period).select_related("run")
        }
    unchanged: list[str] = []
    processed_inputs: list[NormalizedInput] = []
    todo: Todo = []
    for identity in plan.validators:
        inputs = staged.get(identity.validator_key, {})
        print_ = fingerprint(plan, inputs)
        previous = known.get(identity.validator_key)
        if previous is not None and previous.fingerprint == print_:
            unchanged.append(identity.validator_key)
        else:
            todo.append((identity, inputs, print_))
    counts = WriteCounts()
    for identity, inputs, print_, prepared in _prepared(ctx, todo):
        ctx.findings.extend(prepared.findings)
        for job in prepared.jobs:
            writer.submit(job)
        for phase, seconds in prepared.timings.items():
            ctx.timings[f"{phase} (processes)"] += seconds
        counts.add(prepared.counts)
        run.payloads_read += prepared.payloads_read
        if prepared.failures:
            run.items_failed += len(prepared.failures)
            room = MAX_RECORDED_FAILURES - len(run.failures)
            run.failures.extend(prepared.failures[: max(room, 0)])
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
    run.validators_unchanged = len(unchanged)
    run.rows_inserted, run.rows_superseded, run.rows_unchanged = (
        counts.inserted,
        counts.superseded,
        counts.unchanged,
    )
    all_prepared = time.perf_counter()

    def finish() -> None:
        ctx.timings["write (after the last validator)"] = time.perf_counter() - all_prepared
        NormalizedInput.objects.bulk_create(
            processed_inputs,
            update_conflicts=True,
            unique_fields=["chain", "period", "validator_key"],
            update_fields=["fingerprint", "run", "updated_at"],
        )
        with ctx.timed("reconcile"):
            ctx.findings.extend(_carried_findings(ctx, [known[key] for key in unchanged]))
            ctx.findings.extend(
                reconciliation.check_period(plan.chain, period, plan.validators, plan.settings)
            )
        _report(ctx)
        run.timings = {phase: round(seconds, 3) for phase, seconds in ctx.timings.items()}
        if ingestion_gap:
            run.error_message = ingestion_gap
        _finish(run, started, status=NormalizationStatus.PARTIAL if ingestion_gap else None)

    return finish


Todo = list[tuple[ValidatorIdentity, Inputs, str]]  # identity, its inputs, their fingerprint


def prepare_validator(
    ctx: RunContext, identity: ValidatorIdentity, inputs: Inputs, loaded: Mapping[UUID, Exchange]
) -> Prepared:
    """Parse one validator's payloads and prepare its writes (handed to `ctx.writer`)."""
    counts = WriteCounts()
    work = normalize_validator(ctx, identity, inputs, loaded)
    findings: list[ReconciliationFinding] = []
    with ctx.timed("prepare"):
        for table in work.tables:
            findings.extend(prepare_table(ctx, table, counts))
    findings.extend(work.findings)
    return Prepared(identity.validator_key, findings, work.failures, work.payloads_read, counts)


def _prepared(ctx: RunContext, todo: Todo) -> Iterator[tuple[ValidatorIdentity, Inputs, str, Prepared]]:
    """Each validator of `todo` prepared, in order: by a pool of processes when the settings ask
    for one and the run may use it (outside a caller's transaction and a daemonic process, with
    enough validators), else here, with the next validator's payloads loaded while one is parsed."""
    processes = min(settings.AURORA_NORMALIZATION_PROCESSES, len(todo) // MIN_VALIDATORS_PER_PROCESS)
    if processes > 1 and not connection.in_atomic_block and not multiprocessing.current_process().daemon:
        pool = ParsingPool(
            prepare_validator,
            chain_id=ctx.plan.chain.pk,
            validator_keys=[v.validator_key for v in ctx.plan.validators],
            processes=processes,
        )
        try:
            plain = [(identity.validator_key, _plain(inputs)) for identity, inputs, _ in todo]
            for (identity, inputs, print_), prepared in zip(
                todo, pool.prepared(ctx.period.pk, ctx.now, plain), strict=True
            ):
                yield identity, inputs, print_, prepared
        finally:
            pool.close()
        return
    prefetcher = Prefetcher()
    try:
        pending = prefetcher.start(todo[0][1]) if todo else None
        for index, (identity, inputs, print_) in enumerate(todo):
            with ctx.timed("load"):
                loaded = pending() if pending else {}
            pending = prefetcher.start(todo[index + 1][1]) if index + 1 < len(todo) else None
            prepared = prepare_validator(ctx, identity, inputs, loaded)
            del loaded
            yield identity, inputs, print_, prepared
    finally:
        prefetcher.close()


def _plain(inputs: Inputs) -> Inputs:
    """Without the defaultdicts' factories, which a process boundary cannot carry."""
    return {data_type: dict(by_provider) for data_type, by_provider in inputs.items()}


UNFINISHED_INGESTION = (IngestionStatus.PARTIAL, IngestionStatus.FAILED)


def incomplete_ingestion(plan: NormalizationPlan, period: Period) -> str | None:
    """Why the period's staged input is incomplete for the plan's validators, or None.

    The newest ingestion run that tried items speaks for the period: a later run that staged the
    missing items succeeds. Runs that tried nothing (a period left to another process) say nothing.
    """
    latest = (
        IngestionRun.objects.filter(period=period, items_total__gt=0)
        .exclude(status__in=[IngestionStatus.RUNNING, IngestionStatus.PENDING])
        .order_by("-started_at")
        .first()
    )
    if latest is None or latest.status not in UNFINISHED_INGESTION:
        return None
    planned = {identity.validator_key for identity in plan.validators}
    failed = {str(failure.get("validator")) for failure in latest.failures}
    every_failure_listed = len(latest.failures) >= latest.items_failed
    if latest.status == IngestionStatus.PARTIAL and every_failure_listed and not failed & planned:
        return None
    return f"input ingestion run {latest.pk} was {latest.status}: {latest.error_message or 'no details'}"


def shortfall(run: NormalizationRun) -> str:
    """Why the run is not SUCCESS ("" if it is): its error, else its items without usable data."""
    if run.status == NormalizationStatus.SUCCESS:
        return ""
    if run.error_message:
        return run.error_message
    if run.items_failed:
        return f"{run.items_failed} items had no usable staged data"
    return "no details recorded"


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
    if ctx.run is None:
        raise RuntimeError("a report belongs to a normalization run")
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
    audit_run(run, AuditAction.NORMALIZATION_RUN, reason=triggered_by)
    return run
