from typing import Any, TypeVar

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import Truncator

from accounts.admin_scope import ScopedAdminMixin
from aurora.common.admin import CurrentRowFilter, ReadOnlyAdminMixin, amount_column, is_current, pretty_json
from canonical.models import (
    CanonicalRecord,
    CanonicalStakeReward,
    CanonicalValidatorFees,
    CanonicalValidatorMeta,
    CanonicalValidatorMev,
    NormalizationRun,
    NormalizedInput,
    ReconciliationFinding,
    ReconciliationReport,
)
from canonical.services import shortfall

_Record = TypeVar("_Record", bound=CanonicalRecord)
WHY_NOT_SUCCESS_CHARS = 160


class CanonicalAdmin(ScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin[_Record]):
    """Canonical facts are written by normalization only; history stays visible."""

    list_filter = [CurrentRowFilter, "chain", "source_provider"]
    list_select_related = ["chain", "period", "source_provider"]
    search_fields = ["validator_key", "period__period_identifier"]
    raw_id_fields = ["period", "source_payload", "superseded_by"]
    date_hierarchy = "normalized_at"
    show_full_result_count = False


@admin.register(CanonicalValidatorFees)
class CanonicalValidatorFeesAdmin(CanonicalAdmin[CanonicalValidatorFees]):
    list_display = [
        "validator_key",
        "chain",
        "period",
        "total_fees",
        "fee_count",
        "source_provider",
        is_current,
    ]
    total_fees = amount_column("total_fees_native", "fees")


@admin.register(CanonicalValidatorMev)
class CanonicalValidatorMevAdmin(CanonicalAdmin[CanonicalValidatorMev]):
    list_display = [
        "validator_key",
        "chain",
        "period",
        "total_mev",
        "gross_mev",
        "mev_commission_bps",
        "source_provider",
        is_current,
    ]
    total_mev = amount_column("total_mev_native", "MEV to the validator")
    gross_mev = amount_column("gross_mev_native", "gross MEV")


@admin.register(CanonicalStakeReward)
class CanonicalStakeRewardAdmin(CanonicalAdmin[CanonicalStakeReward]):
    list_display = [
        "validator_key",
        "staker_address",
        "withdraw_authority",
        "period",
        "active_stake",
        "rewards",
        "commission",
        "commission_rate_bps",
        is_current,
    ]
    active_stake = amount_column("active_stake_native", "active stake")
    rewards = amount_column("rewards_native")
    commission = amount_column("commission_native")
    search_fields = ["validator_key", "staker_address", "withdraw_authority", "period__period_identifier"]


@admin.register(CanonicalValidatorMeta)
class CanonicalValidatorMetaAdmin(CanonicalAdmin[CanonicalValidatorMeta]):
    list_display = [
        "validator_key",
        "chain",
        "period",
        "commission_rate_bps",
        "mev_commission_bps",
        "is_mev_enabled",
        "active_stake",
        "delegator_count",
        is_current,
    ]
    active_stake = amount_column("active_stake_native", "active stake")
    list_filter = [CurrentRowFilter, "chain", "is_mev_enabled", "source_provider"]


@admin.register(NormalizationRun)
class NormalizationRunAdmin(ScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin[NormalizationRun]):
    list_display = [
        "started_at",
        "chain",
        "period",
        "status",
        "validators_total",
        "validators_unchanged",
        "rows_inserted",
        "rows_superseded",
        "rows_unchanged",
        "items_failed",
        "duration_seconds",
        "findings",
        "why_not_success",
    ]
    list_filter = ["status", "chain"]
    list_select_related = ["chain", "period", "report"]
    search_fields = ["=id", "period__period_identifier", "error_message", "triggered_by"]
    raw_id_fields = ["period"]
    date_hierarchy = "started_at"
    exclude = ["failures", "timings"]
    readonly_fields = ["failure_list", "phase_timings", "findings"]

    @admin.display(description="reconciliation")
    def findings(self, obj: NormalizationRun) -> Any:
        report = getattr(obj, "report", None)
        if report is None:
            return "-"
        link = reverse("admin:canonical_reconciliationreport_change", args=[report.pk])
        return format_html(
            '<a href="{}">{} errors, {} warnings, {} info</a>',
            link,
            report.error_count,
            report.warning_count,
            report.info_count,
        )

    @admin.display(description="why not SUCCESS")
    def why_not_success(self, obj: NormalizationRun) -> str:
        return Truncator(shortfall(obj)).chars(WHY_NOT_SUCCESS_CHARS)

    @admin.display(description="items without usable data")
    def failure_list(self, obj: NormalizationRun) -> Any:
        return pretty_json(obj.failures)

    @admin.display(description="seconds per phase")
    def phase_timings(self, obj: NormalizationRun) -> Any:
        return pretty_json(obj.timings)


FINDING_COLUMNS: tuple[str, ...] = (
    "severity",
    "kind",
    "validator_key",
    "data_type",
    "field",
    "providers",
    "expected_value",
    "observed_value",
    "delta_pct",
    "message",
)


class FindingInline(admin.TabularInline[ReconciliationFinding, ReconciliationReport]):
    model = ReconciliationFinding
    fields = FINDING_COLUMNS
    readonly_fields = FINDING_COLUMNS
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ReconciliationReport)
class ReconciliationReportAdmin(ScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin[ReconciliationReport]):
    list_display = ["created_at", "chain", "period", "error_count", "warning_count", "info_count", "summary"]
    list_filter = ["chain"]
    list_select_related = ["chain", "period"]
    search_fields = ["period__period_identifier", "summary"]
    raw_id_fields = ["run", "period"]
    date_hierarchy = "created_at"
    inlines = [FindingInline]


@admin.register(ReconciliationFinding)
class ReconciliationFindingAdmin(
    ScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin[ReconciliationFinding]
):
    list_display = ("severity", "kind", "chain", "period", *FINDING_COLUMNS[2:])
    list_filter = ["severity", "kind", "data_type", "chain"]
    list_select_related = ["chain", "period"]
    search_fields = ["validator_key", "message", "period__period_identifier"]
    raw_id_fields = ["report", "period"]
    exclude = ["details"]
    readonly_fields = ["finding_details"]

    @admin.display(description="details")
    def finding_details(self, obj: ReconciliationFinding) -> Any:
        return pretty_json(obj.details)


@admin.register(NormalizedInput)
class NormalizedInputAdmin(ScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin[NormalizedInput]):
    list_display = ["validator_key", "chain", "period", "fingerprint", "run", "updated_at"]
    list_filter = ["chain"]
    list_select_related = ["chain", "period", "run"]
    search_fields = ["validator_key", "=fingerprint"]
    raw_id_fields = ["period", "run"]
