"""Planner settings for one statement, where PostgreSQL's estimates are known to mislead it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from django.db import connections, transaction


@contextmanager
def planner_settings(using: str = "default", **settings: str) -> Iterator[None]:
    """Run the enclosed statements with the given settings (transaction-local), then put the
    previous values back."""
    names = sorted(settings)
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT "
            + ", ".join(f"current_setting('{name}'), set_config('{name}', %s, true)" for name in names),
            [settings[name] for name in names],
        )
        row = cursor.fetchone()
        previous = [row[2 * index] for index in range(len(names))]
        try:
            yield
        finally:
            cursor.execute(
                "SELECT " + ", ".join(f"set_config('{name}', %s, true)" for name in names), previous
            )


def without_jit(using: str = "default") -> AbstractContextManager[None]:
    """No JIT compilation. On the statements that sum a period, compiling (inlining and optimizing
    a plan of many CTEs) took 1.5 s of a 2.3 s statement, more than it ever saves."""
    return planner_settings(using, jit="off")


def hash_joins_only(using: str = "default") -> AbstractContextManager[None]:
    """No nested-loop joins (and no JIT, see `without_jit`).

    For set-based statements over tables under row-level security: the planner cannot see what a
    policy will let through, so it takes partner_clients' 50,000 rows for a few hundred, and a
    filtered CTE of it for one or two. A nested loop over 200,000 stake accounts against such an
    "almost empty" side then compares every pair (minutes instead of a second). Equi-joins on
    hash tables cost the same whatever the estimate. Disabling nested loops also makes every plan's
    estimated cost huge, which alone would switch on JIT's most expensive stages.
    """
    return planner_settings(using, enable_nestloop="off", jit="off")
