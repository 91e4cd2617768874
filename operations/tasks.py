"""Celery tasks of the operations app: thin wrappers over `operations.services` and
`operations.pipeline`. Every task returns a small JSON-able result.

The schedules (django-celery-beat, editable in the admin) are created by migrations 0003 and 0004.
"""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task
from django.conf import settings

from aurora.common.dbscope import SYSTEM, set_database_scope
from ingestion.providers.errors import ProviderError
from operations import pipeline
from operations.recovery import jobs_recover
from operations.services import job_run

STAGE_LIMITS: dict[str, Any] = {
    "acks_late": True,
    "soft_time_limit": settings.AURORA_PIPELINE_STAGE_SOFT_TIME_LIMIT_SECONDS,
    "time_limit": settings.AURORA_PIPELINE_STAGE_TIME_LIMIT_SECONDS,
}
TASK_LIMITS: dict[str, Any] = {
    "acks_late": True,
    "soft_time_limit": settings.AURORA_PIPELINE_TASK_SOFT_TIME_LIMIT_SECONDS,
    "time_limit": settings.AURORA_PIPELINE_TASK_TIME_LIMIT_SECONDS,
}


@shared_task(acks_late=True)  # type: ignore[untyped-decorator]
def job_run_task(job_id: str) -> str:
    """Run a queued job; returns its final status."""
    return str(job_run(job_id).status)


@shared_task(**TASK_LIMITS)  # type: ignore[untyped-decorator]
def jobs_recover_task() -> dict[str, Any]:
    """Send again (or fail) the jobs whose worker died or whose message was lost; returns them."""
    return jobs_recover().as_dict()


# ---- the pipeline -------------------------------------------------------------------------------


@shared_task(**TASK_LIMITS)  # type: ignore[untyped-decorator]
def discover_all_chains() -> dict[str, Any]:
    """Queue a discovery per active chain (what the beat schedule runs); returns the chains."""
    set_database_scope(role=SYSTEM)
    chains = pipeline.active_chain_ids()
    for chain_id in chains:
        discover_new_periods.delay(chain_id)
    return {"chains": chains}


@shared_task(**TASK_LIMITS)  # type: ignore[untyped-decorator]
def discover_new_periods(chain_id: str) -> dict[str, Any]:
    """Start the pipelines of the chain's newly final periods; returns what was started, what was
    already running, what is left for the next run."""
    set_database_scope(role=SYSTEM)
    try:
        return pipeline.discover(chain_id).as_dict()
    except pipeline.PipelineError as error:
        return {"chain_id": chain_id, "error": str(error), "started": []}


def _stage(task: Task, job_id: str, stage: str) -> dict[str, Any]:
    final = task.request.retries >= (task.max_retries or 0)
    attempt = task.request.retries if stage == pipeline.INGEST else 0  # others retry only to wait
    outcome = pipeline.run_stage(job_id, stage, attempt=attempt, final_attempt=final)
    if not outcome.proceed:
        task.request.chain = None  # the rest of the pipeline does not run after this delivery
    return outcome.as_dict()


@shared_task(
    bind=True,
    autoretry_for=(ProviderError,),
    max_retries=settings.AURORA_PIPELINE_MAX_RETRIES,
    retry_backoff=settings.AURORA_PIPELINE_RETRY_BACKOFF_SECONDS,
    retry_backoff_max=settings.AURORA_PIPELINE_RETRY_BACKOFF_MAX_SECONDS,
    retry_jitter=True,
    **STAGE_LIMITS,
)  # type: ignore[untyped-decorator]
def pipeline_ingest(self: Task, job_id: str) -> dict[str, Any]:
    """Ingest the job's period; provider errors are retried with exponential backoff."""
    return _stage(self, job_id, pipeline.INGEST)


# Normalization waits (retries soon) while an earlier period of the chain has yet to pass it.
ORDERED: dict[str, Any] = {
    "autoretry_for": (pipeline.StageNotReady,),
    "max_retries": pipeline.ORDER_WAIT_RETRIES,
    "default_retry_delay": pipeline.ORDER_WAIT_SECONDS,
    "retry_backoff": False,
}


@shared_task(bind=True, **ORDERED, **STAGE_LIMITS)  # type: ignore[untyped-decorator]
def pipeline_normalize(self: Task, job_id: str) -> dict[str, Any]:
    """Normalize the job's period (canonical rows and the reconciliation report)."""
    return _stage(self, job_id, pipeline.NORMALIZE)


@shared_task(bind=True, **STAGE_LIMITS)  # type: ignore[untyped-decorator]
def pipeline_recompute(self: Task, job_id: str) -> dict[str, Any]:
    """Recompute the job's period: P&L, commission lines and the month's draft statements."""
    return _stage(self, job_id, pipeline.RECOMPUTE)


STAGE_TASKS: dict[str, Any] = {
    pipeline.INGEST: pipeline_ingest,
    pipeline.NORMALIZE: pipeline_normalize,
    pipeline.RECOMPUTE: pipeline_recompute,
}


# ---- monthly and daily --------------------------------------------------------------------------


@shared_task(**TASK_LIMITS)  # type: ignore[untyped-decorator]
def draft_monthly_statements(month: str | None = None) -> dict[str, Any]:
    """On the 1st: last month's statements exist (DRAFT when new) for every partner with lines,
    with totals matching their lines."""
    set_database_scope(role=SYSTEM)
    return pipeline.draft_statements(month=month)


@shared_task(**TASK_LIMITS)  # type: ignore[untyped-decorator]
def reconciliation_daily_summary() -> dict[str, Any]:
    """Log the open reconciliation findings per chain; returns their counts."""
    set_database_scope(role=SYSTEM)
    return pipeline.reconciliation_summary()
