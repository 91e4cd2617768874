"""Records of the computation itself: its runs and the client stake snapshots it read (read only)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from accounts.admin_scope import ScopedAdminMixin
from aurora.common.admin import ReadOnlyAdminMixin, amount_column, pretty_json
from commissions.models import ClientStakeSnapshot, ComputationRun


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
