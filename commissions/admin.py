from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.admin_scope import ScopedAdminMixin
from aurora.common.admin import ReadOnlyAdminMixin, pretty_json
from commissions.models import (
    Agreement,
    AgreementRule,
    AgreementStatusEvent,
    AgreementVersion,
    ClientStakeSnapshot,
    CommissionLine,
    ComputationRun,
    Statement,
    ValidatorPnl,
)

VERSION_FIELDS: tuple[str, ...] = (
    "version_number",
    "effective_from",
    "effective_until",
    "change_reason",
    "created_by",
    "created_at",
)


@admin.register(ValidatorPnl)
class ValidatorPnlAdmin(ScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin[ValidatorPnl]):
    list_display = [
        "validator_key",
        "chain",
        "period",
        "exec_fees_native",
        "mev_tips_native",
        "vote_rewards_native",
        "commission_native",
        "total_revenue_native",
    ]
    list_filter = ["chain"]
    list_select_related = ["chain", "period"]
    search_fields = ["validator_key", "period__period_identifier"]
    raw_id_fields = ["period"]
    date_hierarchy = "computed_at"


class AgreementVersionInline(admin.TabularInline[AgreementVersion, Agreement]):
    model = AgreementVersion
    extra = 0
    fields = VERSION_FIELDS
    readonly_fields = VERSION_FIELDS
    can_delete = False
    show_change_link = True

    def get_queryset(self, request: HttpRequest) -> QuerySet[AgreementVersion]:
        return super().get_queryset(request).select_related("created_by")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Agreement)
class AgreementAdmin(ScopedAdminMixin, admin.ModelAdmin[Agreement]):
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
    autocomplete_fields = ["partner"]
    date_hierarchy = "effective_from"
    readonly_fields = ["id", "created_at", "updated_at"]
    inlines = [AgreementVersionInline]


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


@admin.register(AgreementRule)
class AgreementRuleAdmin(ScopedAdminMixin, admin.ModelAdmin[AgreementRule]):
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
    autocomplete_fields = ["agreement"]
    readonly_fields = ["id", "created_at", "updated_at"]


@admin.register(Statement)
class StatementAdmin(ScopedAdminMixin, admin.ModelAdmin[Statement]):
    list_display = [
        "month",
        "partner",
        "chain",
        "status",
        "total_commission_native",
        "line_count",
        "approved_at",
    ]
    list_filter = ["status", "chain", "month"]
    list_select_related = ["partner", "chain"]
    search_fields = ["partner__partner_name", "month"]
    autocomplete_fields = ["partner"]
    raw_id_fields = ["prepared_by", "first_approved_by", "approved_by", "released_by"]
    readonly_fields = ["id", "total_commission_native", "line_count", "created_at", "updated_at"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(CommissionLine)
class CommissionLineAdmin(ScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin[CommissionLine]):
    list_display = [
        "partner",
        "chain",
        "period",
        "revenue_component",
        "attribution_method",
        "base_amount_native",
        "commission_rate_bps",
        "pre_override_amount_native",
        "override_amount_native",
        "final_amount_native",
    ]
    list_filter = ["revenue_component", "attribution_method", "chain", "override_needs_review"]
    list_select_related = ["partner", "chain", "period"]
    search_fields = ["partner__partner_name", "validator_key", "period__period_identifier"]
    raw_id_fields = [
        "agreement",
        "rule",
        "partner",
        "period",
        "override_user",
        "statement",
        "adjusts_statement",
    ]
    date_hierarchy = "computed_at"
    show_full_result_count = False
    exclude = ["breakdown"]
    readonly_fields = ["breakdown_json"]

    @admin.display(description="breakdown")
    def breakdown_json(self, obj: CommissionLine) -> Any:
        return pretty_json(obj.breakdown)


@admin.register(AgreementStatusEvent)
class AgreementStatusEventAdmin(ScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin[AgreementStatusEvent]):
    list_display = ["effective_at", "agreement", "from_status", "to_status", "actor", "reason"]
    list_filter = ["to_status"]
    list_select_related = ["agreement", "actor"]
    search_fields = ["agreement__agreement_name", "reason"]
    raw_id_fields = ["agreement", "actor"]


@admin.register(ComputationRun)
class ComputationRunAdmin(ScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin[ComputationRun]):
    list_display = [
        "started_at",
        "chain",
        "period",
        "status",
        "pnl_written",
        "lines_inserted",
        "lines_updated",
        "lines_unchanged",
        "lines_removed",
        "adjustments_written",
        "overrides_flagged",
        "duration_seconds",
    ]
    list_filter = ["status", "chain"]
    list_select_related = ["chain", "period"]
    search_fields = ["=id", "period__period_identifier", "=fingerprint", "triggered_by"]
    raw_id_fields = ["period"]
    date_hierarchy = "started_at"


@admin.register(ClientStakeSnapshot)
class ClientStakeSnapshotAdmin(ScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin[ClientStakeSnapshot]):
    list_display = ["period", "partner", "chain", "account_count", "introduced_stake_native", "computed_at"]
    list_filter = ["chain"]
    list_select_related = ["period", "partner", "chain"]
    search_fields = ["partner__partner_name", "period__period_identifier"]
    raw_id_fields = ["period", "partner"]
    exclude = ["accounts"]
    readonly_fields = ["stake_accounts"]

    @admin.display(description="stake accounts per validator")
    def stake_accounts(self, obj: ClientStakeSnapshot) -> Any:
        return pretty_json(obj.accounts)
