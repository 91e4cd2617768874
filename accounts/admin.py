from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.http import HttpRequest

from accounts.admin_scope import ScopedAdminMixin
from accounts.models import AuditLog, User
from accounts.services import access_snapshot, user_access_changed
from aurora.common.admin import ReadOnlyAdminMixin, pretty_json


@admin.register(User)
class UserAdmin(ScopedAdminMixin, DjangoUserAdmin[User]):
    """Users; a change of role, partner or scope updates partner membership and is audited."""

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        before = access_snapshot(obj)
        super().save_model(request, obj, form, change)
        user_access_changed(user=obj, before=before, actor=request.user)  # type: ignore[arg-type]

    list_display = ["username", "email", "role", "partner", "is_active", "access_expires_at", "last_login"]
    list_filter = ["role", "is_active", "is_staff"]
    list_select_related = ["partner"]
    search_fields = ["username", "email", "first_name", "last_name", "partner__partner_name"]
    autocomplete_fields = ["partner"]
    date_hierarchy = "date_joined"
    ordering = ["username"]
    fieldsets = (
        *(DjangoUserAdmin.fieldsets or ()),
        (
            "Aurora access",
            {
                "fields": (
                    "role",
                    "partner",
                    "allowed_chain_ids",
                    "allowed_validator_keys",
                    "access_expires_at",
                )
            },
        ),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "email", "role", "partner", "password1", "password2"),
            },
        ),
    )


AUDIT_FIELDS: tuple[str, ...] = (
    "timestamp",
    "action",
    "resource_type",
    "resource_id",
    "user",
    "reason",
    "before",
    "after",
    "change_hash",
    "correlation_id",
    "ip_address",
    "user_agent",
)


@admin.register(AuditLog)
class AuditLogAdmin(ScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin[AuditLog]):
    list_display = [
        "timestamp",
        "action",
        "resource_type",
        "resource_id",
        "user",
        "ip_address",
        "correlation_id",
    ]
    list_filter = ["action", "resource_type"]
    list_select_related = ["user"]
    search_fields = ["resource_id", "user__username", "reason", "=correlation_id"]
    raw_id_fields = ["user"]
    date_hierarchy = "timestamp"
    fields = AUDIT_FIELDS
    readonly_fields = AUDIT_FIELDS

    @admin.display(description="before")
    def before(self, obj: AuditLog) -> Any:
        return pretty_json(obj.before_snapshot)

    @admin.display(description="after")
    def after(self, obj: AuditLog) -> Any:
        return pretty_json(obj.after_snapshot)
