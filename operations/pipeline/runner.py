"""Running a stage of a pipeline job: its locks, the wait for earlier periods, and the job's
bookkeeping (each stage's state, progress and outcome)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.db import connection
from django.utils import timezone

from aurora.common import context
from aurora.common.dbscope import SYSTEM, set_database_scope
from aurora.common.locks import advisory_lock, lock_id
from ingestion.models import IngestionStatus
from operations.models import ACTIVE_STATUSES, Job, JobStatus, JobType
from operations.pipeline.common import (
    BUSY,
    BUSY_GRACE_SECONDS,
    EXPECTED_ERRORS,
    MISSING,
    ORDERED_STAGES,
    RETRYING,
    SKIPPED,
    ProviderOutage,
    StageNotReady,
)
from operations.pipeline.stages import STAGE_RUNNERS

logger = logging.getLogger(__package__)  # "operations.pipeline", as before the split


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
    period with the one before). One that is
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
