"""Planner settings for one statement, where PostgreSQL's estimates are known to mislead it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connections, transaction


@contextmanager
def hash_joins_only(using: str = "default") -> Iterator[None]:
    """Run the enclosed statements with nested-loop joins disabled, then restore the setting.

    For set-based statements over tables under row-level security: the planner cannot see what a
    policy will let through, so it takes partner_clients' 50,000 rows for a few hundred, and a
    filtered CTE of it for one or two. A nested loop over 200,000 stake accounts against such an
    "almost empty" side then compares every pair (minutes instead of a second). Equi-joins on
    hash tables cost the same whatever the estimate, so the statements that sum a period ask for
    those. The setting is transaction-local and put back afterwards.
    """
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('enable_nestloop'), set_config('enable_nestloop', 'off', true)"
        )
        (previous, _) = cursor.fetchone()
        try:
            yield
        finally:
            cursor.execute("SELECT set_config('enable_nestloop', %s, true)", [previous])
