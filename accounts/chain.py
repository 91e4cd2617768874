"""The audit log's hash chain: how an entry is hashed (pure; used by writes, checks and migrations)."""

from __future__ import annotations

import hashlib
from typing import Any

from aurora.common.hashing import canonical_json

GENESIS = "0" * 64


def entry_document(
    *,
    sequence: int,
    timestamp: str,
    user_id: str | None,
    action: str,
    resource_type: str,
    resource_id: str | None,
    before: Any,
    after: Any,
    reason: str | None,
    correlation_id: str,
    ip_address: str | None,
    user_agent: str | None,
) -> dict[str, Any]:
    return {
        "sequence": sequence,
        "timestamp": timestamp,
        "user": user_id,
        "action": action,
        "resource_type": resource_type,
        "resource_id": resource_id,
        "before": before,
        "after": after,
        "reason": reason,
        "correlation_id": correlation_id,
        "ip_address": ip_address,
        "user_agent": user_agent,
    }


def link_hash(previous_hash: str, document: dict[str, Any]) -> str:
    """SHA-256 over the previous entry's hash and this entry's canonical JSON."""
    return hashlib.sha256((previous_hash + canonical_json(document)).encode("utf-8")).hexdigest()


def document_of(entry: Any) -> dict[str, Any]:
    """The hashed document of a stored entry (an AuditLog, historical or current)."""
    return entry_document(
        sequence=entry.sequence,
        timestamp=entry.timestamp.isoformat(),
        user_id=str(entry.user_id) if entry.user_id else None,
        action=entry.action,
        resource_type=entry.resource_type,
        resource_id=entry.resource_id,
        before=entry.before_snapshot,
        after=entry.after_snapshot,
        reason=entry.reason,
        correlation_id=str(entry.correlation_id),
        ip_address=entry.ip_address,
        user_agent=entry.user_agent,
    )
