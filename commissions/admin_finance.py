"""The finance back office: agreements (terms, versions, preview, status), commission lines
(overrides) and statements (the approval workflow, export).

Pages are thin: forms validate input, services (commissions.services.*) do the work and audit it,
and an error from a service is shown on the page with nothing written. Who may do what comes from
`accounts.access`; objects come through `scoped()` (a row out of scope answers 404).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import F, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from accounts.access import Capability, has_capability, rules_outside_scope, scoped
from accounts.admin_scope import ScopedAdminMixin
from aurora.common.admin import ReadOnlyAdminMixin, ViewOnlyHistoryAdmin, amount_column, pretty_json
from commissions.admin_forms import (
    NewAgreementForm,
    OptionalReasonForm,
    OverrideForm,
    PreviewRangeForm,
    ReasonForm,
    RuleForm,
    RuleFormSet,
    TermsForm,
    rule_specs,
)
from commissions.models import (
    Agreement,
    AgreementRule,
    AgreementStatus,
    AgreementVersion,
    CommissionLine,
    Statement,
    StatementStatus,
)
from commissions.services.agreements import (
    TRANSITIONS,
    AgreementError,
    RuleSpec,
    agreement_create,
    agreement_set_status,
    agreement_update_terms,
    terms_token,
)
from commissions.services.preview import preview_terms
from commissions.services.recompute import FROZEN
from commissions.services.statements import (
    StatementError,
    line_override,
    line_override_clear,
    line_override_reviewed,
    statement_approve,
    statement_export,
    statement_mark_paid,
    statement_reject,
    statement_release,
    statement_submit,
)

VERSION_FIELDS: tuple[str, ...] = (
    "version_number",
    "effective_from",
    "effective_until",
    "change_reason",
    "created_by",
    "created_at",
)


def _require(request: HttpRequest, capability: Capability) -> None:
    if not has_capability(request.user, capability):
        raise PermissionDenied


def _scoped_object(request: HttpRequest, model: Any, object_id: str) -> Any:
    """The object, if the user may see the model (else 403) and the object is in scope (else 404)."""
    if not admin.site._registry[model].has_view_or_change_permission(request):
        raise PermissionDenied
    try:
        UUID(str(object_id))
    except ValueError:
        raise Http404("no such object") from None
    return get_object_or_404(scoped(model.objects.all(), request.user), pk=object_id)


def _current_specs(agreement: Agreement) -> list[RuleSpec]:
    rules = AgreementRule.objects.filter(
        agreement=agreement, version_number=agreement.current_version, is_active=True
    ).order_by("rule_order")
    return [RuleSpec.from_rule(rule) for rule in rules]


def _scopes(rules: list[RuleSpec]) -> list[tuple[str | None, str | None]]:
    return [(rule.chain_id, rule.validator_key) for rule in rules]


def _require_terms_in_scope(request: HttpRequest, rules: list[RuleSpec]) -> None:
    """Changing or previewing terms that reach outside the user's chains or validators: 403."""
    if rules_outside_scope(request.user, _scopes(rules)):
        raise PermissionDenied


def _visible_rules(request: HttpRequest, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rules of a terms snapshot that the user may read (as `scoped` reads rule rows)."""
    chains = getattr(request.user, "allowed_chain_ids", None) or []
    validators = getattr(request.user, "allowed_validator_keys", None) or []
    return [
        rule
        for rule in rules
        if (not chains or rule.get("chain_id") in chains)
        and (not validators or rule.get("validator_key") in (None, *validators))
    ]


def _first_chain(rules: list[RuleSpec]) -> str | None:
    return next((rule.chain_id for rule in rules if rule.chain_id), None)


class AgreementVersionInline(admin.TabularInline[AgreementVersion, Agreement]):
    model = AgreementVersion
    extra = 0
    fields = VERSION_FIELDS
    readonly_fields = VERSION_FIELDS
    can_delete = False
    show_change_link = True

    def get_queryset(self, request: HttpRequest) -> QuerySet[AgreementVersion]:
        return super().get_queryset(request).select_related("agreement", "created_by")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class CurrentRuleInline(admin.TabularInline[AgreementRule, Agreement]):
    """The rules of the version in force (earlier versions: the version pages and Compare)."""

    model = AgreementRule
    extra = 0
    fields = (
        "version_number",
        "rule_order",
        "chain",
        "validator_key",
        "revenue_component",
        "attribution_method",
        "commission_rate_bps",
        "floor_amount_native",
        "cap_amount_native",
        "tier_config",
    )
    readonly_fields = fields
    can_delete = False
    verbose_name_plural = "rules of the current version"

    def get_queryset(self, request: HttpRequest) -> QuerySet[AgreementRule]:
        queryset = scoped(super().get_queryset(request), request.user).select_related("agreement", "chain")
        return queryset.filter(version_number=F("agreement__current_version")).order_by("rule_order")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# URL slug -> (the status it moves to, the button's label)
STATUS_ACTIONS: dict[str, tuple[str, str]] = {
    "activate": (AgreementStatus.ACTIVE, "Activate"),
    "suspend": (AgreementStatus.SUSPENDED, "Suspend"),
    "terminate": (AgreementStatus.TERMINATED, "Terminate"),
}


@admin.register(Agreement)
class AgreementAdmin(ScopedAdminMixin, ViewOnlyHistoryAdmin):
    """Agreements are changed through their own pages (new, terms, status), which call the
    services: the standard form only shows them."""

    list_display = [
        "agreement_name",
        "partner",
        "status",
        "current_version",
        "effective_from",
        "effective_until",
    ]
    list_filter = ["status"]
    list_select_related = ["partner"]
    search_fields = ["agreement_name", "partner__partner_name"]
    date_hierarchy = "effective_from"
    readonly_fields = [
        "id",
        "partner",
        "agreement_name",
        "status",
        "current_version",
        "effective_from",
        "effective_until",
        "created_at",
        "updated_at",
    ]
    inlines = [CurrentRuleInline, AgreementVersionInline]
    change_form_template = "admin/commissions/agreement/change_form.html"
    actions = ["activate", "suspend", "terminate"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # terms and status change through their pages, which version and audit

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return has_capability(request.user, Capability.EDIT_AGREEMENTS)

    def has_change_status_permission(self, request: HttpRequest) -> bool:
        return has_capability(request.user, Capability.EDIT_AGREEMENTS)

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/terms/", view(self.terms_view), name="commissions_agreement_terms"),
            path("<path:object_id>/preview/", view(self.preview_view), name="commissions_agreement_preview"),
            path("<path:object_id>/compare/", view(self.compare_view), name="commissions_agreement_compare"),
            path(
                "<path:object_id>/status/<slug:action>/",
                view(self.status_view),
                name="commissions_agreement_status",
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
        agreement = _scoped_object(request, Agreement, object_id)
        extra = {
            "can_edit": has_capability(request.user, Capability.EDIT_AGREEMENTS),
            "transitions": [
                (slug, label)
                for slug, (status, label) in STATUS_ACTIONS.items()
                if status in TRANSITIONS[agreement.status]
            ],
            "versions": agreement.versions.order_by("version_number").values_list(
                "version_number", flat=True
            ),
        }
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})  # type: ignore[no-any-return]

    # -- new agreement and new terms --

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        _require(request, Capability.EDIT_AGREEMENTS)
        form = NewAgreementForm(request.POST or None, user=request.user)
        rules = RuleFormSet(request.POST or None, prefix="rules", form_kwargs={"user": request.user})
        if request.method == "POST" and form.is_valid() and rules.is_valid():
            try:
                agreement = agreement_create(
                    partner=form.cleaned_data["partner"],
                    name=form.cleaned_data["name"],
                    effective_from=form.cleaned_data["effective_from"],
                    effective_until=form.cleaned_data.get("effective_until"),
                    rules=rule_specs(rules),
                    actor=request.user,  # type: ignore[arg-type]
                    reason=form.cleaned_data.get("reason") or "",
                )
            except AgreementError as error:
                form.add_error(None, str(error))
            else:
                messages.success(request, f"Draft agreement “{agreement.agreement_name}” created.")
                return HttpResponseRedirect(
                    reverse("admin:commissions_agreement_change", args=[agreement.pk])
                )
        return self._render(request, "new.html", "New agreement", form=form, rules=rules)

    def terms_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        agreement = _scoped_object(request, Agreement, object_id)
        _require(request, Capability.EDIT_AGREEMENTS)
        current = _current_specs(agreement)
        _require_terms_in_scope(request, current)
        version = agreement.versions.filter(version_number=agreement.current_version).first()
        draft = agreement.status == AgreementStatus.DRAFT
        initial = {
            "effective_from": version.effective_from if version and draft else None,
            "based_on": terms_token(version) if version else "",
        }
        form = TermsForm(request.POST or None, initial=initial)
        rules = RuleFormSet(
            request.POST or None,
            prefix="rules",
            initial=[RuleForm.initial_from(spec) for spec in current],
            form_kwargs={"user": request.user, "keep_chains": [r.chain_id for r in current if r.chain_id]},
        )
        range_form = (
            PreviewRangeForm(request.POST or None, prefix="preview", user=request.user)
            if "_preview" in request.POST
            else None
        )
        preview = None
        if request.method == "POST" and rules.is_valid():
            if range_form is not None:
                if range_form.is_valid():
                    preview = self._preview(request, agreement, rule_specs(rules), current, range_form)
            elif form.is_valid():
                try:
                    new = agreement_update_terms(
                        agreement_id=agreement.pk,
                        rules=rule_specs(rules),
                        effective_from=form.cleaned_data["effective_from"],
                        change_reason=form.cleaned_data["change_reason"],
                        actor=request.user,  # type: ignore[arg-type]
                        based_on=form.cleaned_data["based_on"],
                    )
                except AgreementError as error:
                    form.add_error(None, str(error))
                else:
                    messages.success(request, f"Terms saved as version {new.version_number}.")
                    return HttpResponseRedirect(
                        reverse("admin:commissions_agreement_change", args=[agreement.pk])
                    )
        return self._render(
            request,
            "terms.html",
            f"Terms of {agreement.agreement_name}",
            agreement=agreement,
            form=form,
            rules=rules,
            range_form=range_form
            or PreviewRangeForm(
                prefix="preview",
                user=request.user,
                initial=PreviewRangeForm.recent(request.user, _first_chain(current)),
            ),
            preview=preview,
        )

    # -- preview, compare, status --

    def preview_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """What the current version (a draft's terms) would have paid over past periods."""
        agreement = _scoped_object(request, Agreement, object_id)
        _require(request, Capability.VIEW_COMMISSIONS)
        terms = _current_specs(agreement)
        _require_terms_in_scope(request, terms)
        range_form = PreviewRangeForm(
            request.GET or None,
            prefix="preview",
            user=request.user,
            initial=PreviewRangeForm.recent(request.user, _first_chain(terms)),
        )
        preview = None
        if range_form.is_bound and range_form.is_valid():
            in_force: list[RuleSpec] = [] if agreement.status == AgreementStatus.DRAFT else terms
            preview = self._preview(request, agreement, terms, in_force, range_form, form=range_form)
        return self._render(
            request,
            "preview.html",
            f"Preview of {agreement.agreement_name}",
            agreement=agreement,
            range_form=range_form,
            preview=preview,
        )

    def _preview(
        self,
        request: HttpRequest,
        agreement: Agreement,
        proposed: list[RuleSpec],
        current: list[RuleSpec],
        range_form: Any,
        form: Any = None,
    ) -> Any:
        problems = rules_outside_scope(request.user, _scopes(proposed) + _scopes(current))
        if problems:
            (form or range_form).add_error(None, "; ".join(problems))
            return None
        try:
            return preview_terms(
                partner_id=agreement.partner_id,
                agreement_id=agreement.pk,
                proposed=proposed,
                current=current,
                chain_id=range_form.cleaned_data["chain"].pk,
                first=range_form.cleaned_data["from_period"],
                last=range_form.cleaned_data["to_period"],
            )
        except AgreementError as error:
            (form or range_form).add_error(None, str(error))
            return None

    def compare_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Two versions side by side, rule by rule; changed values marked."""
        agreement = _scoped_object(request, Agreement, object_id)
        versions = {v.version_number: v for v in agreement.versions.all()}
        try:
            left = versions[int(request.GET.get("a") or max(1, agreement.current_version - 1))]
            right = versions[int(request.GET.get("b") or agreement.current_version)]
        except (KeyError, ValueError):
            raise Http404("no such version") from None
        rows = _compare(
            _visible_rules(request, left.terms_snapshot.get("rules", [])),
            _visible_rules(request, right.terms_snapshot.get("rules", [])),
        )
        return self._render(
            request,
            "compare.html",
            f"{agreement.agreement_name}: v{left.version_number} and v{right.version_number}",
            agreement=agreement,
            left=left,
            right=right,
            rows=rows,
            versions=sorted(versions),
        )

    def status_view(self, request: HttpRequest, object_id: str, action: str) -> HttpResponse:
        agreement = _scoped_object(request, Agreement, object_id)
        _require(request, Capability.EDIT_AGREEMENTS)
        if action not in STATUS_ACTIONS:
            raise Http404("no such status change")
        _require_terms_in_scope(request, _current_specs(agreement))
        status, label = STATUS_ACTIONS[action]
        form = ReasonForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                agreement_set_status(
                    agreement_id=agreement.pk,
                    status=status,
                    actor=request.user,  # type: ignore[arg-type]
                    reason=form.cleaned_data["reason"],
                    effective_at=form.cleaned_data.get("effective_at"),
                )
            except AgreementError as error:
                form.add_error(None, str(error))
            else:
                agreement.refresh_from_db()
                messages.success(
                    request,
                    f"“{agreement.agreement_name}” is now {agreement.get_status_display().lower()}.",
                )
                return HttpResponseRedirect(
                    reverse("admin:commissions_agreement_change", args=[agreement.pk])
                )
        allowed = status in TRANSITIONS[agreement.status]
        return self._render(
            request,
            "status.html",
            f"{label} {agreement.agreement_name}",
            agreement=agreement,
            form=form,
            status=AgreementStatus(status),
            allowed=allowed,
        )

    @admin.action(description="Activate the selected agreements", permissions=["change_status"])
    def activate(self, request: HttpRequest, queryset: QuerySet[Agreement]) -> HttpResponse | None:
        return self._bulk_status(request, queryset, AgreementStatus.ACTIVE)

    @admin.action(description="Suspend the selected agreements", permissions=["change_status"])
    def suspend(self, request: HttpRequest, queryset: QuerySet[Agreement]) -> HttpResponse | None:
        return self._bulk_status(request, queryset, AgreementStatus.SUSPENDED)

    @admin.action(description="Terminate the selected agreements", permissions=["change_status"])
    def terminate(self, request: HttpRequest, queryset: QuerySet[Agreement]) -> HttpResponse | None:
        return self._bulk_status(request, queryset, AgreementStatus.TERMINATED)

    def _bulk_status(
        self, request: HttpRequest, queryset: QuerySet[Agreement], status: str
    ) -> HttpResponse | None:
        """Asks for a reason first (a confirmation page), then moves each agreement that may."""
        _require(request, Capability.EDIT_AGREEMENTS)
        form = ReasonForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            moved = 0
            for agreement in queryset:
                try:
                    agreement_set_status(
                        agreement_id=agreement.pk,
                        status=status,
                        actor=request.user,  # type: ignore[arg-type]
                        reason=form.cleaned_data["reason"],
                        effective_at=form.cleaned_data.get("effective_at"),
                    )
                    moved += 1
                except AgreementError as error:
                    messages.error(request, f"“{agreement.agreement_name}” was left as it is: {error}")
            if moved:
                label = AgreementStatus(status).label.lower()
                messages.success(request, f"{moved} agreement{'s' if moved != 1 else ''} now {label}.")
            return None
        return self._render(
            request,
            "bulk_status.html",
            f"{AgreementStatus(status).label}: agreements",
            form=form,
            status=AgreementStatus(status),
            agreements=queryset,
            action=request.POST.get("action", ""),
        )

    def _render(self, request: HttpRequest, template: str, title: str, **context: Any) -> TemplateResponse:
        return TemplateResponse(
            request,
            f"admin/commissions/agreement/{template}",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": title,
                "object": context.get("agreement"),
                **context,
            },
        )


RULE_KEYS = (
    "chain_id",
    "validator_key",
    "revenue_component",
    "attribution_method",
    "commission_rate_bps",
    "floor_amount_native",
    "cap_amount_native",
    "tier_config",
)


def _compare(left: list[dict[str, Any]], right: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_order_left = {r["rule_order"]: r for r in left}
    by_order_right = {r["rule_order"]: r for r in right}
    rows = []
    for order in sorted(set(by_order_left) | set(by_order_right)):
        a, b = by_order_left.get(order), by_order_right.get(order)
        cells = [
            {
                "field": key,
                "left": "—" if a is None else a.get(key),
                "right": "—" if b is None else b.get(key),
                "changed": (a or {}).get(key) != (b or {}).get(key),
            }
            for key in RULE_KEYS
        ]
        rows.append({"order": order, "cells": cells, "added": a is None, "removed": b is None})
    return rows


@admin.register(AgreementRule)
class AgreementRuleAdmin(ScopedAdminMixin, ReadOnlyAdminMixin, ViewOnlyHistoryAdmin):
    """Rules are written with their version through the agreement's terms page."""

    list_display = [
        "agreement",
        "version_number",
        "rule_order",
        "chain",
        "validator_key",
        "revenue_component",
        "attribution_method",
        "commission_rate_bps",
        "floor_amount_native",
        "cap_amount_native",
        "is_active",
    ]
    list_filter = ["revenue_component", "attribution_method", "chain", "is_active"]
    list_select_related = ["agreement", "chain"]
    search_fields = ["agreement__agreement_name", "validator_key"]


# ---- commission lines ---------------------------------------------------------------------------


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


# ---- statements ---------------------------------------------------------------------------------


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
