from django.contrib import admin

from accounts.admin_scope import ScopedAdminMixin
from aurora.common.admin import ChoicesOncePerPageMixin
from chains.models import Chain, ChainProviderMapping, Period, Provider, ValidatorIdentity


class ChainProviderMappingInline(ChoicesOncePerPageMixin, admin.TabularInline[ChainProviderMapping, Chain]):
    model = ChainProviderMapping
    extra = 0
    fields = ["provider_role", "priority", "provider", "is_active"]
    ordering = ["provider_role", "priority"]


@admin.register(Chain)
class ChainAdmin(ScopedAdminMixin, admin.ModelAdmin[Chain]):
    list_display = [
        "id",
        "name",
        "period_type",
        "native_unit",
        "native_decimals",
        "finality_lag",
        "is_active",
    ]
    list_filter = ["period_type", "is_active"]
    search_fields = ["id", "name"]
    readonly_fields = ["created_at", "updated_at"]
    inlines = [ChainProviderMappingInline]


@admin.register(Provider)
class ProviderAdmin(ScopedAdminMixin, admin.ModelAdmin[Provider]):
    list_display = [
        "provider_name",
        "provider_type",
        "adapter",
        "base_url",
        "rate_limit_per_minute",
        "is_enabled",
    ]
    list_filter = ["provider_type", "is_enabled"]
    search_fields = ["provider_name", "adapter", "base_url"]
    readonly_fields = ["id", "created_at", "updated_at"]


@admin.register(ChainProviderMapping)
class ChainProviderMappingAdmin(ScopedAdminMixin, admin.ModelAdmin[ChainProviderMapping]):
    list_display = ["chain", "provider_role", "priority", "provider", "is_active"]
    list_filter = ["chain", "provider_role", "is_active"]
    list_select_related = ["chain", "provider"]
    search_fields = ["provider__provider_name"]
    readonly_fields = ["id", "created_at", "updated_at"]


@admin.register(Period)
class PeriodAdmin(ScopedAdminMixin, admin.ModelAdmin[Period]):
    list_display = [
        "period_identifier",
        "chain",
        "period_start",
        "period_end",
        "is_finalized",
        "finalized_at",
    ]
    list_filter = ["chain", "is_finalized"]
    list_select_related = ["chain"]
    search_fields = ["period_identifier"]
    date_hierarchy = "period_start"
    readonly_fields = ["id", "created_at", "updated_at"]


@admin.register(ValidatorIdentity)
class ValidatorIdentityAdmin(ScopedAdminMixin, admin.ModelAdmin[ValidatorIdentity]):
    list_display = ["validator_key", "display_name", "chain", "identity_pubkey", "fee_recipient", "is_active"]
    list_filter = ["chain", "is_active"]
    list_select_related = ["chain"]
    search_fields = [
        "validator_key",
        "display_name",
        "vote_pubkey",
        "node_pubkey",
        "identity_pubkey",
        "fee_recipient",
    ]
    readonly_fields = ["id", "created_at", "updated_at"]
