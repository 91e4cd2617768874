"""PostgreSQL advisory locks: one worker at a time per named piece of work, released if it dies."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

from aurora.common.hashing import sha256_hex


def lock_id(name: str) -> int:
    """A stable signed 64-bit key for the name."""
    return int.from_bytes(bytes.fromhex(sha256_hex(name)[:16]), "big", signed=True)


_lock_id = lock_id


@contextmanager
def advisory_lock(name: str) -> Iterator[bool]:
    """Try to take the session lock `name`; yields whether it was taken, and releases it after.

    A session lock outlives transactions but not the connection, so a killed process frees it.
    """
    key = lock_id(name)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        acquired = bool(cursor.fetchone()[0])
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


def transaction_lock(name: str) -> None:
    """Wait for the transaction lock `name`; it is held until the transaction ends (commit or
    rollback), so what the holder wrote is committed before the next holder reads."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [lock_id(name)])
