"""Who the database connection works for: the second wall behind Django's scoping.

Partner tables have row-level security (commissions migration 0006) that reads two settings of
the connection: `aurora.role` and `aurora.partner_id`. A PARTNER sees only rows of its partner;
staff roles and SYSTEM (commands, tasks, migrations) see all; an unset or ANONYMOUS role sees
none. Every new connection starts as SYSTEM; each web request sets its user's scope for its
duration and puts SYSTEM back after.
"""

from __future__ import annotations

from typing import Any

from django.db import connections
from django.db.backends.signals import connection_created

SYSTEM = "SYSTEM"
ANONYMOUS = "ANONYMOUS"


def set_database_scope(*, role: str, partner_id: Any = None, using: str = "default") -> None:
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('aurora.role', %s, false), set_config('aurora.partner_id', %s, false)",
            [role, str(partner_id) if partner_id else ""],
        )


def _start_as_system(sender: Any, connection: Any, **kwargs: Any) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('aurora.role', %s, false), set_config('aurora.partner_id', '', false)",
                [SYSTEM],
            )


def install() -> None:
    connection_created.connect(_start_as_system, dispatch_uid="aurora-database-scope")
