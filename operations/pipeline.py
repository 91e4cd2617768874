"""The pipeline: each newly final period ingested, normalized and recomputed in the background.

Discovery (Celery beat, every few minutes, per active chain) asks the chain's head which periods
are final, compares them with what has been done, and starts a pipeline for each period not done
yet: oldest first, at most `AURORA_PIPELINE_MAX_PERIODS_PER_TICK` per run. A period is done when
its latest ingestion, normalization and computation runs all succeeded; one that failed is taken
up again by the next discovery.

A pipeline is a Job (type PIPELINE, one chain and period), so it shows in the admin and /v1/jobs
with its progress and the run of each stage. Its stages (ingest, normalize, recompute; recompute
also drafts the month's statements) run as a Celery chain, one task per stage:

- one pipeline per (chain, period) at a time: a trigger for a period whose pipeline is queued or
  running returns that job and starts nothing;
- a stage holds a PostgreSQL advisory lock per (chain, period, stage) while it runs, so a second
  delivery of the same stage (a duplicate trigger, a redelivery) does nothing and says so;
- periods are ingested in parallel, but normalized and recomputed one at a time and oldest first
  per chain, as a sequential run would (reconciliation compares a period with the one before it,
  and the periods of a month share their statements);
- stages are idempotent (the layers skip what is already staged, written or unchanged), so a
  stage killed midway and delivered again (acks_late, reject_on_worker_lost) ends with exactly
  the rows of an uninterrupted run; a pipeline whose whole worker died is sent again from the
  interrupted stage by operations.recovery, within a minute, instead of waiting hours for Redis;
- provider errors during ingestion raise `ProviderOutage` (a ProviderError), which the ingest task
  retries with exponential backoff; after the last retry the job fails.

Where the data comes from: the chain's mapped providers ("live"), or a replay provider (the
recorded responses, for the demo); the chain's `pipeline_provider` parameter, else the
`AURORA_PIPELINE_PROVIDER` setting, decides. When replaying, the head is the recorded one (the
period provider's recorded `head` answers) and only recorded periods are candidates.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Model, QuerySet, Sum
from django.utils import timezone

from aurora.common import context
from aurora.common.amounts import token_amount
from aurora.common.dbscope import SYSTEM, set_database_scope
from aurora.common.locks import advisory_lock, lock_id
from canonical.models import (
    CanonicalStakeReward,
    CanonicalValidatorFees,
    CanonicalValidatorMeta,
    CanonicalValidatorMev,
    NormalizationRun,
    NormalizationStatus,
    ReconciliationFinding,
    ReconciliationReport,
)
from canonical.services import NormalizationError, normalize_range
from chains.models import Chain, Period
from commissions.models import (
    CommissionLine,
    ComputationRun,
    ComputationStatus,
    Statement,
    StatementStatus,
    ValidatorPnl,
)
from commissions.services.recompute import FROZEN, RecomputeError, recompute_range, refresh_statements
from ingestion.models import IngestionRun, IngestionStatus, StagingPayload
from ingestion.providers.errors import ProviderError
from ingestion.providers.registry import TransportMode
from ingestion.services import (
    IngestionError,
    IngestOptions,
    chain_head,
    ingest_range,
    record_failure,
    recorded_periods,
    replay_recordings,
)
from operations import recovery
from operations.models import ACTIVE_STATUSES, Job, JobStatus, JobType
from operations.recovery import jobs_recover

logger = logging.getLogger(__name__)

INGEST, NORMALIZE, RECOMPUTE = "ingest", "normalize", "recompute"
STAGES: tuple[str, ...] = (INGEST, NORMALIZE, RECOMPUTE)
# Periods of a chain pass these one at a time, oldest first; ingestion runs in parallel. A stage
# waiting for an earlier period is tried again every second, for at most about half an hour.
ORDERED_STAGES = frozenset({NORMALIZE, RECOMPUTE})
ORDER_WAIT_SECONDS = 1
ORDER_WAIT_RETRIES = 1800
# How long a stage tries for its lock before concluding that another delivery runs it.
BUSY_GRACE_SECONDS = 1.0
LIVE = "live"

# Stage outcomes (besides the runs' own SUCCESS / FAILED).
BUSY = "BUSY"  # the stage of that period is running elsewhere: this delivery did nothing
SKIPPED = "SKIPPED"  # the stage was already done for this job
MISSING = "MISSING"  # no such pipeline job
RETRYING = recovery.RETRYING  # a stage waiting to retry its providers


class PipelineError(Exception):
    """The pipeline cannot be run as asked; the message says why."""


class StageNotReady(Exception):
    """The stage waits for an earlier period of the chain to pass it first (the task retries soon)."""


class ProviderOutage(ProviderError):
    """A period's ingestion ended PARTIAL or FAILED because providers failed: worth another try."""

    retryable = True
    kind = "outage"

    def __init__(self, *, provider: str, endpoint: str, reason: str, run: IngestionRun | None = None) -> None:
        super().__init__(provider=provider, endpoint=endpoint, reason=reason)
        self.run = run

    @classmethod
    def of(cls, run: IngestionRun) -> ProviderOutage:
        """From the run's first recorded failure (it names the provider and endpoint)."""
        first = run.failures[0] if run.failures else {}
        return cls(
            provider=str(first.get("provider") or "providers"),
            endpoint=str(first.get("endpoint") or "-"),
            reason=f"ingestion run {run.pk} ended {run.status}: {run.error_message}"[:1000],
            run=run,
        )


EXPECTED_ERRORS: tuple[type[Exception], ...] = (
    PipelineError,
    IngestionError,
    NormalizationError,
    RecomputeError,
)


# ---- where the data comes from ------------------------------------------------------------------


def pipeline_provider(chain: Chain) -> str:
    """ "live" or the name of a replay provider: the chain's `pipeline_provider` parameter, else the
    AURORA_PIPELINE_PROVIDER setting."""
    parameters = chain.parameters or {}
    value = parameters.get("pipeline_provider")
    if value is None:
        value = settings.AURORA_PIPELINE_PROVIDER
    return str(value or LIVE).strip() or LIVE


def ingest_options(provider: str) -> IngestOptions:
    if provider == LIVE:
        return IngestOptions()
    recordings = replay_recordings(provider)
    if recordings is None:
        raise PipelineError(
            f"no replay provider named {provider!r} is registered (providers.yaml, adapter: replay); "
            "use 'live' or sync the registry"
        )
    return IngestOptions(mode=TransportMode.REPLAY, recordings=recordings)


def _chain(chain_id: str) -> Chain:
    chain = Chain.objects.filter(pk=chain_id).first()
    if chain is None:
        raise PipelineError(f"unknown chain {chain_id!r}; sync the registry first")
    if not chain.is_active:
        raise PipelineError(f"chain {chain.pk} is not active")
    return chain


def _stages(stages: Iterable[str]) -> tuple[str, ...]:
    wanted = {str(stage).strip().lower() for stage in stages}
    unknown = sorted(wanted - set(STAGES))
    if unknown:
        raise PipelineError(f"unknown stages: {', '.join(unknown)} (stages: {', '.join(STAGES)})")
    if not wanted:
        raise PipelineError("no stage to run")
    return tuple(stage for stage in STAGES if stage in wanted)


# ---- triggering ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trigger:
    job: Job
    created: bool  # False: a pipeline of that period was already queued or running (this one)

    def describe(self) -> str:
        period = self.job.parameters.get("from_period")
        if self.created:
            return f"period {period}: pipeline queued (job {self.job.pk})"
        return (
            f"period {period}: a pipeline is already {self.job.get_status_display().lower()} "
            f"(job {self.job.pk}); not started again"
        )


def active_pipeline(chain_id: str, period: int) -> Job | None:
    return (
        Job.objects.filter(
            job_type=JobType.PIPELINE,
            status__in=ACTIVE_STATUSES,
            parameters__chain_id=chain_id,
            parameters__from_period=period,
        )
        .order_by("created_at")
        .first()
    )


def pipeline_trigger(
    *, chain_id: str, period: int, provider: str | None = None, stages: Sequence[str] = STAGES
) -> Trigger:
    """Queue the pipeline of one period, unless one is queued or running for it already.

    The check and the insert happen under a lock per chain, so two triggers at the same moment
    (two discoveries, a discovery and an operator) queue one pipeline; the Celery chain is sent
    once the job is committed.
    """
    chain = _chain(chain_id)
    chosen = _stages(stages)
    source = (provider or "").strip() or pipeline_provider(chain)
    if INGEST in chosen:
        ingest_options(source)  # refuse an unknown replay provider before anything is queued
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [lock_id(f"pipeline-trigger:{chain.pk}")])
        jobs_recover()  # a pipeline whose worker died, or whose message was lost, is sent again
        active = active_pipeline(chain.pk, period)
        if active is not None:
            return Trigger(job=active, created=False)
        job = Job.objects.create(
            job_type=JobType.PIPELINE,
            parameters={
                "chain_id": chain.pk,
                "from_period": period,
                "to_period": period,
                "provider": source,
                "stages": list(chosen),
            },
            progress_message=f"period {period}: queued",
            correlation_id=context.current_request().correlation_id,
        )
        transaction.on_commit(lambda: dispatch(job.pk))
    return Trigger(job=job, created=True)


def dispatch(job_id: UUID, *, stages: Sequence[str] | None = None) -> None:
    """Send the job's stages (all, or `stages`) to the workers as one Celery chain; if the broker
    cannot take it, the job says so."""
    from celery import chain as celery_chain

    from operations.tasks import STAGE_TASKS

    job = Job.objects.get(pk=job_id)
    try:
        celery_chain(
            *(STAGE_TASKS[stage].si(str(job.pk)) for stage in (stages or job.parameters["stages"]))
        ).apply_async()
    except Exception as error:
        logger.exception("pipeline job %s could not be queued", job.pk)
        Job.objects.filter(pk=job.pk, status=JobStatus.PENDING).update(
            status=JobStatus.FAILED,
            error=f"could not be queued: {type(error).__name__}: {error}"[:2000],
            progress_message="could not be queued",
            finished_at=timezone.now(),
        )


# ---- discovery ----------------------------------------------------------------------------------


@dataclass
class Discovery:
    chain_id: str
    provider: str = LIVE
    latest_final: int | None = None
    candidates: int = 0  # final periods considered (the window)
    done: int = 0  # of those, already ingested, normalized and recomputed
    started: list[int] = field(default_factory=list)  # pipelines queued now
    running: list[int] = field(default_factory=list)  # pipelines already queued or running: left alone
    deferred: list[int] = field(default_factory=list)  # not done, beyond this run's limit
    jobs: list[str] = field(default_factory=list)  # the jobs queued now
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id,
            "provider": self.provider,
            "latest_final": self.latest_final,
            "candidates": self.candidates,
            "done": self.done,
            "started": self.started,
            "running": self.running,
            "deferred": self.deferred,
            "jobs": self.jobs,
            "error": self.error,
        }

    def describe(self) -> str:
        if self.error:
            return f"{self.chain_id}: {self.error}"
        return (
            f"{self.chain_id}: latest final period {self.latest_final}; {self.done} of {self.candidates} "
            f"done; started {self.started or 'none'}; already running {self.running or 'none'}; "
            f"left for later {self.deferred or 'none'}"
        )


def discover(chain_id: str, *, limit: int | None = None, provider: str | None = None) -> Discovery:
    """Start the pipelines of the chain's final periods not done yet (oldest first, at most
    `limit`, default AURORA_PIPELINE_MAX_PERIODS_PER_TICK), fetching from `provider` (default: the
    chain's, see `pipeline_provider`)."""
    chain = _chain(chain_id)
    jobs_recover()  # periods whose pipeline lost its worker or its message are taken up again
    result = Discovery(chain_id=chain.pk, provider=(provider or "").strip() or pipeline_provider(chain))
    options = ingest_options(result.provider)
    try:
        head = chain_head(chain_id=chain.pk, options=options)
    except ProviderError as error:
        result.error = f"the chain head could not be read: {error}"
        record_failure(chain_id=chain.pk, message=result.error, error=error)
        logger.warning("discovery %s", result.describe())
        return result
    except IngestionError as error:
        result.error = str(error)
        logger.warning("discovery %s", result.describe())
        return result
    result.latest_final = head.latest_final_period
    if head.latest_final_period is None:
        return result
    window = candidate_periods(chain, head.latest_final_period, options)
    done = done_periods(chain, window)
    result.candidates, result.done = len(window), len(done)
    todo = [period for period in window if period not in done]
    room = settings.AURORA_PIPELINE_MAX_PERIODS_PER_TICK if limit is None else limit
    for period in todo:
        active = active_pipeline(chain.pk, period)
        if active is not None:
            result.running.append(period)
        elif room <= 0:
            result.deferred.append(period)
        else:
            trigger = pipeline_trigger(chain_id=chain.pk, period=period, provider=result.provider)
            if trigger.created:
                result.started.append(period)
                result.jobs.append(str(trigger.job.pk))
                room -= 1
            else:
                result.running.append(period)
    logger.info("discovery %s", result.describe())
    return result


def candidate_periods(chain: Chain, latest_final: int, options: IngestOptions) -> list[int]:
    """The final periods discovery looks at, oldest first: the lookback window ending at the newest
    final period, not before the chain's `pipeline_from_period`; when replaying, the recorded ones."""
    parameters = chain.parameters or {}
    lookback = int(parameters.get("pipeline_lookback_periods") or settings.AURORA_PIPELINE_LOOKBACK_PERIODS)
    step = chain.period_step
    first = max(0, latest_final - (max(lookback, 1) - 1) * step)
    if parameters.get("pipeline_from_period") is not None:
        first = max(first, int(parameters["pipeline_from_period"]))
    # Identifiers counted back from the newest final one, so windows stay aligned.
    periods = sorted(range(latest_final, first - 1, -step))
    if options.mode is TransportMode.REPLAY and options.recordings is not None:
        recorded = set(recorded_periods(chain_id=chain.pk, recordings=options.recordings))
        periods = [period for period in periods if period in recorded]
    return periods


def _latest_statuses(model: type[Model], chain: Chain, identifiers: list[str]) -> dict[str, str]:
    """Period identifier -> status of the newest run of `model` for it (DISTINCT ON, one query)."""
    rows = (
        model._default_manager.filter(chain=chain, period__period_identifier__in=identifiers)
        .order_by("period_id", "-started_at")
        .distinct("period_id")
        .values_list("period__period_identifier", "status")
    )
    return dict(rows)


def done_periods(chain: Chain, periods: Sequence[int]) -> set[int]:
    """The periods whose latest ingestion, normalization and computation runs all succeeded."""
    identifiers = [str(period) for period in periods]
    ingested = _latest_statuses(IngestionRun, chain, identifiers)
    normalized = _latest_statuses(NormalizationRun, chain, identifiers)
    computed = _latest_statuses(ComputationRun, chain, identifiers)
    return {
        int(identifier)
        for identifier in identifiers
        if ingested.get(identifier) == IngestionStatus.SUCCESS
        and normalized.get(identifier) == NormalizationStatus.SUCCESS
        and computed.get(identifier) == ComputationStatus.SUCCESS
    }


def active_chain_ids() -> list[str]:
    return list(Chain.objects.filter(is_active=True).order_by("id").values_list("id", flat=True))


# ---- running a stage ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StageOutcome:
    job_id: str
    stage: str
    status: str  # SUCCESS, FAILED, BUSY, SKIPPED, MISSING
    proceed: bool  # whether the next stage of the chain should run
    period: int | None = None
    run_id: str | None = None
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "stage": self.stage,
            "period": self.period,
            "status": self.status,
            "run_id": self.run_id,
            "message": self.message,
        }


def stage_lock(chain_id: str, period: int, stage: str) -> str:
    return f"pipeline:{chain_id}:{period}:{stage}"


def stage_states(job: Job) -> dict[str, dict[str, Any]]:
    return dict((job.result or {}).get("stages") or {})


def run_stage(
    job_id: str | UUID, stage: str, *, attempt: int = 0, final_attempt: bool = True
) -> StageOutcome:
    """Run one stage of a pipeline job.

    Raises ProviderOutage when providers failed during ingestion (the task retries it; on the
    final attempt the job is marked failed first), and StageNotReady when an earlier period of the
    chain has yet to pass this stage (the task retries it; on the final attempt it goes ahead)."""
    set_database_scope(role=SYSTEM)
    job = Job.objects.filter(pk=job_id, job_type=JobType.PIPELINE).first()
    if job is None:
        return StageOutcome(str(job_id), stage, MISSING, proceed=False, message="no such pipeline job")
    chain_id, period = str(job.parameters["chain_id"]), int(job.parameters["from_period"])
    with patient_lock(stage_lock(chain_id, period, stage), grace=BUSY_GRACE_SECONDS) as acquired:
        if not acquired:
            message = f"{stage} of {chain_id} period {period} is already running; this delivery does nothing"
            logger.info("pipeline job %s: %s", job.pk, message)
            return StageOutcome(str(job.pk), stage, BUSY, proceed=False, period=period, message=message)
        with advisory_lock(f"job:{job.pk}") as own:  # what operations.recovery looks for
            if not own:
                message = f"job {job.pk} is running another stage; this delivery does nothing"
                return StageOutcome(str(job.pk), stage, BUSY, proceed=False, period=period, message=message)
            job.refresh_from_db()
            done = _already_done(job, stage)
            if done is not None:
                return done
            serial: AbstractContextManager[None] = nullcontext()
            if stage in ORDERED_STAGES:
                earlier = None if final_attempt else _earlier_unfinished(job, stage)
                if earlier is not None:
                    message = f"period {period}: {stage} waits for period {earlier} to pass it first"
                    job.status, job.progress_message = JobStatus.PENDING, message
                    job.heartbeat_at = timezone.now()
                    job.save(update_fields=["status", "progress_message", "heartbeat_at"])
                    raise StageNotReady(message)
                serial = serial_lock(f"pipeline:{chain_id}:{stage}")
            token = context.enter(context.RequestContext(correlation_id=job.correlation_id))
            try:
                with serial:
                    return _run(job, stage, period, attempt=attempt, final_attempt=final_attempt)
            finally:
                context.leave(token)


def _earlier_unfinished(job: Job, stage: str) -> int | None:
    """The oldest earlier period of the chain whose queued or running pipeline has yet to pass
    `stage` and is not passing it right now: the stage waits for it (reconciliation compares a
    period with the one before, and the periods of a month share their statements). One that is
    running the stage now is waited for on the chain's stage lock instead, at once."""
    earlier = Job.objects.filter(
        job_type=JobType.PIPELINE,
        status__in=ACTIVE_STATUSES,
        parameters__chain_id=job.parameters["chain_id"],
        parameters__from_period__lt=job.parameters["from_period"],
    ).exclude(pk=job.pk)
    for other in sorted(earlier, key=lambda other: int(other.parameters["from_period"])):
        if stage not in other.parameters.get("stages", []):
            continue
        status = stage_states(other).get(stage, {}).get("status")
        if status not in (JobStatus.SUCCESS, JobStatus.RUNNING):
            return int(other.parameters["from_period"])
    return None


@contextmanager
def patient_lock(name: str, *, grace: float) -> Iterator[bool]:
    """Try the session advisory lock `name` for up to `grace` seconds; yields whether it was taken.
    The grace covers a process that was just killed: PostgreSQL frees its locks a moment later."""
    deadline = time.monotonic() + grace
    while True:
        with advisory_lock(name) as acquired:
            if acquired or time.monotonic() >= deadline:
                yield acquired
                return
        time.sleep(0.1)


@contextmanager
def serial_lock(name: str) -> Iterator[None]:
    """Wait for the session advisory lock `name`, hold it for the block (freed if the process dies)."""
    key = lock_id(name)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [key])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


def _already_done(job: Job, stage: str) -> StageOutcome | None:
    """A stage already done for the job (a redelivery after it finished) is not run again; the
    chain goes on only if the next stage has not started (the first delivery died before sending it)."""
    states = stage_states(job)
    period = int(job.parameters["from_period"])
    if states.get(stage, {}).get("status") != JobStatus.SUCCESS and job.status != JobStatus.SUCCESS:
        return None
    stages = list(job.parameters["stages"])
    following = stages[stages.index(stage) + 1] if stage in stages and stage != stages[-1] else None
    proceed = following is not None and following not in states and job.status in ACTIVE_STATUSES
    message = f"{stage} of period {period} is already done for this job"
    return StageOutcome(str(job.pk), stage, SKIPPED, proceed=proceed, period=period, message=message)


def _run(job: Job, stage: str, period: int, *, attempt: int, final_attempt: bool) -> StageOutcome:
    chain_id = str(job.parameters["chain_id"])
    _record(job, stage, status=JobStatus.RUNNING, attempt=attempt + 1)
    try:
        run, detail = STAGE_RUNNERS[stage](job, chain_id, period)
    except ProviderOutage as error:
        if final_attempt:
            _record(job, stage, status=JobStatus.FAILED, attempt=attempt + 1, error=str(error), run=error.run)
            _fail(job, f"{stage}: {error} (gave up after {attempt + 1} attempts)")
        else:
            _record(job, stage, status=RETRYING, attempt=attempt + 1, error=str(error), run=error.run)
            job.status = JobStatus.PENDING  # until the retry: not abandoned, waiting
            job.progress_message = f"period {period}: {stage} failed (attempt {attempt + 1}), retrying"[:255]
            job.heartbeat_at = timezone.now()
            job.save(update_fields=["status", "progress_message", "heartbeat_at"])
        raise
    except EXPECTED_ERRORS as error:
        _record(job, stage, status=JobStatus.FAILED, attempt=attempt + 1, error=str(error))
        _fail(job, f"{stage}: {error}")
        return StageOutcome(
            str(job.pk), stage, JobStatus.FAILED, proceed=False, period=period, message=str(error)
        )
    except BaseException as error:  # a bug, the database, the soft time limit: the job says so
        text = f"{type(error).__name__}: {error}"
        _record(job, stage, status=JobStatus.FAILED, attempt=attempt + 1, error=text)
        _fail(job, f"{stage}: {text}")
        raise
    run_id = str(run.pk)
    if run.status != IngestionStatus.SUCCESS:  # the same word in every layer's statuses
        error_text = f"{run.status}: {run.error_message or 'see the run'}"
        _record(job, stage, status=JobStatus.FAILED, attempt=attempt + 1, error=error_text, run=run)
        _fail(job, f"{stage}: {error_text}")
        return StageOutcome(str(job.pk), stage, JobStatus.FAILED, False, period, run_id, error_text)
    _record(job, stage, status=JobStatus.SUCCESS, attempt=attempt + 1, run=run, message=detail)
    _advance(job, stage)
    return StageOutcome(str(job.pk), stage, JobStatus.SUCCESS, proceed=True, period=period, run_id=run_id)


def _record(
    job: Job,
    stage: str,
    *,
    status: str,
    attempt: int,
    run: Any = None,
    error: str = "",
    message: str = "",
) -> None:
    """Write the stage's state into the job (visible at once: outside any transaction)."""
    states = stage_states(job)
    previous = states.get(stage, {})
    now = timezone.now()
    states[stage] = {
        "status": str(status),
        "attempts": attempt,
        "run_id": str(run.pk) if run is not None else previous.get("run_id"),
        "detail": message,
        "error": error[:2000],
        "started_at": now.isoformat() if status == JobStatus.RUNNING else previous.get("started_at"),
        "updated_at": now.isoformat(),
    }
    counts: dict[str, int] = {}
    for state in states.values():
        counts[state["status"]] = counts.get(state["status"], 0) + 1
    job.result = {"stages": states, "counts": counts}
    job.heartbeat_at = now
    period = job.parameters["from_period"]
    if status in (JobStatus.RUNNING,):
        job.status, job.finished_at = JobStatus.RUNNING, None
        job.started_at = job.started_at or now
        job.error = ""
        job.progress_message = f"period {period}: {stage} running"
    fields = ["result", "status", "started_at", "finished_at", "error", "progress_message", "heartbeat_at"]
    job.save(update_fields=fields)


def _advance(job: Job, stage: str) -> None:
    stages = list(job.parameters["stages"])
    index = stages.index(stage) + 1
    period = job.parameters["from_period"]
    if index == len(stages):
        job.status, job.progress, job.finished_at = JobStatus.SUCCESS, 100, timezone.now()
        job.progress_message = f"period {period}: done ({', '.join(stages)})"
    else:
        job.status = JobStatus.PENDING  # waiting for its next stage
        job.progress = min(99, index * 100 // len(stages))
        job.progress_message = f"period {period}: {stage} done, {stages[index]} queued"
    job.heartbeat_at = timezone.now()
    job.save(update_fields=["status", "progress", "progress_message", "finished_at", "heartbeat_at"])


def _fail(job: Job, error: str) -> None:
    job.status, job.error, job.finished_at = JobStatus.FAILED, error[:4000], timezone.now()
    job.started_at, job.heartbeat_at = job.started_at or job.finished_at, job.finished_at
    job.progress_message = f"period {job.parameters['from_period']}: failed"
    fields = ["status", "error", "finished_at", "started_at", "progress_message", "heartbeat_at"]
    job.save(update_fields=fields)


# ---- the stages ---------------------------------------------------------------------------------


def _ingest(job: Job, chain_id: str, period: int) -> tuple[Any, str]:
    options = ingest_options(str(job.parameters.get("provider") or LIVE))
    runs = ingest_range(chain_id=chain_id, first=period, last=period, options=options)
    run = next((r for r in runs if r.period is not None and r.period.period_identifier == str(period)), None)
    if run is None:
        listing = next((r for r in runs if r.period is None), None)
        if listing is not None and listing.failures:
            raise ProviderOutage.of(listing)
        raise PipelineError(f"period {period} of {chain_id} is not final yet")
    if run.status in (IngestionStatus.PARTIAL, IngestionStatus.FAILED) and run.failures:
        raise ProviderOutage.of(run)
    staged = StagingPayload.objects.filter(period=run.period).count()
    detail = (
        f"{staged} payloads staged ({run.records_staged} new); items: {run.items_succeeded} fetched, "
        f"{run.items_skipped} already staged, {run.items_failed} failed"
    )
    return run, detail


CANONICAL = (CanonicalValidatorFees, CanonicalValidatorMev, CanonicalStakeReward, CanonicalValidatorMeta)


def _normalize(job: Job, chain_id: str, period: int) -> tuple[Any, str]:
    (run,) = normalize_range(
        chain_id=chain_id, first=period, last=period, triggered_by=f"pipeline job {job.pk}"
    )
    current = sum(
        model.objects.filter(period=run.period, superseded_at__isnull=True).count() for model in CANONICAL
    )
    detail = (
        f"{current} canonical rows ({run.rows_inserted} new, {run.rows_superseded} superseded); "
        f"{run.validators_unchanged} of {run.validators_total} validators' inputs unchanged"
    )
    return run, detail


def _recompute(job: Job, chain_id: str, period: int) -> tuple[Any, str]:
    (run,) = recompute_range(
        chain_id=chain_id, first=period, last=period, triggered_by=f"pipeline job {job.pk}"
    )
    chain = run.period.chain
    pnl = ValidatorPnl.objects.filter(period=run.period).count()
    lines = CommissionLine.objects.filter(period=run.period).aggregate(
        n=Count("pk"), total=Sum("final_amount_native")
    )
    commission = token_amount(lines["total"] or 0, chain.native_decimals, chain.display_symbol)
    changes = (
        "inputs unchanged"
        if run.inputs_unchanged
        else f"{run.pnl_written} P&L written, lines {run.lines_inserted} new, {run.lines_updated} updated"
    )
    detail = f"P&L of {pnl} validators; {lines['n']} commission lines, {commission} ({changes})"
    return run, detail


STAGE_RUNNERS: dict[str, Callable[[Job, str, int], tuple[Any, str]]] = {
    INGEST: _ingest,
    NORMALIZE: _normalize,
    RECOMPUTE: _recompute,
}


# ---- statements and reconciliation --------------------------------------------------------------


def previous_month(today: date | None = None) -> str:
    today = today or timezone.now().date()
    year, month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    return f"{year:04d}-{month:02d}"


def _month_bounds(month: str) -> tuple[datetime, datetime]:
    year, number = (int(part) for part in month.split("-"))
    start = datetime(year, number, 1, tzinfo=UTC)
    end = datetime(year + (number == 12), number % 12 + 1, 1, tzinfo=UTC)
    return start, end


def month_periods(chain: Chain, month: str) -> QuerySet[Period]:
    """The chain's final periods whose statement month is `month` (they end within it)."""
    start, end = _month_bounds(month)
    return Period.objects.filter(chain=chain, is_finalized=True, period_end__gt=start, period_end__lte=end)


def draft_statements(*, month: str | None = None) -> dict[str, Any]:
    """Make sure every partner with commission lines in `month` (default: last month) has that
    month's statement, as a DRAFT if it is new, with its lines and totals.

    Recompute already creates the statements and keeps their totals as it writes lines; this is
    the monthly check behind it: it creates a statement only for lines left without one, and
    refreshes the totals of the month's open statements (a frozen statement is never touched).
    """
    month = month or previous_month()
    result: dict[str, Any] = {"month": month, "chains": {}}
    for chain in Chain.objects.filter(is_active=True).order_by("id"):
        periods = month_periods(chain, month)
        lines = CommissionLine.objects.filter(chain=chain, period__in=periods, adjusts_statement__isnull=True)
        partners = set(lines.values_list("partner_id", flat=True).distinct())
        created = 0
        with transaction.atomic():
            statements = {s.partner_id: s for s in Statement.objects.filter(chain=chain, month=month)}
            for partner_id in sorted(partners - set(statements), key=str):
                statements[partner_id] = Statement.objects.create(
                    partner_id=partner_id, chain=chain, month=month, status=StatementStatus.DRAFT
                )
                created += 1
            for partner_id in partners:
                statement = statements[partner_id]
                if statement.status not in FROZEN:
                    lines.filter(partner_id=partner_id, statement__isnull=True).update(statement=statement)
            stale = _stale_totals([s for s in statements.values() if s.status not in FROZEN])
            refresh_statements(stale)
        by_status: dict[str, int] = {}
        for statement in statements.values():
            by_status[str(statement.status)] = by_status.get(str(statement.status), 0) + 1
        result["chains"][chain.pk] = {
            "partners_with_lines": len(partners),
            "statements": len(statements),
            "created": created,
            "refreshed": len(stale),
            "by_status": by_status,
        }
        logger.info(
            "statements %s %s: %d partners with lines, %d statements (%d created), %s",
            chain.pk,
            month,
            len(partners),
            len(statements),
            created,
            by_status,
        )
    return result


def _stale_totals(statements: Sequence[Statement]) -> list[Statement]:
    """The statements whose stored totals differ from their lines (refreshing one waiting for
    approval sends it back to draft, so only those that need it are refreshed)."""
    sums = {
        row["statement"]: (row["total"], row["count"])
        for row in CommissionLine.objects.filter(statement__in=statements)
        .values("statement")
        .annotate(total=Sum("final_amount_native"), count=Count("pk"))
    }
    stale = []
    for statement in statements:
        total, count = sums.get(statement.pk, (Decimal(0), 0))
        if (statement.total_commission_native, statement.line_count) != (total or Decimal(0), count):
            stale.append(statement)
    return stale


def reconciliation_summary() -> dict[str, Any]:
    """Open reconciliation findings per active chain: those of each period's latest report, by
    severity, with the periods that have errors. Logged, and returned."""
    latest = (
        ReconciliationReport.objects.filter(chain__is_active=True)
        .order_by("chain_id", "period_id", "-created_at")
        .distinct("chain_id", "period_id")
        .values_list("pk", flat=True)
    )
    counts = (
        ReconciliationFinding.objects.filter(report_id__in=list(latest))
        .values("chain_id", "severity")
        .annotate(n=Count("pk"))
    )
    errors = (
        ReconciliationReport.objects.filter(pk__in=list(latest), error_count__gt=0)
        .order_by("period__period_start")
        .values_list("chain_id", "period__period_identifier")
    )
    chains: dict[str, dict[str, Any]] = {
        chain_id: {"INFO": 0, "WARNING": 0, "ERROR": 0, "periods_with_errors": []}
        for chain_id in active_chain_ids()
    }
    for row in counts:
        chains.setdefault(row["chain_id"], {"INFO": 0, "WARNING": 0, "ERROR": 0, "periods_with_errors": []})
        chains[row["chain_id"]][row["severity"]] = row["n"]
    for chain_id, identifier in errors:
        chains[chain_id]["periods_with_errors"].append(identifier)
    for chain_id, summary in chains.items():
        log = logger.warning if summary["ERROR"] else logger.info
        log(
            "reconciliation %s: %d errors, %d warnings, %d info open; periods with errors: %s",
            chain_id,
            summary["ERROR"],
            summary["WARNING"],
            summary["INFO"],
            ", ".join(summary["periods_with_errors"]) or "none",
        )
    return {"chains": chains}


__all__ = [
    "STAGES",
    "Discovery",
    "PipelineError",
    "ProviderOutage",
    "StageOutcome",
    "Trigger",
    "discover",
    "draft_statements",
    "pipeline_trigger",
    "reconciliation_summary",
    "run_stage",
]
