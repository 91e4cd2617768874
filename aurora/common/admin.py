"""Admin building blocks shared by the apps."""

import json
from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import ForeignKey, Model, QuerySet
from django.forms import ModelChoiceField
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.utils.html import format_html
from django.utils.safestring import SafeString
from simple_history.admin import SimpleHistoryAdmin

from aurora.common.amounts import token_amount


class ReadOnlyAdminMixin:
    """For facts Aurora records itself (payloads, canonical rows, audit entries): view only."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ViewOnlyHistoryAdmin(SimpleHistoryAdmin):  # type: ignore[misc]
    """A model's history, read only: past versions are shown, never restored (records change
    through their services, which validate and audit), and only for an object in the user's scope."""

    def revert_disabled(self, request: HttpRequest, obj: Any = None) -> bool:
        return True

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        """Every field: these admins change nothing through a form, and a past version's page must
        not offer inputs (nor list choices, such as other chains, to pick from)."""
        declared = list(super().get_readonly_fields(request, obj))
        return declared + [f.name for f in self.model._meta.fields if f.name not in declared]

    def history_view(self, request: HttpRequest, object_id: str, extra_context: Any = None) -> HttpResponse:
        self._require_in_scope(request, object_id)
        return super().history_view(request, object_id, extra_context)  # type: ignore[no-any-return]

    def history_form_view(
        self, request: HttpRequest, object_id: str, version_id: str, extra_context: Any = None
    ) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        self._require_in_scope(request, object_id)
        try:
            int(version_id)
        except ValueError:
            raise Http404("no such version") from None
        return super().history_form_view(  # type: ignore[no-any-return]
            request, object_id, version_id, extra_context
        )

    def _require_in_scope(self, request: HttpRequest, object_id: str) -> None:
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        try:
            pk = self.model._meta.pk.to_python(unquote(object_id))
        except ValidationError:
            raise Http404("no such object") from None
        if not self.get_queryset(request).filter(pk=pk).exists():
            raise Http404("no such object")


class ChoicesOncePerPageMixin:
    """Inlines: load each foreign key's choices once per page, not once per inline row."""

    def formfield_for_foreignkey(
        self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> ModelChoiceField[Any] | None:
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]
        if field is not None:
            field.choices = list(field.iterator(field))
        return field  # type: ignore[no-any-return]


class CurrentRowFilter(admin.SimpleListFilter):
    """Canonical rows: the current one per key, or the superseded history."""

    title = "version"
    parameter_name = "version"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("current", "Current"), ("superseded", "Superseded")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "current":
            return queryset.filter(superseded_at__isnull=True)
        if self.value() == "superseded":
            return queryset.filter(superseded_at__isnull=False)
        return queryset


def pretty_json(value: Any) -> SafeString:
    """A JSON document indented in a <pre>, escaped."""
    return format_html('<pre class="aurora-pre">{}</pre>', json.dumps(value, indent=2, sort_keys=True))


@admin.display(boolean=True, description="current")
def is_current(obj: Model) -> bool:
    return getattr(obj, "superseded_at", None) is None


def amount_html(value: Any, decimals: int, symbol: str = "", unit: str = "") -> SafeString:
    """An amount for list and detail pages: whole tokens, with the exact base units beneath."""
    if value is None:
        return format_html("{}", "-")
    base = Decimal(value).normalize()
    return format_html(
        '<span class="aurora-amount" title="{} {}">{}<br><small class="quiet">{} {}</small></span>',
        f"{base:f}",
        unit,
        token_amount(value, decimals, symbol),
        f"{base:,f}",
        unit,
    )


def amount_column(field: str, description: str = "") -> Any:
    """A list or detail column for an amount field of a row with a `chain`: whole tokens of the
    chain's native token, with the exact base units beneath (sorted by the field)."""

    @admin.display(description=description or field.removesuffix("_native").replace("_", " "), ordering=field)
    def column(model_admin: Any, obj: Any) -> SafeString:
        chain = obj.chain
        return amount_html(
            getattr(obj, field), chain.native_decimals, chain.display_symbol or "", chain.native_unit
        )

    column.__name__ = field.removesuffix("_native")
    return column
