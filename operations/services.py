"""Background jobs: queue a range of ingestion, normalization or recomputation, and run it.

`job_enqueue` checks the request (the chain exists and is active, the range is whole numbers in
order), writes the job and its audit entry in one transaction, and hands the job to Celery once
that transaction commits. `job_run` (called by the Celery task) drives the layer's own services
period by period, so the job shows its progress while it runs, and ends SUCCESS or FAILED with the
error. The services are idempotent and hold a lock per period, so running a job again, or two jobs
over the same range, leaves the same rows as running it once.

The registry sync from the YAML files, started from the admin, is audited here too.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone

from accounts.access import Capability, has_capability
from accounts.audit import audit_record, snapshot
from accounts.models import AuditAction, User
from aurora.common import context
from aurora.common.dbscope import SYSTEM, set_database_scope
from aurora.common.locks import advisory_lock, lock_id
from canonical.services import NormalizationError, normalize_range
from chains.models import Chain, Period
from commissions.services.recompute import RecomputeError, recompute_range
from ingestion.providers.registry import TransportMode
from ingestion.services import IngestionError, IngestOptions, ingest_range, replay_recordings
from operations.models import ACTIVE_STATUSES, Job, JobStatus, JobType
from operations.recovery import jobs_recover

logger = logging.getLogger(__name__)

REPLAY_PROVIDER = "replay"

REQUIRED_CAPABILITY: dict[str, Capability] = {
    JobType.INGEST_RANGE: Capability.RUN_OPERATIONS,
    JobType.NORMALIZE_RANGE: Capability.RUN_OPERATIONS,
    JobType.RECOMPUTE_RANGE: Capability.RECOMPUTE,
}
AUDIT_ACTION: dict[str, AuditAction] = {
    JobType.INGEST_RANGE: AuditAction.INGESTION_RUN,
    JobType.NORMALIZE_RANGE: AuditAction.NORMALIZATION_RUN,
    JobType.RECOMPUTE_RANGE: AuditAction.RECOMPUTE,
}
PARAMETERS: dict[str, frozenset[str]] = {
    JobType.INGEST_RANGE: frozenset({"chain_id", "from_period", "to_period", "replay"}),
    JobType.NORMALIZE_RANGE: frozenset({"chain_id", "from_period", "to_period"}),
    JobType.RECOMPUTE_RANGE: frozenset({"chain_id", "from_period", "to_period"}),
}
JOB_FIELDS = ["id", "job_type", "parameters", "status", "requested_by_id", "correlation_id"]
_WHOLE_NUMBER = re.compile(r"[0-9]+")


class JobError(ValueError):
    """The job cannot be carried out as asked; the message says why, in the user's terms."""


# Refusals by the layers' services: their message is meant for the user as it stands.
EXPECTED_ERRORS: tuple[type[Exception], ...] = (JobError, IngestionError, NormalizationError, RecomputeError)


# ---- queueing -----------------------------------------------------------------------------------


def job_type_of(value: str) -> JobType:
    try:
        return JobType(value)
    except ValueError:
        raise JobError(f"unknown job type {value!r}") from None


def job_parameters(job_type: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters checked and normalised (periods as integers), or JobError."""
    kind = job_type_of(job_type)
    if kind not in PARAMETERS:
        raise JobError(f"{kind.label.lower()} jobs are started by the pipeline (manage.py run_pipeline)")
    if not isinstance(parameters, Mapping):
        raise JobError("parameters must be an object with chain_id, from_period and to_period")
    unknown = sorted(set(parameters) - PARAMETERS[kind])
    if unknown:
        raise JobError(f"unknown parameters for {kind.label.lower()}: {', '.join(unknown)}")
    chain_id = parameters.get("chain_id")
    if not isinstance(chain_id, str) or not chain_id.strip():
        raise JobError("chain_id is required")
    chain = Chain.objects.filter(pk=chain_id.strip()).first()
    if chain is None:
        raise JobError(f"unknown chain {chain_id!r}; sync the registry first")
    if not chain.is_active:
        raise JobError(f"chain {chain.pk} is not active")
    first = _period_number("from_period", parameters.get("from_period"))
    last = _period_number("to_period", parameters.get("to_period"))
    if first > last:
        raise JobError(f"from period {first} is after to period {last}")
    clean: dict[str, Any] = {"chain_id": chain.pk, "from_period": first, "to_period": last}
    if kind == JobType.INGEST_RANGE:
        replay = parameters.get("replay", False)
        if not isinstance(replay, bool):
            raise JobError("replay must be true or false")
        clean["replay"] = replay
    return clean


def _period_number(name: str, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _WHOLE_NUMBER.fullmatch(value.strip()):
        number = int(value.strip())
    else:
        raise JobError(f"{name} must be a whole number (a period identifier such as 850), not {value!r}")
    if number < 0:
        raise JobError(f"{name} must not be negative")
    return number


def job_enqueue(*, job_type: str, parameters: Mapping[str, Any], actor: User | None) -> Job:
    """Check, record and queue a job; nothing is written if the request is refused.

    `actor` None is Aurora itself (a schedule); a user needs the job type's capability.
    """
    kind = job_type_of(job_type)
    if actor is not None and not has_capability(actor, REQUIRED_CAPABILITY[kind]):
        raise PermissionDenied(f"{kind.label} needs the {REQUIRED_CAPABILITY[kind]} capability")
    clean = job_parameters(kind, parameters)
    with transaction.atomic():
        _refuse_overlapping(kind, clean)
        job = Job.objects.create(
            job_type=kind,
            parameters=clean,
            requested_by=actor if actor is not None and actor.pk else None,
            correlation_id=context.current_request().correlation_id,
        )
        audit_record(
            actor=actor,
            action=AUDIT_ACTION[kind],
            resource=job,
            after=snapshot(job, JOB_FIELDS),
            reason=f"queued: {kind.label.lower()} {job.describe_range()}",
            correlation_id=job.correlation_id,
        )
        transaction.on_commit(lambda: dispatch(job.pk))
    return job


def _refuse_overlapping(kind: JobType, params: Mapping[str, Any]) -> None:
    """One active job per type, chain and period at a time: a second (a double click, two people)
    would only find the periods locked and fail. Checked under a lock, so two requests cannot both
    pass."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [lock_id(f"enqueue:{kind}:{params['chain_id']}")])
    jobs_recover()  # a job whose worker died is sent again (or failed), not left blocking
    active = Job.objects.filter(
        job_type=kind,
        status__in=ACTIVE_STATUSES,
        parameters__chain_id=params["chain_id"],
        parameters__from_period__lte=params["to_period"],
        parameters__to_period__gte=params["from_period"],
    ).first()
    if active is not None:
        raise JobError(
            f"{active.get_job_type_display()} {active.describe_range()} is already "
            f"{active.get_status_display().lower()}: wait for it to finish"
        )


def dispatch(job_id: UUID) -> None:
    """Send the job to the workers; if the broker cannot take it, the job says so."""
    from operations.tasks import job_run_task

    try:
        job_run_task.delay(str(job_id))
    except Exception as error:
        logger.exception("job %s could not be queued", job_id)
        Job.objects.filter(pk=job_id, status=JobStatus.PENDING).update(
            status=JobStatus.FAILED,
            error=f"could not be queued: {type(error).__name__}: {error}"[:2000],
            finished_at=timezone.now(),
        )


# ---- running ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSummary:
    period: str | None
    run_id: str
    status: str
    error: str

    @classmethod
    def of(cls, run: Any, period: str | None) -> RunSummary:
        return cls(period=period, run_id=str(run.pk), status=str(run.status), error=run.error_message or "")

    def as_dict(self) -> dict[str, Any]:
        return {"period": self.period, "run_id": self.run_id, "status": self.status, "error": self.error}


class _Progress:
    """Writes the job's progress after each period, visible at once (outside any transaction)."""

    def __init__(self, job: Job, total: int) -> None:
        self.job, self.total, self.done = job, max(total, 1), 0

    def step(self, summary: RunSummary) -> None:
        self.done += 1
        percent = min(99, self.done * 100 // self.total)  # 100 once the job has ended
        message = f"period {summary.period or '?'}: {summary.status} ({self.done} of {self.total})"
        Job.objects.filter(pk=self.job.pk).update(
            progress=percent, progress_message=message[:255], heartbeat_at=timezone.now()
        )


def job_run(job_id: UUID | str) -> Job:
    """Run a queued job to its end. A job already finished, or running in another worker, is left
    alone; one whose worker died is run again (operations.recovery; the services are idempotent)."""
    set_database_scope(role=SYSTEM)
    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        raise JobError(f"no job {job_id}")
    with advisory_lock(f"job:{job.pk}") as acquired:
        if not acquired:
            logger.info("job %s is running in another worker", job.pk)
            return job
        job.refresh_from_db()
        if job.status not in ACTIVE_STATUSES:
            return job
        token = context.enter(context.RequestContext(correlation_id=job.correlation_id))
        try:
            _execute(job)
        finally:
            context.leave(token)
    return job


def _execute(job: Job) -> None:
    job.status, job.started_at, job.finished_at = JobStatus.RUNNING, timezone.now(), None
    job.heartbeat_at = job.started_at
    job.progress, job.progress_message, job.error, job.result = 0, "starting", "", None
    job.save()
    runs: list[RunSummary] = []  # filled as periods finish, so a failure midway keeps what was done
    try:
        params = job_parameters(job.job_type, job.parameters)
        if job.job_type == JobType.INGEST_RANGE:
            _ingest(job, params, runs)
        else:
            _per_period(job, params, runs)
    except EXPECTED_ERRORS as error:
        _end(job, runs, error=str(error))
        return
    except Exception as error:
        logger.exception("job %s failed", job.pk)
        _end(job, runs, error=f"{type(error).__name__}: {error}")
        return
    failed = [run for run in runs if run.status == "FAILED"]
    if not runs:
        _end(job, runs, error=f"no period of {job.describe_range()} is final yet; nothing was done")
    elif failed:
        detail = "; ".join(f"period {run.period or '?'}: {run.error or 'failed'}" for run in failed)
        _end(job, runs, error=f"{len(failed)} of {len(runs)} periods failed: {detail}")
    else:
        _end(job, runs, error="")


def _end(job: Job, runs: Sequence[RunSummary], *, error: str) -> None:
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.status] = counts.get(run.status, 0) + 1
    job.result = {"runs": [run.as_dict() for run in runs], "counts": counts}
    job.finished_at = job.heartbeat_at = timezone.now()
    if error:
        job.refresh_from_db(fields=["progress"])  # as far as it got
        job.status, job.error, job.progress_message = JobStatus.FAILED, error[:4000], "failed"
    else:
        job.status, job.progress = JobStatus.SUCCESS, 100
        summary = ", ".join(f"{n} {status.lower()}" for status, n in sorted(counts.items()))
        job.progress_message = f"done: {len(runs)} period{'s' if len(runs) != 1 else ''} ({summary})"
    job.save()


def _ingest(job: Job, params: dict[str, Any], runs: list[RunSummary]) -> None:
    first, last = params["from_period"], params["to_period"]
    progress = _Progress(job, last - first + 1)  # periods not final yet are skipped

    def on_period(run: Any) -> None:
        summary = RunSummary.of(run, run.period.period_identifier if run.period else None)
        runs.append(summary)
        progress.step(summary)

    options = IngestOptions(on_period=on_period)
    if params.get("replay"):
        recordings = replay_recordings(REPLAY_PROVIDER)
        if recordings is None:
            raise JobError(f"no replay provider named {REPLAY_PROVIDER!r} is registered; sync the registry")
        options = IngestOptions(mode=TransportMode.REPLAY, recordings=recordings, on_period=on_period)
    for run in ingest_range(chain_id=params["chain_id"], first=first, last=last, options=options):
        if str(run.pk) not in {summary.run_id for summary in runs}:  # e.g. the periods were not listed
            runs.append(RunSummary.of(run, run.period.period_identifier if run.period else None))


def _per_period(job: Job, params: dict[str, Any], runs: list[RunSummary]) -> None:
    """Normalize or recompute one final period at a time, so progress follows the periods."""
    service: Callable[..., Sequence[Model]] = (
        normalize_range if job.job_type == JobType.NORMALIZE_RANGE else recompute_range
    )
    chain_id, first, last = params["chain_id"], params["from_period"], params["to_period"]
    periods = final_periods(chain_id=chain_id, first=first, last=last)
    if not periods:
        needed = (
            "ingest it first" if job.job_type == JobType.NORMALIZE_RANGE else "ingest and normalize first"
        )
        raise JobError(f"no final period of {chain_id} between {first} and {last} is known; {needed}")
    progress = _Progress(job, len(periods))
    for number in periods:
        for run in service(chain_id=chain_id, first=number, last=number, triggered_by=f"job {job.pk}"):
            summary = RunSummary.of(run, str(number))
            runs.append(summary)
            progress.step(summary)


def final_periods(*, chain_id: str, first: int, last: int) -> list[int]:
    """The final periods of the chain whose identifier is a number within first..last, in order."""
    identifiers = Period.objects.filter(chain_id=chain_id, is_finalized=True).values_list(
        "period_identifier", flat=True
    )
    return sorted(
        int(identifier)
        for identifier in identifiers
        if identifier.isdigit() and first <= int(identifier) <= last
    )
