from typing import TypeVar

from django.contrib import admin

from aurora.common.admin import CurrentRowFilter, ReadOnlyAdminMixin, is_current
from canonical.models import (
    CanonicalRecord,
    CanonicalStakeReward,
    CanonicalValidatorFees,
    CanonicalValidatorMeta,
    CanonicalValidatorMev,
)

_Record = TypeVar("_Record", bound=CanonicalRecord)


class CanonicalAdmin(ReadOnlyAdminMixin, admin.ModelAdmin[_Record]):
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
        "total_fees_native",
        "fee_count",
        "source_provider",
        is_current,
    ]


@admin.register(CanonicalValidatorMev)
class CanonicalValidatorMevAdmin(CanonicalAdmin[CanonicalValidatorMev]):
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
class CanonicalStakeRewardAdmin(CanonicalAdmin[CanonicalStakeReward]):
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
class CanonicalValidatorMetaAdmin(CanonicalAdmin[CanonicalValidatorMeta]):
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
