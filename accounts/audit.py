"""Writing the audit trail: one entry per sensitive action, in the same transaction as the action."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Model

from accounts.models import AuditAction, AuditLog, User
from aurora.common.hashing import canonical_json, sha256_hex


def snapshot(instance: Model, fields: list[str] | None = None) -> dict[str, Any]:
    """A JSON-safe picture of a model instance (its concrete fields, or `fields`)."""
    names = fields or [f.attname for f in instance._meta.concrete_fields]
    return {name: _json_value(getattr(instance, name)) for name in names}


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str | dict | list):
        return value
    return str(value)


def audit_record(
    *,
    actor: User | None,
    action: AuditAction | str,
    resource: Model,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
    correlation_id: uuid.UUID | None = None,
) -> AuditLog:
    """Append an audit entry for `action` on `resource` by `actor`."""
    entry = {
        "action": str(action),
        "resource_type": resource._meta.label_lower,
        "resource_id": str(resource.pk),
        "before": before,
        "after": after,
        "reason": reason,
        "user": str(actor.pk) if actor else None,
    }
    return AuditLog.objects.create(
        user=actor,
        action=action,
        resource_type=resource._meta.label_lower,
        resource_id=str(resource.pk),
        before_snapshot=before,
        after_snapshot=after,
        change_hash=sha256_hex(canonical_json(entry)),
        reason=reason or None,
        correlation_id=correlation_id or uuid.uuid4(),
    )
