"""Recompute: validator P&L and commission lines of final periods, and the draft statements.

Per (chain, period), in one transaction and under an advisory lock:
1. P&L per validator from the current canonical rows (rewritten only where it changed);
2. one line per rule of every agreement in force (see `commissions.engine`), in key order, and
   the run's fingerprint: the SHA-256 of those lines, the same whatever the evaluation order;
3. the lines are reconciled with what is stored, per key (agreement, period, rule order):
   - the month's statement is open (DRAFT, or PENDING_APPROVAL, which then returns to DRAFT if a
     line changes): the line is updated in place; an override stays, and is flagged for review
     when the amount it replaced changes;
   - the month's statement is frozen (APPROVED or later): nothing in it changes; the difference
     between the new amount and what the frozen statements hold for the key becomes an
     adjustment line in the partner's next open statement.
Unchanged inputs write nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.audit import audit_run
from accounts.models import AuditAction
from aurora.common.locks import advisory_lock
from chains.models import Chain, Period
from commissions.models import ComputationRun, ComputationStatus, ValidatorPnl
from commissions.selectors import (
    AgreementBook,
    AgreementInForce,
    PnlFigures,
    agreements_in_force,
    input_fingerprint,
    input_fingerprints,
    operator_validators,
    period_pnl,
)
from commissions.services.line_book import LineBook, statements_lock
from commissions.services.period_lines import (
    ComputedLine,
    compute_period,
    compute_period_in_database,
    lines_fingerprint,
)

__all__ = [
    "ComputedLine",
    "RangeAgreements",
    "RecomputeError",
    "compute_period",
    "compute_period_in_database",
    "final_periods",
    "lines_fingerprint",
    "recompute_period",
    "recompute_range",
    "statements_lock",
]

logger = logging.getLogger(__name__)


class RecomputeError(Exception):
    """The request cannot be carried out as asked (unknown chain, empty range, nothing final)."""


# ---- runs ---------------------------------------------------------------------------------------


class RangeAgreements:
    """The agreements of a range's chain, read when the first period that needs them is computed
    (a range with nothing changed reads none), then reused while their stamp holds."""

    def __init__(self, chain_id: str) -> None:
        self.chain_id = chain_id
        self.book: AgreementBook | None = None

    def in_force(self, period: Period) -> list[AgreementInForce]:
        if self.book is None:
            self.book = AgreementBook.load(self.chain_id)
            return self.book.in_force(period)
        return agreements_in_force(period, self.book)


def final_periods(chain_id: str, first: int, last: int) -> list[Period]:
    """The final periods first..last (by identifier) of the chain, oldest first; RecomputeError
    if the range is empty, the chain unknown or none of them is final."""
    if first > last:
        raise RecomputeError(f"empty range: {first} > {last}")
    chain = Chain.objects.filter(pk=chain_id).first()
    if chain is None:
        raise RecomputeError(f"unknown chain {chain_id!r}")
    periods = sorted(
        (
            p
            for p in Period.objects.filter(chain=chain, is_finalized=True)
            if p.period_identifier.isdigit() and first <= int(p.period_identifier) <= last
        ),
        key=lambda p: int(p.period_identifier),
    )
    if not periods:
        raise RecomputeError(
            f"no final period of {chain_id} between {first} and {last}; ingest and normalize first"
        )
    return periods


def recompute_range(*, chain_id: str, first: int, last: int, triggered_by: str = "") -> list[ComputationRun]:
    """Recompute the final periods first..last (by identifier) here, one after the other; one run
    per period. `commissions.tasks.recompute_range_on_workers` spreads them over Celery workers."""
    periods = final_periods(chain_id, first, last)
    # The inputs of every period are digested in one statement. Once a run writes, the digests of
    # the periods after it may be stale (a statement it opened is an input), so they are read again.
    known = input_fingerprints(periods)
    book = RangeAgreements(chain_id)
    runs = []
    for period in periods:
        run = recompute_period(
            period=period, triggered_by=triggered_by, inputs=known.get(period.pk), book=book
        )
        if not run.inputs_unchanged:
            known = {}
        runs.append(run)
    return runs


def recompute_period(
    *, period: Period, triggered_by: str = "", inputs: str | None = None, book: RangeAgreements | None = None
) -> ComputationRun:
    """One period's run. `inputs`: the period's input digest if the caller has just read it;
    `book`: the agreements read for a range (used while they are unchanged)."""
    with advisory_lock(f"recompute:{period.chain_id}:{period.period_identifier}") as acquired:
        if not acquired:
            return _failed(
                period, triggered_by, f"period {period.period_identifier} is being recomputed elsewhere"
            )
        ComputationRun.objects.filter(period=period, status=ComputationStatus.RUNNING).update(
            status=ComputationStatus.FAILED,
            completed_at=timezone.now(),
            error_message="abandoned: the process stopped before the run finished",
        )
        run = ComputationRun.objects.create(
            chain_id=period.chain_id, period=period, triggered_by=triggered_by
        )
        started = time.perf_counter()
        try:
            with transaction.atomic():
                _recompute(period, run, inputs, book)
                _finish(run, started, ComputationStatus.SUCCESS)
        except Exception as error:
            logger.exception("recompute of %s %s failed", period.chain_id, period.period_identifier)
            run = ComputationRun.objects.get(pk=run.pk)
            run.error_message = f"{type(error).__name__}: {error}"[:2000]
            _finish(run, started, ComputationStatus.FAILED)
        audit_run(run, AuditAction.RECOMPUTE, reason=triggered_by)
        return run


def _finish(run: ComputationRun, started: float, status: str) -> None:
    run.status = status
    run.completed_at = timezone.now()
    run.duration_seconds = Decimal(time.perf_counter() - started).quantize(Decimal("0.001"))
    run.save()


def _failed(period: Period, triggered_by: str, message: str) -> ComputationRun:
    run = ComputationRun.objects.create(
        chain_id=period.chain_id,
        period=period,
        triggered_by=triggered_by,
        status=ComputationStatus.FAILED,
        error_message=message,
    )
    run.completed_at, run.duration_seconds = run.started_at, Decimal(0)
    run.save(update_fields=["completed_at", "duration_seconds", "updated_at"])
    audit_run(run, AuditAction.RECOMPUTE, reason=triggered_by)
    return run


def _recompute(period: Period, run: ComputationRun, inputs: str | None, book: RangeAgreements | None) -> None:
    if inputs is None:
        inputs = input_fingerprint(period)
    last = (
        ComputationRun.objects.filter(period=period, status=ComputationStatus.SUCCESS)
        .exclude(pk=run.pk)
        .order_by("-started_at")
        .first()
    )
    if last is not None and last.input_fingerprint == inputs:
        run.inputs_unchanged, run.input_fingerprint, run.fingerprint = True, inputs, last.fingerprint
        return
    pnl = period_pnl(period, operator_validators(period.chain))
    _write_pnl(period, pnl, run)
    agreements = book.in_force(period) if book is not None else agreements_in_force(period)
    lines = compute_period_in_database(period, pnl, agreements, snapshot=True)
    run.fingerprint = lines_fingerprint(period, lines)
    statements_lock(period.chain_id)
    LineBook(period, run).apply(lines)
    run.input_fingerprint = input_fingerprint(period)  # after this run's own writes


def _write_pnl(period: Period, pnl: Sequence[PnlFigures], run: ComputationRun) -> None:
    existing = {row.validator_key: row for row in ValidatorPnl.objects.filter(period=period)}
    for figures in pnl:
        values = {
            "exec_fees_native": figures.exec_fees,
            "mev_tips_native": figures.mev_tips,
            "vote_rewards_native": figures.vote_rewards,
            "commission_native": figures.commission,
            "penalties_native": figures.penalties,
            "total_revenue_native": figures.total,
        }
        row = existing.get(figures.validator_key)
        if row is None:
            ValidatorPnl.objects.create(
                chain_id=period.chain_id, period=period, validator_key=figures.validator_key, **values
            )
        elif any(getattr(row, name) != value for name, value in values.items()):
            for name, value in values.items():
                setattr(row, name, value)
            row.computed_at = timezone.now()
            row.save(update_fields=[*values, "computed_at", "updated_at"])
        else:
            run.pnl_unchanged += 1
            continue
        run.pnl_written += 1
