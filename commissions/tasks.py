"""Celery tasks of the commissions app: a period's recompute as a unit of work, and a range spread
over the workers (as many periods at once as there are free worker processes, on any machine
that shares the database and the broker).

Runs of different periods compute in parallel and settle one at a time under the chain's
statements lock (`commissions.services.line_book.statements_lock`), so a range computed on workers
leaves the same lines, statements and fingerprints as one computed here period after period.
"""

from __future__ import annotations

from typing import Any

from celery import group, shared_task
from django.conf import settings

from aurora.common.dbscope import SYSTEM, set_database_scope
from chains.models import Period
from commissions.models import ComputationRun
from commissions.services.recompute import (
    RangeAgreements,
    RecomputeError,
    final_periods,
    recompute_period,
)

# The agreements read by this worker process, per chain: reused by its next periods while their
# stamp holds (one query), read again when an agreement changes.
_agreements: dict[str, RangeAgreements] = {}


@shared_task(
    acks_late=True,
    soft_time_limit=settings.AURORA_PIPELINE_STAGE_SOFT_TIME_LIMIT_SECONDS,
    time_limit=settings.AURORA_PIPELINE_STAGE_TIME_LIMIT_SECONDS,
)  # type: ignore[untyped-decorator]
def recompute_period_task(period_id: str, triggered_by: str = "") -> dict[str, Any]:
    """Recompute one final period; returns its run's id, status and fingerprint."""
    set_database_scope(role=SYSTEM)
    period = Period.objects.select_related("chain").get(pk=period_id)
    book = _agreements.setdefault(period.chain_id, RangeAgreements(period.chain_id))
    run = recompute_period(period=period, triggered_by=triggered_by, book=book)
    return {"run_id": str(run.pk), "status": run.status, "fingerprint": run.fingerprint}


def recompute_range_on_workers(
    *, chain_id: str, first: int, last: int, triggered_by: str = "", timeout: float | None = None
) -> list[ComputationRun]:
    """Recompute the final periods first..last on the Celery workers, one task per period, and wait
    for them; the runs in period order. Not to be called from a task (it waits for other tasks)."""
    periods = final_periods(chain_id, first, last)
    result = group(recompute_period_task.s(str(p.pk), triggered_by) for p in periods).apply_async()
    try:
        outcomes = result.get(timeout=timeout, propagate=True)
    except Exception as error:
        result.revoke()
        reason = f"{type(error).__name__}: {error}"
        raise RecomputeError(f"the workers did not finish the range: {reason}") from error
    finally:
        result.forget()
    stored = ComputationRun.objects.in_bulk([outcome["run_id"] for outcome in outcomes])
    runs = {str(pk): run for pk, run in stored.items()}
    return [runs[outcome["run_id"]] for outcome in outcomes]
