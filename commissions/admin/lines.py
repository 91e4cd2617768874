"""Commission lines: read only, with overrides (set, remove, keep after review) on their own pages."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib import admin, messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from accounts.access import Capability, has_capability
from accounts.admin_scope import ScopedAdminMixin
from aurora.common.admin import ReadOnlyAdminMixin, amount_column, pretty_json
from commissions.admin._shared import _require, _scoped_object
from commissions.admin.forms import OptionalReasonForm, OverrideForm
from commissions.models import CommissionLine
from commissions.services.line_book import FROZEN
from commissions.services.statements import (
    StatementError,
    line_override,
    line_override_clear,
    line_override_reviewed,
)

LINE_FIELDS = (
    "partner",
    "agreement",
    "agreement_version",
    "rule_order",
    "chain",
    "period",
    "validator_key",
    "revenue_component",
    "attribution_method",
    "base",
    "commission_rate_bps",
    "pre_override",
    "override",
    "final",
    "override_reason",
    "override_user",
    "override_timestamp",
    "override_needs_review",
    "statement",
    "adjusts_statement",
    "breakdown_json",
)


@admin.register(CommissionLine)
class CommissionLineAdmin(ScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin[CommissionLine]):
    list_display = [
        "partner",
        "chain",
        "period",
        "revenue_component",
        "attribution_method",
        "base",
        "commission_rate_bps",
        "pre_override",
        "override",
        "final",
        "override_needs_review",
    ]
    list_filter = ["override_needs_review", "revenue_component", "attribution_method", "chain"]
    list_select_related = ["partner", "chain", "period"]
    search_fields = ["partner__partner_name", "validator_key", "period__period_identifier"]
    date_hierarchy = "computed_at"
    show_full_result_count = False
    fields = LINE_FIELDS
    readonly_fields = LINE_FIELDS
    change_form_template = "admin/commissions/commissionline/change_form.html"

    base = amount_column("base_amount_native", "base")
    pre_override = amount_column("pre_override_amount_native", "computed")
    override = amount_column("override_amount_native", "override")
    final = amount_column("final_amount_native", "final")

    @admin.display(description="breakdown")
    def breakdown_json(self, obj: CommissionLine) -> Any:
        return pretty_json(obj.breakdown)

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/override/",
                view(self.override_view),
                name="commissions_commissionline_override",
            ),
            path(
                "<path:object_id>/override/<str:step>/",
                view(self.override_step_view),
                name="commissions_commissionline_override_step",
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
        line = _scoped_object(request, CommissionLine, object_id)
        frozen = line.statement is not None and line.statement.status in FROZEN
        extra = {
            "can_override": has_capability(request.user, Capability.OVERRIDE_LINES)
            and not frozen
            and line.adjusts_statement_id is None,
            "frozen": frozen,
        }
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    def override_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        line = _scoped_object(request, CommissionLine, object_id)
        _require(request, Capability.OVERRIDE_LINES)
        current = line.override_amount_native
        initial = {"amount": None if current is None else current.quantize(Decimal(1))}
        form = OverrideForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            try:
                line_override(
                    line_id=line.pk,
                    amount=form.cleaned_data["amount"],
                    reason=form.cleaned_data["reason"],
                    actor=request.user,  # type: ignore[arg-type]
                )
            except StatementError as error:
                form.add_error(None, str(error))
            else:
                messages.success(request, "Override saved.")
                return HttpResponseRedirect(
                    reverse("admin:commissions_commissionline_change", args=[line.pk])
                )
        return self._render(request, "override.html", "Override a commission line", line=line, form=form)

    def override_step_view(self, request: HttpRequest, object_id: str, step: str) -> HttpResponse:
        """Remove an override, or keep one whose computed amount changed (mark it reviewed)."""
        line = _scoped_object(request, CommissionLine, object_id)
        _require(request, Capability.OVERRIDE_LINES)
        if step not in ("clear", "reviewed"):
            raise Http404("no such step")
        form = OptionalReasonForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            reason = form.cleaned_data.get("reason") or ""
            try:
                if step == "clear":
                    line_override_clear(line_id=line.pk, reason=reason, actor=request.user)  # type: ignore[arg-type]
                else:
                    line_override_reviewed(line_id=line.pk, reason=reason, actor=request.user)  # type: ignore[arg-type]
            except StatementError as error:
                form.add_error(None, str(error))
            else:
                messages.success(
                    request, "Override removed." if step == "clear" else "Override kept and reviewed."
                )
                return HttpResponseRedirect(
                    reverse("admin:commissions_commissionline_change", args=[line.pk])
                )
        title = "Remove the override" if step == "clear" else "Keep the override (reviewed)"
        return self._render(request, "override_step.html", title, line=line, form=form, step=step)

    def _render(self, request: HttpRequest, template: str, title: str, **context: Any) -> TemplateResponse:
        return TemplateResponse(
            request,
            f"admin/commissions/commissionline/{template}",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": title,
                "object": context.get("line"),
                **context,
            },
        )
