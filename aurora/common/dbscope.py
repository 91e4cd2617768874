"""Who the database connection works for: the second wall behind Django's scoping.

Partner tables have row-level security whose policies ask `aurora_scope_partner()` (commissions
migration 0010) whom the session works for. That function believes only a *scope ticket*: the
setting `aurora.scope` holding `v1:<kind>:<partner>:<server pid>:<HMAC-SHA256>`, signed with a key
the application keeps (AURORA_DB_SCOPE_KEY, default derived from SECRET_KEY) and checked with
pads of that key that `migrate` stores where the application's role cannot read them. So SQL on a
partner's connection cannot widen its scope: a ticket it writes itself fails the check, a ticket
of another server process fails the pid, and whatever fails sees no partner rows. Tickets are
set with server-side parameters, so they never appear in `pg_stat_activity` or the query log.

Every new connection starts with the all-partners ticket (SYSTEM: commands, tasks); each web
request sets its user's scope for its duration and puts SYSTEM back after. Staff roles see every
partner; a partner user sees its own; anonymous sees none.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from django.conf import settings
from django.db import connections
from django.db.backends.signals import connection_created

SYSTEM = "SYSTEM"
ANONYMOUS = "ANONYMOUS"
PARTNER = "PARTNER"

SETTING = "aurora.scope"
VERSION = "v1"
ALL_PARTNERS = "all"
ONE_PARTNER = "partner"
# What aurora_scope_partner() answers for a session that sees every partner.
EVERY_PARTNER = uuid.UUID(int=0)
_BLOCK = 64  # SHA-256's block size, for the HMAC pads


def scope_key() -> bytes:
    secret = settings.AURORA_DB_SCOPE_KEY or settings.SECRET_KEY
    return hmac.new(secret.encode(), b"aurora.db-scope", hashlib.sha256).digest()


def key_pads(key: bytes) -> tuple[bytes, bytes]:
    """HMAC's inner and outer keys (RFC 2104): what the database needs to check a ticket with
    SHA-256 alone, without the key itself leaving the application in another form."""
    block = key.ljust(_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in block), bytes(b ^ 0x5C for b in block)


def ticket(*, kind: str, partner_id: uuid.UUID | None, backend_pid: int) -> str:
    body = f"{VERSION}:{kind}:{partner_id or '-'}:{backend_pid}"
    mac = hmac.new(scope_key(), body.encode(), hashlib.sha256).hexdigest()
    return f"{body}:{mac}"


def _scope(role: str | None, partner_id: Any) -> tuple[str, uuid.UUID | None] | None:
    """(kind, partner) for a role, None for no partner rows at all."""
    if not role or role == ANONYMOUS:
        return None
    if role == PARTNER:
        if not partner_id:
            return None
        try:
            return ONE_PARTNER, partner_id if isinstance(partner_id, uuid.UUID) else uuid.UUID(
                str(partner_id)
            )
        except ValueError:
            return None
    return ALL_PARTNERS, None  # SYSTEM and the staff roles


def _write(connection: Any, value: str, *, local: bool) -> None:
    # A plain psycopg cursor binds parameters on the server: the ticket is not in the query text.
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute("SELECT set_config(%s, %s, %s)", (SETTING, value, local))


def set_database_scope(
    *, role: str, partner_id: Any = None, using: str = "default", local: bool = False
) -> None:
    """Set the connection's scope for `role` (PARTNER with `partner_id`); `local` until the end of
    the current transaction only."""
    connection = connections[using]
    connection.ensure_connection()
    scope = _scope(role, partner_id)
    value = ""
    if scope is not None:
        kind, partner = scope
        value = ticket(kind=kind, partner_id=partner, backend_pid=connection.connection.info.backend_pid)
    _write(connection, value, local=local)


@contextmanager
def system_scope_for_transaction(using: str = "default") -> Iterator[None]:
    """Inside a transaction: every partner for the block, then the scope the session had (also
    within a caller's transaction, where the local setting would otherwise outlive the block)."""
    connection = connections[using]
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute("SELECT current_setting(%s, true)", (SETTING,))
        row = cursor.fetchone()
    previous = (row[0] if row else None) or ""
    set_database_scope(role=SYSTEM, using=using, local=True)
    try:
        yield
    finally:
        _write(connection, previous, local=True)


def scope_is_verified(using: str = "default") -> bool:
    """Whether the database accepts this application's SYSTEM ticket (its key check matches)."""
    connection = connections[using]
    connection.ensure_connection()
    with connection.cursor() as cursor:
        set_database_scope(role=SYSTEM, using=using)
        cursor.execute("SELECT aurora_scope_partner()")
        (seen,) = cursor.fetchone()
    return bool(seen == EVERY_PARTNER)


def store_scope_key(*, application: str, using: str = "default") -> None:
    """Write the key's check into the database (as the schema owner, at the end of `migrate`).
    The owner's own sessions see every partner; with a single role for both, nobody is exempt."""
    inner, outer = key_pads(scope_key())
    with connections[using].cursor() as cursor:
        cursor.execute(
            "UPDATE aurora_private.scope_key SET inner_pad = %s, outer_pad = %s, "
            "owner_role = CASE WHEN current_user = %s THEN NULL ELSE current_user END, updated_at = now() "
            "WHERE id = 1",
            [inner, outer, application],
        )


def _start_as_system(sender: Any, connection: Any, **kwargs: Any) -> None:
    if connection.vendor == "postgresql":
        value = ticket(kind=ALL_PARTNERS, partner_id=None, backend_pid=connection.connection.info.backend_pid)
        _write(connection, value, local=False)


def install() -> None:
    connection_created.connect(_start_as_system, dispatch_uid="aurora-database-scope")
