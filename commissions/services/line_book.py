"""Bringing the stored lines of a period, and the statements they belong to, in line with its
computed lines (see `commissions.services.recompute` for the rules), and statement totals."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db import connection
from django.db.models import Count, Q, Sum
from django.utils import timezone

from aurora.common.bulk import insert_rows
from aurora.common.locks import transaction_lock
from chains.models import Period
from commissions.models import CommissionLine, ComputationRun, Statement, StatementStatus
from commissions.selectors import statement_month
from commissions.services.period_lines import ComputedLine

FROZEN = (StatementStatus.APPROVED, StatementStatus.RELEASED, StatementStatus.PAID)
OPEN = (StatementStatus.DRAFT, StatementStatus.PENDING_APPROVAL)
ZERO = Decimal(0)


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


def statements_lock(chain_id: str) -> None:
    """Held from the moment a run reads its stored lines and statements to its commit: the periods
    of a month share their statements (and adjustments reach later months), so runs computed in
    parallel settle one at a time, each seeing what the one before committed. Statement totals
    written elsewhere (an override) take it too, so their sums see a settled run's lines."""
    transaction_lock(f"statements:{chain_id}")


def refresh_statements(statements: Sequence[Statement]) -> None:
    """Totals from the statements' lines (called for statements whose lines changed), in a few
    statements whatever their number. A statement waiting for approval goes back to draft,
    approvals cleared: nobody approves figures they have not seen."""
    if not statements:
        return
    for chain_id in sorted({s.chain_id for s in statements}):
        statements_lock(chain_id)
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
