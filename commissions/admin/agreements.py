"""Agreements: the agreement (its own pages are in `agreement_views`), its rules, versions and
status events."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import F, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse

from accounts.access import Capability, has_capability, scoped
from accounts.admin_scope import ScopedAdminMixin
from aurora.common.admin import ReadOnlyAdminMixin, ViewOnlyHistoryAdmin, pretty_json
from commissions.admin._shared import _require, _scoped_object
from commissions.admin.agreement_views import STATUS_ACTIONS, AgreementViewsMixin
from commissions.admin.forms import NewAgreementForm, RuleFormSet, rule_specs
from commissions.models import Agreement, AgreementRule, AgreementStatusEvent, AgreementVersion
from commissions.services.agreements import TRANSITIONS, AgreementError, agreement_create

VERSION_FIELDS: tuple[str, ...] = (
    "version_number",
    "effective_from",
    "effective_until",
    "change_reason",
    "created_by",
    "created_at",
)


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


@admin.register(Agreement)
class AgreementAdmin(AgreementViewsMixin, ScopedAdminMixin, ViewOnlyHistoryAdmin):
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

    # -- new agreement (new terms, preview, compare and status: AgreementViewsMixin) --

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


VERSION_DETAIL_FIELDS: tuple[str, ...] = (
    "agreement",
    "version_number",
    "effective_from",
    "effective_until",
    "change_reason",
    "created_by",
    "terms",
)


@admin.register(AgreementVersion)
class AgreementVersionAdmin(ScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin[AgreementVersion]):
    list_display = [
        "agreement",
        "version_number",
        "effective_from",
        "effective_until",
        "created_by",
        "created_at",
    ]
    list_select_related = ["agreement", "created_by"]
    search_fields = ["agreement__agreement_name", "change_reason"]
    date_hierarchy = "effective_from"
    fields = VERSION_DETAIL_FIELDS
    readonly_fields = VERSION_DETAIL_FIELDS

    @admin.display(description="terms")
    def terms(self, obj: AgreementVersion) -> Any:
        return pretty_json(obj.terms_snapshot)


@admin.register(AgreementStatusEvent)
class AgreementStatusEventAdmin(ScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin[AgreementStatusEvent]):
    list_display = ["effective_at", "agreement", "from_status", "to_status", "actor", "reason"]
    list_filter = ["to_status"]
    list_select_related = ["agreement", "actor"]
    search_fields = ["agreement__agreement_name", "reason"]
    raw_id_fields = ["agreement", "actor"]
