from django.contrib import admin

from accounts.admin_scope import ScopedAdminMixin
from aurora.common.admin import ChoicesOncePerPageMixin
from partners.models import Partner, PartnerClient


class PartnerClientInline(ChoicesOncePerPageMixin, admin.TabularInline[PartnerClient, Partner]):
    model = PartnerClient
    extra = 0
    fields = ["chain", "address", "kind", "effective_from", "effective_until", "note"]
    show_change_link = True


@admin.register(Partner)
class PartnerAdmin(ScopedAdminMixin, admin.ModelAdmin[Partner]):
    list_display = ["partner_name", "legal_entity_name", "contact_email", "contact_name", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["partner_name", "legal_entity_name", "contact_email", "contact_name"]
    readonly_fields = ["id", "created_at", "updated_at"]
    inlines = [PartnerClientInline]


@admin.register(PartnerClient)
class PartnerClientAdmin(ScopedAdminMixin, admin.ModelAdmin[PartnerClient]):
    list_display = ["address", "kind", "partner", "chain", "effective_from", "effective_until"]
    list_filter = ["chain", "kind"]
    list_select_related = ["partner", "chain"]
    search_fields = ["address", "partner__partner_name", "note"]
    autocomplete_fields = ["partner"]
    date_hierarchy = "effective_from"
    readonly_fields = ["id", "created_at", "updated_at"]
