from typing import Any

from django.contrib import admin

from accounts.admin_scope import ScopedAdminMixin
from aurora.common.admin import ReadOnlyAdminMixin, amount_column, pretty_json
from commissions import admin_finance  # noqa: F401  (agreements, lines, statements)
from commissions.models import (
    AgreementStatusEvent,
    AgreementVersion,
    ClientStakeSnapshot,
    ComputationRun,
    ValidatorPnl,
)


@admin.register(ValidatorPnl)
class ValidatorPnlAdmin(ScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin[ValidatorPnl]):
    list_display = [
        "validator_key",
        "chain",
        "period",
        "exec_fees",
        "mev_tips",
        "vote_rewards",
        "commission",
        "total_revenue",
    ]
    exec_fees = amount_column("exec_fees_native", "execution fees")
    mev_tips = amount_column("mev_tips_native", "MEV tips")
    vote_rewards = amount_column("vote_rewards_native", "vote rewards")
    commission = amount_column("commission_native")
    total_revenue = amount_column("total_revenue_native", "total revenue")
    list_filter = ["chain"]
    list_select_related = ["chain", "period"]
    search_fields = ["validator_key", "period__period_identifier"]
    raw_id_fields = ["period"]
    date_hierarchy = "computed_at"


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
    list_display = ["period", "partner", "chain", "account_count", "introduced_stake", "computed_at"]
    introduced_stake = amount_column("introduced_stake_native", "introduced stake")
    list_filter = ["chain"]
    list_select_related = ["period", "partner", "chain"]
    search_fields = ["partner__partner_name", "period__period_identifier"]
    raw_id_fields = ["period", "partner"]
    exclude = ["accounts"]
    readonly_fields = ["stake_accounts"]

    @admin.display(description="stake accounts per validator")
    def stake_accounts(self, obj: ClientStakeSnapshot) -> Any:
        return pretty_json(obj.accounts)


from commissions import admin_pnl  # noqa: E402, F401  (the P&L report page)
