"""The registry in the back office: chains, providers, their mappings and the operator's validators.

Forms check what the registry files check (chains/registry.py), so an edit made here is one the
files could have made, and a bad value is an error on the form, never a database error. The
"Sync from YAML" page shows what syncing `AURORA_CHAINS_FILE` / `AURORA_PROVIDERS_FILE` would
change and applies it on confirmation.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from accounts.access import Capability, has_capability, require_capability
from accounts.admin_scope import ScopedAdminMixin
from aurora.common.admin import ChoicesOncePerPageMixin
from chains.models import Chain, ChainProviderMapping, Period, PeriodType, Provider, ValidatorIdentity
from chains.registry import RegistryError, provider_problems
from chains.services import registry_apply_files, registry_files, registry_files_digest, registry_preview

SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
ENV_VAR = re.compile(r"^[A-Z][A-Z0-9_]*$")
ADAPTER = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")
MAX_NATIVE_DECIMALS = 36
MAX_TIMEOUT_SECONDS = 600


def _json_object(value: Any, name: str) -> Any:
    if value is not None and not isinstance(value, dict):
        raise ValidationError(f"{name} must be a JSON object, e.g. {{}}")
    return value if value is not None else {}


# ---- forms --------------------------------------------------------------------------------------


class ChainForm(forms.ModelForm[Chain]):
    class Meta:
        model = Chain
        fields = [
            "id",
            "name",
            "period_type",
            "native_unit",
            "native_decimals",
            "display_symbol",
            "finality_lag",
            "period_length_epochs",
            "parameters",
            "is_active",
        ]

    def clean_id(self) -> str:
        value = str(self.cleaned_data["id"]).strip()
        if not SLUG.match(value):
            raise ValidationError("Use lowercase letters, digits and single hyphens, e.g. solana-mainnet.")
        return value

    def clean_native_decimals(self) -> int:
        value = self.cleaned_data["native_decimals"]
        if value is not None and value > MAX_NATIVE_DECIMALS:
            raise ValidationError(f"At most {MAX_NATIVE_DECIMALS} decimals.")
        return int(value)

    def clean_parameters(self) -> Any:
        return _json_object(self.cleaned_data.get("parameters"), "Parameters")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        period_type, length = data.get("period_type"), data.get("period_length_epochs")
        if period_type == PeriodType.BLOCK_WINDOW:
            if not length:
                self.add_error("period_length_epochs", "A BLOCK_WINDOW chain needs its period length (>= 1).")
        elif length is not None:
            self.add_error("period_length_epochs", "Only BLOCK_WINDOW chains have a period length in epochs.")
        return data


class ProviderForm(forms.ModelForm[Provider]):
    class Meta:
        model = Provider
        fields = [
            "provider_name",
            "provider_type",
            "adapter",
            "base_url",
            "api_version",
            "api_key_env",
            "options",
            "is_enabled",
            "rate_limit_per_minute",
            "timeout_seconds",
        ]
        widgets = {"base_url": forms.TextInput(attrs={"size": 60})}

    def clean_base_url(self) -> str | None:
        value = (self.cleaned_data.get("base_url") or "").strip()
        if not value:
            return None
        if urlsplit(value).scheme not in ("http", "https"):
            raise ValidationError("The base URL must start with http:// or https://.")
        URLValidator(schemes=["http", "https"], message="Enter a valid http(s) URL.")(value)
        return value

    def clean_adapter(self) -> str:
        value = str(self.cleaned_data["adapter"]).strip()
        if not ADAPTER.match(value):
            raise ValidationError("An adapter name is dotted lowercase words, e.g. solana.rpc.")
        return value

    def clean_api_key_env(self) -> str:
        value = str(self.cleaned_data.get("api_key_env") or "").strip()
        if value and not ENV_VAR.match(value):
            raise ValidationError(
                "The name of an environment variable (upper case, digits, underscores), not the key itself."
            )
        return value

    def clean_rate_limit_per_minute(self) -> int | None:
        value = self.cleaned_data.get("rate_limit_per_minute")
        if value is not None and value < 1:
            raise ValidationError("At least 1 request per minute, or empty for no limit.")
        return value

    def clean_timeout_seconds(self) -> int | None:
        value = self.cleaned_data.get("timeout_seconds")
        if value is not None and not 1 <= value <= MAX_TIMEOUT_SECONDS:
            raise ValidationError(f"Between 1 and {MAX_TIMEOUT_SECONDS} seconds.")
        return value

    def clean_options(self) -> Any:
        return _json_object(self.cleaned_data.get("options"), "Options")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        adapter, options = data.get("adapter"), data.get("options")
        if adapter and isinstance(options, dict):
            for key, problem in provider_problems(adapter, options):
                field = "adapter" if key == "adapter" else "options"
                self.add_error(field, f"{key}: {problem}")
        return data


class MappingForm(forms.ModelForm[ChainProviderMapping]):
    class Meta:
        model = ChainProviderMapping
        fields = ["chain", "provider", "provider_role", "priority", "is_active"]

    def clean_priority(self) -> int:
        value = self.cleaned_data.get("priority")
        if value is None or value < 1:
            raise ValidationError("Priority starts at 1 (the preferred provider).")
        return int(value)


class ValidatorIdentityForm(forms.ModelForm[ValidatorIdentity]):
    class Meta:
        model = ValidatorIdentity
        fields = [
            "chain",
            "validator_key",
            "vote_pubkey",
            "node_pubkey",
            "identity_pubkey",
            "fee_recipient",
            "display_name",
            "is_active",
        ]

    def clean_validator_key(self) -> str:
        value = str(self.cleaned_data.get("validator_key") or "").strip()
        if not value or any(char.isspace() for char in value):
            raise ValidationError("A validator key is one word: the vote account or the validator pubkey.")
        return value


# ---- admins -------------------------------------------------------------------------------------


class ChainProviderMappingInline(ChoicesOncePerPageMixin, admin.TabularInline[ChainProviderMapping, Chain]):
    model = ChainProviderMapping
    form = MappingForm
    extra = 0
    fields = ["provider_role", "priority", "provider", "is_active"]
    ordering = ["provider_role", "priority"]


@admin.register(Chain)
class ChainAdmin(ScopedAdminMixin, admin.ModelAdmin[Chain]):
    form = ChainForm
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

    def get_readonly_fields(self, request: HttpRequest, obj: Chain | None = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "id"] if obj is not None else fields  # the id is the key other rows use

    def get_urls(self) -> list[URLPattern]:
        sync = path("sync/", self.admin_site.admin_view(self.sync_view), name="chains_chain_sync")
        return [sync, *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        may_sync = has_capability(request.user, Capability.RUN_OPERATIONS)
        return super().changelist_view(request, {**(extra_context or {}), "may_sync": may_sync})

    def sync_view(self, request: HttpRequest) -> HttpResponse:
        """Preview the sync of the registry files; apply it when the previewed files are confirmed."""
        require_capability(request.user, Capability.RUN_OPERATIONS)
        notice = ""
        if request.method == "POST" and request.POST.get("digest") != registry_files_digest():
            notice = "The registry files changed since the preview: review the changes again."
        problems: list[str] = []
        lines: list[str] = []
        changed = False
        try:
            if request.method == "POST" and not notice:
                applied = registry_apply_files(actor=request.user)  # type: ignore[arg-type]
                messages.success(request, "Registry synced: " + "; ".join(applied.lines()))
                return HttpResponseRedirect(reverse("admin:chains_chain_changelist"))
            report = registry_preview(actor=request.user)  # type: ignore[arg-type]
        except RegistryError as error:
            problems = error.problems
        else:
            lines, changed = report.lines(), report.changed
        chains_file, providers_file = registry_files()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Sync the registry from its files",
            "chains_file": chains_file,
            "providers_file": providers_file,
            "problems": problems,
            "lines": lines,
            "changed": changed,
            "digest": registry_files_digest(),
            "notice": notice,
        }
        return TemplateResponse(request, "admin/chains/chain/sync.html", context)


@admin.register(Provider)
class ProviderAdmin(ScopedAdminMixin, admin.ModelAdmin[Provider]):
    form = ProviderForm
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
    form = MappingForm
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
    form = ValidatorIdentityForm
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
