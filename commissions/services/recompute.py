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
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from accounts.audit import audit_run
from accounts.models import AuditAction
from aurora.common.bulk import insert_rows
from aurora.common.hashing import sha256_hex
from aurora.common.locks import advisory_lock
from chains.models import Chain, Period
from commissions.engine.attribution import PartnerFigures
from commissions.engine.lines import AttributionCache, LineResult, compute_line, line_result
from commissions.models import (
    CommissionLine,
    ComputationRun,
    ComputationStatus,
    Statement,
    StatementStatus,
    ValidatorPnl,
)
from commissions.selectors import (
    AgreementBook,
    AgreementInForce,
    PnlFigures,
    RuleInForce,
    agreements_in_force,
    input_fingerprint,
    input_fingerprints,
    operator_validators,
    period_pnl,
    statement_month,
)
from commissions.services.bases import AttributionKey, attribute_period

logger = logging.getLogger(__name__)

FROZEN = (StatementStatus.APPROVED, StatementStatus.RELEASED, StatementStatus.PAID)
OPEN = (StatementStatus.DRAFT, StatementStatus.PENDING_APPROVAL)
ZERO = Decimal(0)


class RecomputeError(Exception):
    """The request cannot be carried out as asked (unknown chain, empty range, nothing final)."""


@dataclass(frozen=True)
class ComputedLine:
    agreement_id: UUID
    partner_id: UUID
    version_number: int
    rule_id: UUID
    rule_order: int
    validator_key: str | None
    component: str
    method: str
    result: LineResult

    @property
    def key(self) -> tuple[UUID, int]:
        return (self.agreement_id, self.rule_order)

    def as_json(self) -> list[Any]:
        return [
            str(self.agreement_id),
            self.rule_order,
            self.version_number,
            str(self.rule_id),
            self.validator_key,
            self.component,
            self.method,
            str(self.result.base),
            self.result.rate_bps,
            str(self.result.amount),
            self.result.breakdown,
        ]


def compute_period(
    pnl: Sequence[PnlFigures], agreements: Sequence[AgreementInForce], clients: dict[UUID, PartnerFigures]
) -> list[ComputedLine]:
    """Every line of the period, in key order, attributed in Python (pure: no database). The
    reference for `compute_period_in_database`, which must give the same lines."""
    figures = [p.as_validator_figures() for p in sorted(pnl, key=lambda p: p.validator_key)]
    cache: AttributionCache = {}

    def result(agreement: AgreementInForce, rule: RuleInForce) -> LineResult:
        partner = clients.get(agreement.partner_id, PartnerFigures())
        return compute_line(rule.terms, figures, partner, cache)

    return _lines(agreements, result)


def compute_period_in_database(
    period: Period, pnl: Sequence[PnlFigures], agreements: Sequence[AgreementInForce], *, snapshot: bool
) -> list[ComputedLine]:
    """Every line of the period, in key order, with the bases and breakdowns computed by PostgreSQL
    (`commissions.services.bases`) and the terms applied here. With `snapshot`, the partners'
    client stake snapshots are stored by the same statement."""
    keys = {
        (agreement.agreement_id, rule.terms.rule_order): AttributionKey.of(rule.terms, agreement.partner_id)
        for agreement in agreements
        for rule in agreement.rules
    }
    attributed = attribute_period(
        period, pnl, keys.values(), [a.partner_id for a in agreements], snapshot=snapshot
    )

    def result(agreement: AgreementInForce, rule: RuleInForce) -> LineResult:
        found = attributed[keys[(agreement.agreement_id, rule.terms.rule_order)]]
        return line_result(rule.terms, found.attribution, found.introduced_stake)

    return _lines(agreements, result)


def _lines(
    agreements: Sequence[AgreementInForce], result: Callable[[AgreementInForce, RuleInForce], LineResult]
) -> list[ComputedLine]:
    lines = [
        ComputedLine(
            agreement_id=agreement.agreement_id,
            partner_id=agreement.partner_id,
            version_number=agreement.version_number,
            rule_id=rule.rule_id,
            rule_order=rule.terms.rule_order,
            validator_key=rule.terms.validator_key,
            component=rule.terms.component,
            method=rule.terms.method,
            result=result(agreement, rule),
        )
        for agreement in sorted(agreements, key=lambda a: str(a.agreement_id))
        for rule in sorted(agreement.rules, key=lambda r: r.terms.rule_order)
    ]
    return sorted(lines, key=lambda line: (str(line.agreement_id), line.rule_order))


def lines_fingerprint(period: Period, lines: Sequence[ComputedLine]) -> str:
    return sha256_hex([period.chain_id, period.period_identifier, [line.as_json() for line in lines]])


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


def recompute_range(*, chain_id: str, first: int, last: int, triggered_by: str = "") -> list[ComputationRun]:
    """Recompute the final periods first..last (by identifier); one run per period."""
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
    # The inputs of every period are digested in one statement. Once a run writes, the digests of
    # the periods after it may be stale (a statement it opened is an input), so they are read again.
    known = input_fingerprints(periods)
    book = RangeAgreements(chain.pk)
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


# ---- lines and statements -----------------------------------------------------------------------


class LineBook:
    """The stored lines of one period and the statements they belong to, brought in line with the
    computed lines with as few writes as possible."""

    def __init__(self, period: Period, run: ComputationRun) -> None:
        self.period = period
        self.run = run
        self.month = statement_month(period)
        lines = list(
            CommissionLine.objects.filter(period=period).select_related("statement", "adjusts_statement")
        )
        self.regular = {
            (line.agreement_id, line.rule_order): line for line in lines if line.adjusts_statement_id is None
        }
        self.adjustments: dict[tuple[UUID, int], list[CommissionLine]] = defaultdict(list)
        for line in lines:
            if line.adjusts_statement_id is not None:
                self.adjustments[(line.agreement_id, line.rule_order)].append(line)
        self.statements: dict[tuple[UUID, str], Statement] = {
            (s.partner_id, s.month): s
            for s in Statement.objects.filter(chain_id=period.chain_id, month=self.month)
        }
        self.touched: dict[UUID, Statement] = {}
        self.new_lines: list[dict[str, Any]] = []  # column values by attribute name
        self.changed_lines: dict[UUID, CommissionLine] = {}
        self.changed_fields: set[str] = set()

    # statements

    def statement(self, partner_id: UUID, month: str) -> Statement | None:
        key = (partner_id, month)
        if key not in self.statements and month != self.month:  # this month's are all loaded
            found = Statement.objects.filter(
                partner_id=partner_id, chain_id=self.period.chain_id, month=month
            ).first()
            if found is not None:
                self.statements[key] = found
        return self.statements.get(key)

    def open_statement(self, partner_id: UUID, month: str) -> Statement:
        found = self.statement(partner_id, month)
        if found is None:
            found = Statement.objects.create(
                partner_id=partner_id, chain_id=self.period.chain_id, month=month
            )
            self.statements[(partner_id, month)] = found
        return found

    def next_open_statement(self, partner_id: UUID, after: str) -> Statement:
        """The partner's earliest open statement after `after`; a new draft after its latest one if none."""
        candidates = Statement.objects.filter(
            partner_id=partner_id, chain_id=self.period.chain_id, month__gt=after, status__in=OPEN
        ).order_by("month")
        found = candidates.first()
        if found is not None:
            return self.statements.setdefault((partner_id, found.month), found)
        latest = (
            Statement.objects.filter(partner_id=partner_id, chain_id=self.period.chain_id)
            .order_by("-month")
            .values_list("month", flat=True)
            .first()
        )
        return self.open_statement(partner_id, _next_month(max(latest or after, after)))

    def touch(self, statement: Statement | None) -> None:
        if statement is not None:
            self.touched[statement.pk] = statement

    # lines

    def apply(self, computed: Sequence[ComputedLine]) -> None:
        wanted = {line.key: line for line in computed}
        keys = sorted(
            set(wanted) | set(self.regular) | set(self.adjustments), key=lambda k: (str(k[0]), k[1])
        )
        for key in keys:
            self._settle(key, wanted.get(key))
        insert_rows(CommissionLine, self.new_lines)
        if self.changed_lines:
            CommissionLine.objects.bulk_update(
                list(self.changed_lines.values()), sorted(self.changed_fields), batch_size=1_000
            )
        refresh_statements(list(self.touched.values()))

    def _settle(self, key: tuple[UUID, int], line: ComputedLine | None) -> None:
        regular = self.regular.get(key)
        partner_id = line.partner_id if line else (regular or self.adjustments[key][0]).partner_id
        month_statement = self.statement(partner_id, self.month)
        if month_statement is None or month_statement.status in OPEN:
            self._settle_open(key, line, regular, partner_id)
        else:
            self._settle_frozen(key, line, regular, month_statement)

    def _settle_open(
        self,
        key: tuple[UUID, int],
        line: ComputedLine | None,
        regular: CommissionLine | None,
        partner_id: UUID,
    ) -> None:
        if line is None:
            if regular is None:
                return
            if regular.override_amount_native is None:
                self.touch(regular.statement)
                regular.delete()
                self.run.lines_removed += 1
                return
            withdrawn = {
                "base_amount_native": ZERO,
                "pre_override_amount_native": ZERO,
                "breakdown": {"withdrawn": True},
            }
            self._update(regular, withdrawn)
            return
        values = _line_values(line)
        if regular is None:
            statement = self.open_statement(partner_id, self.month)
            self.new_lines.append(
                {
                    "agreement_id": line.agreement_id,
                    "rule_order": line.rule_order,
                    "partner_id": partner_id,
                    "chain_id": self.period.chain_id,
                    "period_id": self.period.pk,
                    "statement_id": statement.pk,
                    "final_amount_native": values["pre_override_amount_native"],
                    **values,
                }
            )
            self.touch(statement)
            self.run.lines_inserted += 1
            return
        self._update(regular, values)

    def _update(self, regular: CommissionLine, values: dict[str, Any]) -> None:
        changed = [name for name, value in values.items() if getattr(regular, name) != value]
        if regular.statement_id is None:
            regular.statement = self.open_statement(regular.partner_id, self.month)
            changed.append("statement")
        if not changed:
            self.run.lines_unchanged += 1
            return
        amount_changed = regular.pre_override_amount_native != values["pre_override_amount_native"]
        for name, value in values.items():
            setattr(regular, name, value)
        if regular.override_amount_native is None:
            regular.final_amount_native = regular.pre_override_amount_native
        elif amount_changed:
            regular.override_needs_review = True
            self.run.overrides_flagged += 1
        regular.computed_at = timezone.now()
        self.changed_lines[regular.pk] = regular
        self.changed_fields.update(
            [
                *values,
                "final_amount_native",
                "override_needs_review",
                "computed_at",
                "updated_at",
                "statement",
            ]
        )
        regular.updated_at = regular.computed_at
        self.touch(regular.statement)
        self.run.lines_updated += 1

    def _settle_frozen(
        self,
        key: tuple[UUID, int],
        line: ComputedLine | None,
        regular: CommissionLine | None,
        frozen: Statement,
    ) -> None:
        """The month is frozen: what its frozen lines say stands; the rest is an adjustment."""
        if regular is not None and regular.override_amount_native is not None:
            # Finance set this amount; a recompute does not second-guess it, it asks for a review.
            changed = line is not None and line.result.amount != regular.pre_override_amount_native
            if changed and not regular.override_needs_review:
                CommissionLine.objects.filter(pk=regular.pk).update(override_needs_review=True)
                self.run.overrides_flagged += 1
            return
        closed = [
            a for a in self.adjustments[key] if a.statement is not None and a.statement.status in FROZEN
        ]
        paid = sum((a.final_amount_native for a in closed), regular.final_amount_native if regular else ZERO)
        wanted = line.result.amount if line else ZERO
        difference = wanted - paid
        open_adjustments = [a for a in self.adjustments[key] if a not in closed]
        target = open_adjustments[0] if open_adjustments else None
        for extra in open_adjustments[1:]:
            self.touch(extra.statement)
            extra.delete()
        if difference == 0:
            if target is not None:
                self.touch(target.statement)
                target.delete()
                self.run.lines_removed += 1
            return
        partner_id = line.partner_id if line else frozen.partner_id
        statement = self.next_open_statement(partner_id, frozen.month)
        values: dict[str, Any] = {
            "base_amount_native": difference,
            "pre_override_amount_native": difference,
            "final_amount_native": difference,
            "breakdown": {
                "adjusts_statement": str(frozen.pk),
                "adjusts_month": frozen.month,
                "frozen_total": str(paid),
                "recomputed": str(wanted),
                "line": line.result.breakdown if line else {"withdrawn": True},
            },
        }
        if line is not None:
            values.update(
                agreement_version=line.version_number,
                rule_id=line.rule_id,
                validator_key=line.validator_key,
                revenue_component=line.component,
                attribution_method=line.method,
                commission_rate_bps=line.result.rate_bps,
            )
        if target is None:
            source: ComputedLine | CommissionLine | None = line or regular
            if source is None:  # a key is only settled when a line or a stored line has it
                raise RuntimeError(f"nothing to adjust for {key}")
            CommissionLine.objects.create(
                agreement_id=key[0],
                rule_order=key[1],
                partner_id=partner_id,
                chain_id=self.period.chain_id,
                period=self.period,
                statement=statement,
                adjusts_statement=frozen,
                **_adjustment_defaults(source),
                **values,
            )
            self.touch(statement)
            self.run.adjustments_written += 1
            return
        changed = [name for name, value in values.items() if getattr(target, name) != value] or (
            ["statement"] if target.statement_id != statement.pk else []
        )
        if not changed:
            self.run.lines_unchanged += 1
            return
        self.touch(target.statement)
        for name, value in values.items():
            setattr(target, name, value)
        target.statement = statement
        target.save()
        self.touch(statement)
        self.run.adjustments_written += 1


def _adjustment_defaults(source: ComputedLine | CommissionLine) -> dict[str, Any]:
    if isinstance(source, ComputedLine):
        return {}
    return {
        "agreement_version": source.agreement_version,
        "rule_id": source.rule_id,
        "validator_key": source.validator_key,
        "revenue_component": source.revenue_component,
        "attribution_method": source.attribution_method,
        "commission_rate_bps": source.commission_rate_bps,
    }


def _line_values(line: ComputedLine) -> dict[str, Any]:
    return {
        "agreement_version": line.version_number,
        "rule_id": line.rule_id,
        "validator_key": line.validator_key,
        "revenue_component": line.component,
        "attribution_method": line.method,
        "base_amount_native": line.result.base,
        "commission_rate_bps": line.result.rate_bps,
        "pre_override_amount_native": line.result.amount,
        "breakdown": line.result.breakdown,
    }


def refresh_statements(statements: Sequence[Statement]) -> None:
    """Totals from the statements' lines (called for statements whose lines changed), in a few
    statements whatever their number. A statement waiting for approval goes back to draft,
    approvals cleared: nobody approves figures they have not seen."""
    if not statements:
        return
    frozen = [s.pk for s in statements if s.status in FROZEN]
    if frozen:
        raise RuntimeError(f"statements {frozen} are frozen; their lines cannot change")
    sums = {
        row["statement"]: (row["total"], row["count"])
        for row in CommissionLine.objects.filter(statement__in=statements)
        .values("statement")
        .annotate(total=Sum("final_amount_native"), count=Count("pk"))
    }
    now = timezone.now()
    returned = []  # waiting for approval: back to draft
    totals_changed = []
    for statement in statements:
        total, count = sums.get(statement.pk, (ZERO, 0))
        before = (statement.total_commission_native, statement.line_count)
        statement.total_commission_native, statement.line_count = total or ZERO, count
        if statement.status == StatementStatus.PENDING_APPROVAL:
            statement.status = StatementStatus.DRAFT
            statement.first_approved_by = None
            statement.first_approved_at = None
            statement.metadata = {
                **(statement.metadata or {}),
                "returned_to_draft": "lines changed by a recompute",
            }
            statement.updated_at = now
            returned.append(statement)
        elif before != (statement.total_commission_native, statement.line_count):
            statement.updated_at = now
            totals_changed.append(statement)
    _write_totals(totals_changed, now)
    Statement.objects.bulk_update(
        returned,
        [
            "total_commission_native",
            "line_count",
            "status",
            "first_approved_by",
            "first_approved_at",
            "metadata",
            "updated_at",
        ],
        batch_size=500,
    )


def _write_totals(statements: Sequence[Statement], now: Any) -> None:
    """Only the totals of these statements changed: one UPDATE from arrays (bulk_update's CASE per
    row and field costs more Python than the whole period's lines)."""
    if not statements:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE partner_commission_statements AS s
            SET total_commission_native = v.total, line_count = v.line_count, updated_at = %s
            FROM unnest(%s::uuid[], %s::numeric[], %s::int[]) AS v(statement_id, total, line_count)
            WHERE s.statement_id = v.statement_id
            """,
            [
                now,
                [s.pk for s in statements],
                [s.total_commission_native for s in statements],
                [s.line_count for s in statements],
            ],
        )


def refresh_statement(statement: Statement) -> None:
    refresh_statements([statement])


def _next_month(month: str) -> str:
    year, number = int(month[:4]), int(month[5:])
    return f"{year + number // 12}-{number % 12 + 1:02d}"


def lines_of(statement: Statement) -> Any:
    return CommissionLine.objects.filter(Q(statement=statement)).select_related("period", "agreement", "rule")
