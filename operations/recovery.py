"""Crash recovery: jobs whose worker died are sent again (or failed with the reason) by themselves.

A worker holds the PostgreSQL advisory lock `job:<id>` while it runs a job or a pipeline stage;
PostgreSQL frees it the moment the worker's connection goes (a SIGKILL, a crash, a lost host once
TCP keepalives give up). So a job is looked at only when nobody holds its lock:

- RUNNING with the lock free: its worker died mid-run. It goes back to PENDING and is sent again
  (a pipeline: from the stage that was interrupted on), at most `AURORA_JOB_MAX_RECOVERIES` times;
  then it fails, saying the worker stopped each time. The layers are idempotent, so a stage run
  again ends with the rows of an uninterrupted run.
- PENDING with the lock free and no word from a worker for `AURORA_JOB_REQUEUE_AFTER_SECONDS`
  (doubling with each resend; a stage waiting to retry a provider adds its backoff): its message
  may be stranded in a dead worker's prefetch until Redis's visibility timeout (hours). It is sent
  again; should the first message arrive after all, the stage's lock and its "already done" check
  make that delivery do nothing.

The sweep runs when a worker starts, every minute from beat, and while `run_pipeline --wait`
waits, so nothing waits on a dead worker for long. The lock is looked up in `pg_locks` rather than
taken, so a sweep never makes a stage's own delivery find its job busy.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import connection, connections, transaction
from django.utils import timezone

from aurora.common.dbscope import SYSTEM, set_database_scope
from aurora.common.locks import advisory_lock, lock_id
from operations.models import ACTIVE_STATUSES, Job, JobStatus, JobType

logger = logging.getLogger(__name__)

INTERRUPTED = "INTERRUPTED"  # a pipeline stage whose worker died while running it
RETRYING = "RETRYING"  # a pipeline stage waiting to retry its providers (operations.pipeline)
RESEND_SPACING_CAP = 8  # resends space out 1, 2, 4 … 256 times the base delay, no further


@dataclass
class Recovery:
    resent: list[str] = field(default_factory=list)  # job ids sent again
    failed: list[str] = field(default_factory=list)  # job ids given up on

    def as_dict(self) -> dict[str, Any]:
        return {"resent": self.resent, "failed": self.failed}

    def __bool__(self) -> bool:
        return bool(self.resent or self.failed)


def jobs_recover(*, now: datetime | None = None) -> Recovery:
    """Send again, or fail, every active job that no live worker holds (see the module's doc).

    Safe to call from several processes at once (one sweep at a time) and inside a transaction
    (the jobs are sent once it commits)."""
    set_database_scope(role=SYSTEM)
    recovery = Recovery()
    with advisory_lock("jobs:recovery") as alone:
        if not alone:
            return recovery  # another sweep is under way
        held = _held_job_locks()
        moment = now or timezone.now()
        for job in Job.objects.filter(status__in=ACTIVE_STATUSES).order_by("created_at"):
            if lock_id(f"job:{job.pk}") in held:
                continue
            if job.status == JobStatus.RUNNING:
                _recover_interrupted(job, moment, recovery)
            elif _idle(job, moment) > resend_after(job):
                _resend_waiting(job, moment, recovery)
    if recovery:
        logger.warning("jobs recovered: %s", recovery.as_dict())
    return recovery


def recover_in_background() -> threading.Thread:
    """Run one sweep on a thread of its own (a starting worker must not wait on the database)."""

    def sweep() -> None:
        try:
            jobs_recover()
        except Exception:
            logger.exception("the recovery sweep at worker start failed; beat's sweep will retry")
        finally:
            connections.close_all()

    thread = threading.Thread(target=sweep, name="aurora-job-recovery", daemon=True)
    thread.start()
    return thread


def resend_after(job: Job) -> timedelta:
    """How long a PENDING job may go without word from a worker before it is sent again."""
    base = timedelta(seconds=settings.AURORA_JOB_REQUEUE_AFTER_SECONDS)
    spacing: timedelta = base * (1 << min(job.resends, RESEND_SPACING_CAP))
    if any(state.get("status") == RETRYING for state in _stage_states(job).values()):
        spacing += timedelta(seconds=settings.AURORA_PIPELINE_RETRY_BACKOFF_MAX_SECONDS)
    return spacing


def _held_job_locks() -> set[int]:
    """The advisory lock keys held right now by any session (a bigint key is split in two)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (classid::bigint << 32) | objid::bigint FROM pg_locks "
            "WHERE locktype = 'advisory' AND objsubid = 1 AND granted"
        )
        return {_signed64(row[0]) for row in cursor.fetchall()}


def _signed64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _idle(job: Job, now: datetime) -> timedelta:
    return now - max(moment for moment in (job.created_at, job.heartbeat_at) if moment is not None)


def _stage_states(job: Job) -> dict[str, dict[str, Any]]:
    return dict((job.result or {}).get("stages") or {})


def _recover_interrupted(job: Job, now: datetime, recovery: Recovery) -> None:
    limit = settings.AURORA_JOB_MAX_RECOVERIES
    states = _stage_states(job)
    running = [stage for stage, state in states.items() if state.get("status") == JobStatus.RUNNING]
    where = f" during {running[0]}" if running else ""
    period = f"period {job.parameters.get('from_period')}: " if job.job_type == JobType.PIPELINE else ""
    if job.recoveries >= limit:
        changed = _update_if_unchanged(
            job,
            status=JobStatus.FAILED,
            error=(
                f"the worker stopped{where} {job.recoveries + 1} times; not sent again "
                f"(AURORA_JOB_MAX_RECOVERIES={limit})"
            ),
            progress_message=f"{period}failed: its worker stopped"[:255],
            finished_at=now,
            heartbeat_at=now,
        )
        if changed:
            recovery.failed.append(str(job.pk))
        return
    for stage in running:
        states[stage] = {**states[stage], "status": INTERRUPTED, "error": "its worker stopped"}
    result = {**(job.result or {}), "stages": states} if job.job_type == JobType.PIPELINE else job.result
    changed = _update_if_unchanged(
        job,
        status=JobStatus.PENDING,
        result=result,
        recoveries=job.recoveries + 1,
        progress_message=(
            f"{period}the worker stopped{where}; sent again (recovery {job.recoveries + 1} of {limit})"
        )[:255],
        heartbeat_at=now,
    )
    if changed:
        recovery.resent.append(str(job.pk))
        _send_on_commit(job.pk)


def _resend_waiting(job: Job, now: datetime, recovery: Recovery) -> None:
    changed = _update_if_unchanged(job, resends=job.resends + 1, heartbeat_at=now)
    if changed:
        recovery.resent.append(str(job.pk))
        _send_on_commit(job.pk)


def _update_if_unchanged(job: Job, **values: Any) -> bool:
    """Write `values` only if no worker touched the job since it was read (one that just took it
    up has moved its status or heartbeat)."""
    return bool(
        Job.objects.filter(pk=job.pk, status=job.status, heartbeat_at=job.heartbeat_at).update(**values)
    )


def _send_on_commit(job_id: UUID) -> None:
    transaction.on_commit(lambda: send_again(job_id))


def send_again(job_id: UUID) -> None:
    """Queue the job's work again: a pipeline from its first stage not done, any other job whole."""
    from operations import services
    from operations.pipeline import trigger

    job = Job.objects.filter(pk=job_id, status__in=ACTIVE_STATUSES).first()
    if job is None:
        return
    if job.job_type == JobType.PIPELINE:
        states = _stage_states(job)
        done = {stage for stage, state in states.items() if state.get("status") == JobStatus.SUCCESS}
        remaining = [stage for stage in job.parameters.get("stages", []) if stage not in done]
        if remaining:
            trigger.dispatch(job.pk, stages=remaining)
    else:
        services.dispatch(job.pk)
