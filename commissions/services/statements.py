"""Statements and overrides: the monthly workflow Finance runs, with dual control.

DRAFT -> PENDING_APPROVAL -> APPROVED -> RELEASED -> PAID. The preparer (who submits) cannot
approve; with dual control (on by default, AURORA_STATEMENT_DUAL_CONTROL) two different
Finance/Admin users must approve. Once APPROVED a statement is frozen: no recompute or override
changes it. Every step is audited in the same transaction.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.audit import audit_record, snapshot
from accounts.models import AuditAction, Role, User
from aurora.common.amounts import plain_amount
from aurora.common.fields import AMOUNT_DECIMAL_PLACES, AMOUNT_MAX_DIGITS
from aurora.common.spreadsheet import safe_row
from commissions.models import CommissionLine, DocumentFormat, Statement, StatementStatus
from commissions.services.frozen_documents import freeze_statement_documents, frozen_document
from commissions.services.line_book import FROZEN, OPEN, refresh_statement

APPROVER_ROLES = frozenset({Role.FINANCE, Role.ADMIN})
STATEMENT_FIELDS = [
    "status",
    "prepared_by_id",
    "submitted_at",
    "first_approved_by_id",
    "first_approved_at",
    "approved_by_id",
    "approved_at",
    "released_by_id",
    "released_at",
    "paid_at",
    "total_commission_native",
]


class StatementError(ValueError):
    """A workflow step that is refused; the message says why. Nothing was written."""


def _require_finance(actor: User, what: str) -> None:
    if actor.role not in APPROVER_ROLES:
        raise StatementError(f"only Finance or Admin users can {what}")


def _locked(statement_id: UUID) -> Statement:
    return Statement.objects.select_for_update().get(pk=statement_id)


def _expect(statement: Statement, *statuses: str) -> None:
    if statement.status not in statuses:
        raise StatementError(f"the statement is {statement.status}; this needs {' or '.join(statuses)}")


def _audit(
    statement: Statement, actor: User, action: AuditAction, before: dict[str, object], reason: str = ""
) -> None:
    audit_record(
        actor=actor,
        action=action,
        resource=statement,
        before=before,
        after=snapshot(statement, STATEMENT_FIELDS),
        reason=reason,
    )


@transaction.atomic
def statement_submit(*, statement_id: UUID, actor: User) -> Statement:
    statement = _locked(statement_id)
    _require_finance(actor, "submit a statement")
    _expect(statement, StatementStatus.DRAFT)
    if CommissionLine.objects.filter(statement=statement, override_needs_review=True).exists():
        raise StatementError("some overridden lines changed since their override: review them first")
    before = snapshot(statement, STATEMENT_FIELDS)
    statement.status = StatementStatus.PENDING_APPROVAL
    statement.prepared_by = actor
    statement.submitted_at = timezone.now()
    statement.first_approved_by = statement.first_approved_at = None
    statement.save(
        update_fields=[
            "status",
            "prepared_by",
            "submitted_at",
            "first_approved_by",
            "first_approved_at",
            "updated_at",
        ]
    )
    _audit(statement, actor, AuditAction.SUBMIT_STATEMENT, before)
    return statement


@transaction.atomic
def statement_approve(*, statement_id: UUID, actor: User) -> Statement:
    """An approval; the second one (or the only one without dual control) freezes the statement."""
    statement = _locked(statement_id)
    _require_finance(actor, "approve a statement")
    _expect(statement, StatementStatus.PENDING_APPROVAL)
    if actor.pk == statement.prepared_by_id:
        raise StatementError("the preparer cannot approve their own statement")
    if actor.pk == statement.first_approved_by_id:
        raise StatementError("dual control: a second, different approver is needed")
    before = snapshot(statement, STATEMENT_FIELDS)
    now = timezone.now()
    dual = settings.AURORA_STATEMENT_DUAL_CONTROL
    if dual and statement.first_approved_by_id is None:
        statement.first_approved_by, statement.first_approved_at = actor, now
    else:
        statement.status = StatementStatus.APPROVED
        statement.approved_by, statement.approved_at = actor, now
    statement.save(
        update_fields=[
            "status",
            "first_approved_by",
            "first_approved_at",
            "approved_by",
            "approved_at",
            "updated_at",
        ]
    )
    _audit(statement, actor, AuditAction.APPROVE_STATEMENT, before)
    return statement


@transaction.atomic
def statement_reject(*, statement_id: UUID, actor: User, reason: str) -> Statement:
    statement = _locked(statement_id)
    _require_finance(actor, "reject a statement")
    _expect(statement, StatementStatus.PENDING_APPROVAL)
    if not reason.strip():
        raise StatementError("say why the statement is sent back (reason)")
    before = snapshot(statement, STATEMENT_FIELDS)
    statement.status = StatementStatus.DRAFT
    statement.first_approved_by = statement.first_approved_at = None
    statement.save(update_fields=["status", "first_approved_by", "first_approved_at", "updated_at"])
    _audit(statement, actor, AuditAction.REJECT_STATEMENT, before, reason)
    return statement


@transaction.atomic
def statement_release(*, statement_id: UUID, actor: User) -> Statement:
    statement = _locked(statement_id)
    _require_finance(actor, "release a statement")
    _expect(statement, StatementStatus.APPROVED)
    before = snapshot(statement, STATEMENT_FIELDS)
    statement.status = StatementStatus.RELEASED
    statement.released_by, statement.released_at = actor, timezone.now()
    statement.save(update_fields=["status", "released_by", "released_at", "updated_at"])
    documents = freeze_statement_documents(statement)
    _audit(
        statement,
        actor,
        AuditAction.RELEASE_STATEMENT,
        before,
        "documents frozen: "
        + ", ".join(f"{fmt} sha256 {doc.sha256}" for fmt, doc in sorted(documents.items())),
    )
    return statement


@transaction.atomic
def statement_mark_paid(*, statement_id: UUID, actor: User, reference: str = "") -> Statement:
    statement = _locked(statement_id)
    _require_finance(actor, "mark a statement paid")
    _expect(statement, StatementStatus.RELEASED)
    before = snapshot(statement, STATEMENT_FIELDS)
    statement.status = StatementStatus.PAID
    statement.paid_at = timezone.now()
    if reference:
        statement.metadata = {**(statement.metadata or {}), "payment_reference": reference}
    statement.save(update_fields=["status", "paid_at", "metadata", "updated_at"])
    _audit(statement, actor, AuditAction.PAY_STATEMENT, before, reference)
    return statement


# ---- overrides ----------------------------------------------------------------------------------


def _open_line(line_id: UUID) -> CommissionLine:
    """The line, locked after its statement (the order the statement steps lock in), so an
    approval cannot slip in between the check that the statement is open and the change."""
    statement_id = CommissionLine.objects.filter(pk=line_id).values_list("statement_id", flat=True).get()
    if statement_id is not None:
        list(Statement.objects.select_for_update().filter(pk=statement_id).values_list("pk", flat=True))
    line = CommissionLine.objects.select_for_update(of=("self",)).select_related("statement").get(pk=line_id)
    if line.statement_id != statement_id:
        raise StatementError("the line moved to another statement meanwhile: try again")
    if line.statement is not None and line.statement.status in FROZEN:
        raise StatementError(f"the line's statement is {line.statement.status}: frozen, it cannot change")
    return line


def _whole(amount: Decimal) -> Decimal:
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise StatementError("the override must be an amount in base units")
    if amount != amount.to_integral_value():
        raise StatementError("the override must be whole base units (no fractions)")
    if amount < 0:
        raise StatementError("the override cannot be negative")
    if amount.adjusted() >= AMOUNT_MAX_DIGITS - AMOUNT_DECIMAL_PLACES:
        raise StatementError("the override is larger than any amount Aurora stores")
    return amount.quantize(Decimal(1))


OVERRIDE_FIELDS = [
    "pre_override_amount_native",
    "override_amount_native",
    "override_reason",
    "override_user_id",
    "override_timestamp",
    "override_needs_review",
    "final_amount_native",
]


def _after_line_change(line: CommissionLine) -> None:
    if line.statement is not None and line.statement.status in OPEN:
        refresh_statement(line.statement)


@transaction.atomic
def line_override(*, line_id: UUID, amount: Decimal, reason: str, actor: User) -> CommissionLine:
    """Replace a line's amount; the reason is mandatory. A recompute keeps it."""
    _require_finance(actor, "override a commission line")
    line = _open_line(line_id)
    if line.adjusts_statement_id is not None:
        raise StatementError(
            "an adjustment line carries a recomputed difference; override the period's line instead"
        )
    amount = _whole(amount)
    if not reason.strip():
        raise StatementError("an override needs a reason")
    before = snapshot(line, OVERRIDE_FIELDS)
    action = (
        AuditAction.UPDATE_OVERRIDE
        if line.override_amount_native is not None
        else AuditAction.CREATE_OVERRIDE
    )
    line.override_amount_native = amount
    line.override_reason = reason.strip()
    line.override_user = actor
    line.override_timestamp = timezone.now()
    line.override_needs_review = False
    line.final_amount_native = amount
    line.save()
    _after_line_change(line)
    audit_record(
        actor=actor,
        action=action,
        resource=line,
        before=before,
        after=snapshot(line, OVERRIDE_FIELDS),
        reason=reason,
    )
    return line


@transaction.atomic
def line_override_clear(*, line_id: UUID, reason: str, actor: User) -> CommissionLine:
    _require_finance(actor, "clear an override")
    line = _open_line(line_id)
    if line.override_amount_native is None:
        raise StatementError("the line has no override")
    if not reason.strip():
        raise StatementError("say why the override is removed (reason)")
    before = snapshot(line, OVERRIDE_FIELDS)
    line.override_amount_native = None
    line.override_reason = None
    line.override_user = None
    line.override_timestamp = None
    line.override_needs_review = False
    line.final_amount_native = line.pre_override_amount_native
    line.save()
    _after_line_change(line)
    audit_record(
        actor=actor,
        action=AuditAction.CLEAR_OVERRIDE,
        resource=line,
        before=before,
        after=snapshot(line, OVERRIDE_FIELDS),
        reason=reason,
    )
    return line


@transaction.atomic
def line_override_reviewed(*, line_id: UUID, actor: User, reason: str = "") -> CommissionLine:
    """Keep an override whose computed amount changed: the review flag is cleared."""
    _require_finance(actor, "review an override")
    line = _open_line(line_id)
    if not line.override_needs_review:
        raise StatementError("the line's override does not need a review")
    before = snapshot(line, OVERRIDE_FIELDS)
    line.override_needs_review = False
    line.save(update_fields=["override_needs_review", "updated_at"])
    audit_record(
        actor=actor,
        action=AuditAction.REVIEW_OVERRIDE,
        resource=line,
        before=before,
        after=snapshot(line, OVERRIDE_FIELDS),
        reason=reason,
    )
    return line


# ---- export -------------------------------------------------------------------------------------

CSV_COLUMNS = [
    "line_id",
    "period",
    "period_end",
    "agreement",
    "agreement_version",
    "rule_order",
    "validator_key",
    "revenue_component",
    "attribution_method",
    "base_amount_native",
    "commission_rate_bps",
    "pre_override_amount_native",
    "override_amount_native",
    "override_reason",
    "final_amount_native",
    "adjusts_month",
]


def statement_export(*, statement: Statement, actor: User, export_format: str = "csv") -> str:
    """The statement as CSV for `actor` (a released one: the CSV frozen at release), and an audit
    entry saying who exported what."""
    if statement.status in (StatementStatus.RELEASED, StatementStatus.PAID):
        frozen = frozen_document(statement, DocumentFormat.FINANCE_CSV)
        statement_export_audit(statement=statement, actor=actor, export_format=export_format)
        return bytes(frozen.content).decode()
    content = statement_csv(statement)
    statement_export_audit(statement=statement, actor=actor, export_format=export_format)
    return content


def statement_export_audit(
    *, statement: Statement, actor: User, export_format: str, channel: str | None = None
) -> None:
    """The audit entry of a statement leaving Aurora: who, which format, at what status and total
    (and through which channel, for a partner's download)."""
    after = {
        "format": export_format,
        "status": statement.status,
        "total": str(statement.total_commission_native),
    }
    if channel is not None:
        after["channel"] = channel
    audit_record(actor=actor, action=AuditAction.EXPORT_STATEMENT, resource=statement, after=after)


def statement_csv(statement: Statement) -> str:
    """One row per line (adjustments last, each naming the month it corrects), then the totals."""
    lines = (
        CommissionLine.objects.filter(statement=statement)
        .select_related("period", "agreement", "adjusts_statement")
        .order_by("adjusts_statement__month", "period__period_end", "agreement__agreement_name", "rule_order")
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        safe_row(
            [
                "partner",
                statement.partner.partner_name,
                "chain",
                statement.chain_id,
                "month",
                statement.month,
                "status",
                statement.status,
            ]
        )
    )
    writer.writerow(CSV_COLUMNS)
    total = Decimal(0)
    for line in lines:
        total += line.final_amount_native
        writer.writerow(
            safe_row(
                [
                    line.pk,
                    line.period.period_identifier,
                    line.period.period_end.isoformat(),
                    line.agreement.agreement_name,
                    line.agreement_version,
                    line.rule_order,
                    line.validator_key or "",
                    line.revenue_component,
                    line.attribution_method,
                    plain_amount(line.base_amount_native),
                    line.commission_rate_bps,
                    plain_amount(line.pre_override_amount_native),
                    "" if line.override_amount_native is None else plain_amount(line.override_amount_native),
                    line.override_reason or "",
                    plain_amount(line.final_amount_native),
                    line.adjusts_statement.month if line.adjusts_statement else "",
                ]
            )
        )
    decimals = statement.chain.native_decimals
    writer.writerow([])
    writer.writerow(["total_base_units", plain_amount(total)])
    writer.writerow(
        [
            f"total_{statement.chain.display_symbol or statement.chain.native_unit}",
            plain_amount(total.scaleb(-decimals)),
        ]
    )
    return out.getvalue()
