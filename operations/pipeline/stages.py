"""The stage functions: ingest, normalize and recompute one period, each returning its run and a
one-line detail for the job."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import Count, Sum

from aurora.common.amounts import token_amount
from canonical.models import (
    CanonicalStakeReward,
    CanonicalValidatorFees,
    CanonicalValidatorMeta,
    CanonicalValidatorMev,
)
from canonical.services import normalize_range
from commissions.models import CommissionLine, ValidatorPnl
from commissions.services.recompute import recompute_range
from ingestion.models import IngestionStatus, StagingPayload
from ingestion.services import ingest_range
from operations.models import Job
from operations.pipeline.common import (
    INGEST,
    LIVE,
    NORMALIZE,
    RECOMPUTE,
    PipelineError,
    ProviderOutage,
    ingest_options,
)

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
