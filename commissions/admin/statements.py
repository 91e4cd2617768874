"""Statements: the approval workflow (a confirmation page per step) and the CSV export."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from accounts.access import Capability, has_capability, scoped
from accounts.admin_scope import ScopedAdminMixin
from aurora.common.admin import ViewOnlyHistoryAdmin, amount_column
from commissions.admin._shared import _require, _scoped_object
from commissions.admin.forms import OptionalReasonForm
from commissions.models import CommissionLine, Statement, StatementStatus
from commissions.services.line_book import FROZEN
from commissions.services.statements import (
    StatementError,
    statement_approve,
    statement_export,
    statement_mark_paid,
    statement_reject,
    statement_release,
    statement_submit,
)

StatementStep = Callable[..., Statement]
STEPS: dict[str, tuple[str, StatementStep, str]] = {
    "submit": ("Submit for approval", statement_submit, StatementStatus.DRAFT),
    "approve": ("Approve", statement_approve, StatementStatus.PENDING_APPROVAL),
    "reject": ("Send back to draft", statement_reject, StatementStatus.PENDING_APPROVAL),
    "release": ("Release to the partner", statement_release, StatementStatus.APPROVED),
    "pay": ("Mark paid", statement_mark_paid, StatementStatus.RELEASED),
}


class StatementLineInline(admin.TabularInline[CommissionLine, Statement]):
    model = CommissionLine
    fk_name = "statement"
    extra = 0
    can_delete = False
    show_change_link = True
    fields = (
        "period",
        "agreement",
        "rule_order",
        "validator_key",
        "revenue_component",
        "attribution_method",
        "final",
        "override_needs_review",
        "adjusts_statement",
    )
    readonly_fields = fields

    final = amount_column("final_amount_native", "final amount")

    def get_queryset(self, request: HttpRequest) -> QuerySet[CommissionLine]:
        return (
            scoped(super().get_queryset(request), request.user)
            .select_related("period", "agreement", "chain", "adjusts_statement__partner")
            .order_by("period__period_end", "rule_order")
        )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


STATEMENT_FIELDS = (
    "partner",
    "chain",
    "month",
    "status",
    "total",
    "line_count",
    "prepared_by",
    "submitted_at",
    "first_approved_by",
    "first_approved_at",
    "approved_by",
    "approved_at",
    "released_by",
    "released_at",
    "paid_at",
    "metadata",
)


@admin.register(Statement)
class StatementAdmin(ScopedAdminMixin, ViewOnlyHistoryAdmin):
    """Statements change only through their workflow steps (services, audited)."""

    list_display = ["month", "partner", "chain", "status", "total", "line_count", "approved_at"]
    list_filter = ["status", "chain", "month"]
    list_select_related = ["partner", "chain"]
    search_fields = ["partner__partner_name", "month"]
    fields = STATEMENT_FIELDS
    readonly_fields = STATEMENT_FIELDS
    inlines = [StatementLineInline]
    change_form_template = "admin/commissions/statement/change_form.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Statement]:
        return super().get_queryset(request).select_related("partner", "chain")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # statements are drafted by recompute

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    total = amount_column("total_commission_native", "total")

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/export/", view(self.export_view), name="commissions_statement_export"),
            path(
                "<path:object_id>/step/<str:step>/", view(self.step_view), name="commissions_statement_step"
            ),
            *super().get_urls(),
        ]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        statement = _scoped_object(request, Statement, object_id)
        steps = []
        if has_capability(request.user, Capability.RUN_STATEMENTS):
            steps = [
                (step, label) for step, (label, _, status) in STEPS.items() if statement.status == status
            ]
        extra = {
            "steps": steps,
            "can_export": has_capability(request.user, Capability.EXPORT_STATEMENTS),
            "frozen": statement.status in FROZEN,
        }
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})  # type: ignore[no-any-return]

    def step_view(self, request: HttpRequest, object_id: str, step: str) -> HttpResponse:
        """A confirmation page for a workflow step; the step itself on POST."""
        statement = _scoped_object(request, Statement, object_id)
        _require(request, Capability.RUN_STATEMENTS)
        if step not in STEPS:
            raise Http404("no such step")
        label, service, expected_status = STEPS[step]
        form = OptionalReasonForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            reason = form.cleaned_data.get("reason") or ""
            try:
                if step == "reject":
                    service(statement_id=statement.pk, actor=request.user, reason=reason)
                elif step == "pay":
                    service(statement_id=statement.pk, actor=request.user, reference=reason)
                else:
                    service(statement_id=statement.pk, actor=request.user)
            except StatementError as error:
                form.add_error(None, str(error))
            else:
                statement.refresh_from_db()
                messages.success(
                    request, f"{label}: done. The statement is {statement.get_status_display()}."
                )
                return HttpResponseRedirect(
                    reverse("admin:commissions_statement_change", args=[statement.pk])
                )
        return TemplateResponse(
            request,
            "admin/commissions/statement/step.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": f"{label}: {statement.partner} {statement.month}",
                "object": statement,
                "statement": statement,
                "form": form,
                "step": step,
                "label": label,
                "possible": statement.status == expected_status,
                "dual_control": settings.AURORA_STATEMENT_DUAL_CONTROL,
            },
        )

    def export_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        statement = _scoped_object(request, Statement, object_id)
        _require(request, Capability.EXPORT_STATEMENTS)
        lines = CommissionLine.objects.filter(statement=statement)
        if lines.count() != scoped(lines, request.user).count():
            raise PermissionDenied  # the statement has lines of validators outside the user's scope
        content = statement_export(statement=statement, actor=request.user)  # type: ignore[arg-type]
        response = HttpResponse(content, content_type="text/csv; charset=utf-8")
        filename = f"statement-{statement.partner.partner_name}-{statement.chain_id}-{statement.month}.csv"
        response["Content-Disposition"] = f'attachment; filename="{_safe(filename)}"'
        return response


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-._" else "-" for c in name)


def format_status(statement: Statement) -> Any:
    return format_html("<strong>{}</strong>", statement.get_status_display())
