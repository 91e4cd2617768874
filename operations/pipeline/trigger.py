"""Triggering a period's pipeline: the PIPELINE job (one per chain and period at a time) and the
Celery chain of its stages, sent once the job is committed."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from django.db import connection, transaction
from django.utils import timezone

from aurora.common import context
from aurora.common.locks import lock_id
from operations.models import ACTIVE_STATUSES, Job, JobStatus, JobType
from operations.pipeline.common import INGEST, STAGES, _chain, _stages, ingest_options, pipeline_provider
from operations.recovery import jobs_recover

logger = logging.getLogger(__package__)  # "operations.pipeline", as before the split


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
