"""Writing and checking the audit trail: one entry per sensitive action, hash-chained.

`audit_record` appends in the caller's transaction, under a transaction-scoped advisory lock that
orders appends: each entry links to the one before, so the chain has no forks. The request's
correlation id, IP address and user agent come from the request context (see
`aurora.common.context`), or from the caller.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone

from accounts.chain import GENESIS, document_of, link_hash
from accounts.models import AuditAction, AuditLog, User
from aurora.common.context import current_request
from aurora.common.locks import lock_id

CHAIN_LOCK = lock_id("audit-log-chain")


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
    resource: Model | None = None,
    resource_type: str = "",
    resource_id: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
    correlation_id: uuid.UUID | None = None,
) -> AuditLog:
    """Append an entry for `action` on `resource` (or `resource_type`/`resource_id`) by `actor`."""
    context = current_request()
    if resource is not None:
        resource_type, resource_id = resource._meta.label_lower, str(resource.pk)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK])
        last = AuditLog.objects.order_by("-sequence").values_list("sequence", "change_hash").first()
        sequence, previous = (last[0] + 1, last[1]) if last else (1, GENESIS)
        entry = AuditLog(
            sequence=sequence,
            previous_hash=previous,
            user=actor if actor is not None and actor.pk else None,
            action=str(action),
            resource_type=resource_type,
            resource_id=resource_id,
            before_snapshot=before,
            after_snapshot=after,
            reason=reason or None,
            correlation_id=correlation_id or context.correlation_id,
            ip_address=context.ip_address,
            user_agent=context.user_agent,
            timestamp=timezone.now(),
        )
        entry.change_hash = link_hash(previous, document_of(entry))
        entry.save(force_insert=True)
    return entry


@dataclass(frozen=True)
class ChainBreak:
    sequence: int
    log_id: str
    problem: str


def verify_chain(
    *, since: tuple[int, str] | None = None, batch_size: int = 2_000
) -> tuple[int, ChainBreak | None]:
    """Walk the chain in order: (entries checked, the first broken link or None). `since` (a
    sequence and its trusted change_hash) checks only the entries after it."""
    previous, expected_sequence, checked = GENESIS, 1, 0
    if since is not None:
        previous, expected_sequence = since[1], since[0] + 1
    for entry in _entries(batch_size, after=expected_sequence - 1):
        if entry.sequence != expected_sequence:
            missing = f"entry {expected_sequence} is missing (found {entry.sequence})"
            return checked, ChainBreak(entry.sequence, str(entry.pk), missing)
        if entry.previous_hash != previous:
            return checked, ChainBreak(entry.sequence, str(entry.pk), "does not link to the entry before it")
        if link_hash(previous, document_of(entry)) != entry.change_hash:
            return checked, ChainBreak(entry.sequence, str(entry.pk), "its content does not match its hash")
        previous, expected_sequence, checked = entry.change_hash, expected_sequence + 1, checked + 1
    return checked, None


def _entries(batch_size: int, *, after: int = 0) -> Iterator[AuditLog]:
    last = after
    while True:
        batch = list(AuditLog.objects.filter(sequence__gt=last).order_by("sequence")[:batch_size])
        if not batch:
            return
        yield from batch
        last = batch[-1].sequence


RUN_FIELDS = (
    "status",
    "chain_id",
    "period_id",
    "items_total",
    "items_failed",
    "records_staged",
    "rows_inserted",
    "rows_superseded",
    "lines_inserted",
    "lines_updated",
    "lines_removed",
    "adjustments_written",
    "fingerprint",
    "error_message",
)


def audit_run(run: Model, action: AuditAction, *, actor: User | None = None, reason: str = "") -> AuditLog:
    """An ingestion, normalization or computation run, as it ended."""
    after = {name: _json_value(getattr(run, name)) for name in RUN_FIELDS if hasattr(run, name)}
    return audit_record(actor=actor, action=action, resource=run, after=after, reason=reason)
