"""The read models' version (serving.models): read once per request, compacted now and then."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction


def data_version() -> str:
    """`<weight>-<transaction>`: changes exactly when a transaction that wrote a watched table
    commits. Read it before the data an answer is made from, never after."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(weight), 0), coalesce(max(transaction_id), 0) FROM read_model_changes"
        )
        weight, newest = cursor.fetchone()
    return f"{weight}-{newest}"


def compact_changes() -> int:
    """Fold every committed change row into one carrying their total weight, so the version stays a
    one-row read; the version moves on (a new transaction id) but is never one seen before.
    Returns how many rows were folded."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM read_model_changes RETURNING weight")
        weights = [row[0] for row in cursor.fetchall()]
        if weights:
            cursor.execute(
                "INSERT INTO read_model_changes (transaction_id, weight, changed_at) "
                "VALUES (pg_current_xact_id()::text::bigint, %s, now()) "
                "ON CONFLICT (transaction_id) DO UPDATE "
                "SET weight = read_model_changes.weight + EXCLUDED.weight",
                [sum(weights)],
            )
    return len(weights)


@contextmanager
def one_snapshot() -> Iterator[None]:
    """The block's statements (the data version first, then the data) read one snapshot of the
    database: a recompute committing meanwhile is seen whole or not at all, and the version an
    answer is kept under is exactly the one its data were read at. Inside a caller's transaction
    the caller's rules hold."""
    if connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield
