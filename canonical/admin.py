from typing import Any

from django.contrib import admin

from aurora.common.admin import CurrentRowFilter, ReadOnlyAdminMixin, is_current
from canonical.models import (
    CanonicalStakeReward,
    CanonicalValidatorFees,
    CanonicalValidatorMeta,
    CanonicalValidatorMev,
)

TRACE = ["source_provider", "source_payload", "normalized_at", "superseded_at", "superseded_by"]


class CanonicalAdmin(ReadOnlyAdminMixin, admin.ModelAdmin[Any]):
    """Canonical facts are written by normalization only; history stays visible."""

    list_filter = [CurrentRowFilter, "chain", "source_provider"]
    list_select_related = ["chain", "period", "source_provider"]
    search_fields = ["validator_key", "period__period_identifier"]
    date_hierarchy = "normalized_at"
    show_full_result_count = False


@admin.register(CanonicalValidatorFees)
class CanonicalValidatorFeesAdmin(CanonicalAdmin):
    list_display = [
        "validator_key",
        "chain",
        "period",
        "total_fees_native",
        "fee_count",
        "source_provider",
        is_current,
    ]


@admin.register(CanonicalValidatorMev)
class CanonicalValidatorMevAdmin(CanonicalAdmin):
    list_display = [
        "validator_key",
        "chain",
        "period",
        "total_mev_native",
        "tip_count",
        "source_provider",
        is_current,
    ]


@admin.register(CanonicalStakeReward)
class CanonicalStakeRewardAdmin(CanonicalAdmin):
    list_display = [
        "validator_key",
        "staker_address",
        "withdraw_authority",
        "period",
        "active_stake_native",
        "rewards_native",
        "commission_native",
        is_current,
    ]
    search_fields = ["validator_key", "staker_address", "withdraw_authority", "period__period_identifier"]


@admin.register(CanonicalValidatorMeta)
class CanonicalValidatorMetaAdmin(CanonicalAdmin):
    list_display = [
        "validator_key",
        "chain",
        "period",
        "commission_rate_bps",
        "mev_commission_bps",
        "is_mev_enabled",
        "active_stake_native",
        "delegator_count",
        is_current,
    ]
    list_filter = [CurrentRowFilter, "chain", "is_mev_enabled", "source_provider"]
