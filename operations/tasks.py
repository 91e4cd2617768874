"""Celery tasks of the operations app: thin wrappers over `operations.services`."""

from __future__ import annotations

from celery import shared_task

from operations.services import job_run, jobs_reap_abandoned


@shared_task(acks_late=True)  # type: ignore[untyped-decorator]
def job_run_task(job_id: str) -> str:
    """Run a queued job; returns its final status."""
    return str(job_run(job_id).status)


@shared_task  # type: ignore[untyped-decorator]
def jobs_reap_abandoned_task() -> int:
    """Mark FAILED the jobs a stopped worker left RUNNING; returns how many."""
    return jobs_reap_abandoned()
