"""Write the validated registry files into the database (from `sync_registry` or the admin)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from django.conf import settings
from django.db import models, transaction

from accounts.access import Capability, require_capability
from accounts.audit import audit_record
from accounts.models import AuditAction, User
from aurora.common.hashing import sha256_hex
from chains.models import Chain, ChainProviderMapping, Provider
from chains.registry import ChainSpec, ProviderSpec, Registry, load_registry

ModelT = TypeVar("ModelT", bound=models.Model)


@dataclass
class SyncReport:
    """What a registry sync changed, per kind of row: names of created/updated/retired rows."""

    created: dict[str, list[str]] = field(default_factory=dict)
    updated: dict[str, list[str]] = field(default_factory=dict)
    retired: dict[str, list[str]] = field(default_factory=dict)

    def note(self, outcome: str, kind: str, name: str) -> None:
        getattr(self, outcome).setdefault(kind, []).append(name)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.retired)

    def lines(self) -> list[str]:
        if not self.changed:
            return ["registry is up to date: nothing changed"]
        out = []
        for outcome in ("created", "updated", "retired"):
            for kind, names in sorted(getattr(self, outcome).items()):
                out.append(f"{outcome} {len(names)} {kind}: {', '.join(sorted(names))}")
        return out


def _chain_values(spec: ChainSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "period_type": spec.period_type.value,
        "native_unit": spec.native_unit,
        "native_decimals": spec.native_decimals,
        "display_symbol": spec.display_symbol,
        "finality_lag": spec.finality_lag,
        "period_length_epochs": spec.period_length_epochs,
        "parameters": spec.parameters,
        "is_active": spec.is_active,
    }


def _provider_values(spec: ProviderSpec) -> dict[str, Any]:
    return {
        "provider_type": spec.type.value,
        "adapter": spec.adapter,
        "base_url": str(spec.base_url) if spec.base_url is not None else None,
        "api_version": spec.api_version,
        "api_key_env": spec.api_key_env or "",
        "rate_limit_per_minute": spec.rate_limit_per_minute,
        "timeout_seconds": spec.timeout_seconds,
        "is_enabled": spec.enabled,
        "options": spec.options,
    }


def _upsert(
    model: type[ModelT],
    lookup: dict[str, Any],
    values: dict[str, Any],
    *,
    kind: str,
    name: str,
    report: SyncReport,
) -> ModelT:
    """Create the row, or save only the fields that differ, so an unchanged row is not written."""
    row = model._default_manager.filter(**lookup).first()
    if row is None:
        report.note("created", kind, name)
        return model._default_manager.create(**lookup, **values)
    changed = [attr for attr, value in values.items() if getattr(row, attr) != value]
    if changed:
        for attr in changed:
            setattr(row, attr, values[attr])
        row.save(update_fields=[*changed, "updated_at"])
        report.note("updated", kind, name)
    return row


def _sync_mappings(chain: Chain, spec: ChainSpec, providers: dict[str, Provider], report: SyncReport) -> None:
    """Make the chain's mappings exactly those of the file: priorities follow list order."""
    wanted = {
        (role.value, name): priority
        for role, names in spec.providers.items()
        for priority, name in enumerate(names, start=1)
    }
    existing = {
        (mapping.provider_role, mapping.provider.provider_name): mapping
        for mapping in ChainProviderMapping.objects.filter(chain=chain).select_related("provider")
    }
    for (role, name), mapping in existing.items():
        if (role, name) not in wanted:
            mapping.delete()
            report.note("retired", "mappings", f"{chain.pk}/{role}/{name}")
    for (role, name), priority in wanted.items():
        label = f"{chain.pk}/{role}/{name}"
        current = existing.get((role, name))
        if current is None:
            ChainProviderMapping.objects.create(
                chain=chain, provider=providers[name], provider_role=role, priority=priority
            )
            report.note("created", "mappings", label)
        elif current.priority != priority or not current.is_active:
            current.priority, current.is_active = priority, True
            current.save(update_fields=["priority", "is_active", "updated_at"])
            report.note("updated", "mappings", label)


@transaction.atomic
def registry_apply(*, registry: Registry) -> SyncReport:
    """Upsert chains, providers and mappings from a validated registry, in one transaction.

    Chains and providers that left the files are deactivated, never deleted: canonical and
    financial rows keep referring to them. Mappings are configuration and follow the files.
    """
    report = SyncReport()
    providers = {
        name: _upsert(
            Provider,
            {"provider_name": name},
            _provider_values(spec),
            kind="providers",
            name=name,
            report=report,
        )
        for name, spec in registry.providers.items()
    }
    for provider in Provider.objects.exclude(provider_name__in=registry.providers).filter(is_enabled=True):
        provider.is_enabled = False
        provider.save(update_fields=["is_enabled", "updated_at"])
        report.note("retired", "providers", provider.provider_name)

    for chain_id, spec in registry.chains.items():
        chain = _upsert(
            Chain, {"id": chain_id}, _chain_values(spec), kind="chains", name=chain_id, report=report
        )
        _sync_mappings(chain, spec, providers, report)
    for chain in Chain.objects.exclude(id__in=registry.chains).filter(is_active=True):
        chain.is_active = False
        chain.save(update_fields=["is_active", "updated_at"])
        report.note("retired", "chains", chain.pk)
    return report


def registry_sync(*, chains_file: Path, providers_file: Path, dry_run: bool = False) -> SyncReport:
    """Validate both files, then apply them; an invalid file raises RegistryError and writes nothing.

    With `dry_run`, the changes are made and rolled back, so the report shows what would change.
    """
    registry = load_registry(chains_file, providers_file)
    with transaction.atomic():
        report = registry_apply(registry=registry)
        if dry_run:
            transaction.set_rollback(True)
    return report


# ---- the registry files, synced from the admin -------------------------------------------------


def registry_files() -> tuple[Path, Path]:
    return Path(settings.AURORA_CHAINS_FILE), Path(settings.AURORA_PROVIDERS_FILE)


def registry_files_digest() -> str:
    """What the registry files hold now, so a confirmation applies the files that were previewed."""
    contents = []
    for path in registry_files():
        try:
            contents.append(path.read_bytes().hex())
        except OSError:
            contents.append("")
    return sha256_hex(contents)


def registry_preview(*, actor: User) -> SyncReport:
    """What a sync of the registry files would change (nothing is kept); RegistryError if invalid."""
    require_capability(actor, Capability.RUN_OPERATIONS)
    chains_file, providers_file = registry_files()
    return registry_sync(chains_file=chains_file, providers_file=providers_file, dry_run=True)


def registry_apply_files(*, actor: User) -> SyncReport:
    """Sync the registry files into the database and audit it, in one transaction."""
    require_capability(actor, Capability.RUN_OPERATIONS)
    chains_file, providers_file = registry_files()
    with transaction.atomic():
        report = registry_sync(chains_file=chains_file, providers_file=providers_file)
        audit_record(
            actor=actor,
            action=AuditAction.REGISTRY_SYNC,
            resource_type="chains.registry",
            after={
                "files_digest": registry_files_digest(),
                "chains_file": str(chains_file),
                "providers_file": str(providers_file),
                "changes": report.lines(),
            },
            reason="registry sync from the admin",
        )
    return report
