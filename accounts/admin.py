import uuid
from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import Truncator

from accounts.admin_scope import ScopedAdminMixin
from accounts.audit_diff import SnapshotDiff, display_value, snapshot_diff
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


@admin.register(AuditLog)
class AuditLogAdmin(ScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin[AuditLog]):
    """The audit trail, read only for everyone: search by user, action, resource or correlation id
    (a UUID matches the correlation id or the resource id exactly), filter by action and date;
    an entry's page shows what changed and its links in the hash chain."""

    list_display = [
        "timestamp",
        "sequence",
        "action",
        "user",
        "resource",
        "short_reason",
        "correlation_id",
    ]
    list_display_links = ["timestamp", "sequence"]
    list_filter = ["action", ("timestamp", admin.DateFieldListFilter), "resource_type"]
    list_select_related = ["user"]
    search_fields = ["user__username", "action", "resource_type", "resource_id"]
    search_help_text = (
        "Username, action, resource type or id; a UUID finds its correlation id (or resource id) exactly."
    )
    date_hierarchy = "timestamp"
    ordering = ["-sequence"]
    actions = None
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "timestamp",
                    "sequence",
                    "action",
                    "user",
                    "resource_type",
                    "resource_id",
                    "reason",
                    "correlation_id",
                    "ip_address",
                    "user_agent",
                )
            },
        ),
        ("Changes", {"fields": ("changes",)}),
        ("Hash chain", {"fields": ("change_hash", "previous_hash")}),
        ("Snapshots", {"classes": ("collapse",), "fields": ("before", "after")}),
    )
    readonly_fields = (
        "timestamp",
        "sequence",
        "action",
        "user",
        "resource_type",
        "resource_id",
        "reason",
        "correlation_id",
        "ip_address",
        "user_agent",
        "changes",
        "change_hash",
        "previous_hash",
        "before",
        "after",
    )

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[AuditLog], search_term: str
    ) -> tuple[QuerySet[AuditLog], bool]:
        term = search_term.strip()
        try:
            wanted = uuid.UUID(term)
        except ValueError:
            return super().get_search_results(request, queryset, search_term)
        return queryset.filter(Q(correlation_id=wanted) | Q(resource_id__iexact=term)), False

    @admin.display(description="resource", ordering="resource_type")
    def resource(self, obj: AuditLog) -> str:
        return f"{obj.resource_type}:{obj.resource_id}" if obj.resource_id else obj.resource_type

    @admin.display(description="reason")
    def short_reason(self, obj: AuditLog) -> str:
        return Truncator(obj.reason or "").chars(80)

    @admin.display(description="before and after")
    def changes(self, obj: AuditLog) -> SafeString:
        return audit_changes_html(snapshot_diff(obj.before_snapshot, obj.after_snapshot))

    @admin.display(description="before (raw)")
    def before(self, obj: AuditLog) -> Any:
        return pretty_json(obj.before_snapshot)

    @admin.display(description="after (raw)")
    def after(self, obj: AuditLog) -> Any:
        return pretty_json(obj.after_snapshot)


def _value_cell(value: Any) -> SafeString:
    return format_html('<pre class="aurora-pre aurora-pre-cell">{}</pre>', display_value(value))


def audit_changes_html(diff: SnapshotDiff) -> SafeString:
    """A two-column table (old, new) of the changed keys; the unchanged ones folded beneath."""
    if not diff.changed and not diff.unchanged:
        return format_html('<span class="quiet">{}</span>', "no snapshots")
    changed = format_html_join(
        "",
        '<tr class="audit-{}"><th scope="row">{}</th><td class="audit-old">{}</td>'
        '<td class="audit-new">{}</td></tr>',
        (
            (change.kind, change.key, _value_cell(change.old), _value_cell(change.new))
            for change in diff.changed
        ),
    )
    table = format_html(
        '<table class="audit-diff"><thead><tr><th scope="col">key</th><th scope="col">before</th>'
        '<th scope="col">after</th></tr></thead><tbody>{}</tbody></table>',
        changed or format_html('<tr><td colspan="3">{}</td></tr>', "nothing changed"),
    )
    if not diff.unchanged:
        return table
    unchanged = format_html_join(
        "",
        '<tr><th scope="row">{}</th><td>{}</td></tr>',
        ((key, _value_cell(value)) for key, value in diff.unchanged),
    )
    count = len(diff.unchanged)
    return format_html(
        '{}<details class="audit-unchanged"><summary>{} unchanged key{}</summary><table>{}</table></details>',
        table,
        count,
        "" if count == 1 else "s",
        unchanged,
    )
