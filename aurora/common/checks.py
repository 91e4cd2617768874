"""System checks about the database the application connects to (`manage.py check --database default`)."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, Tags, register
from django.db import connections


@register(Tags.database)
def application_role_is_bound_by_row_level_security(
    databases: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    """A superuser or BYPASSRLS role would walk through the row-level security on partner tables."""
    problems: list[CheckMessage] = []
    for alias in databases or []:
        connection = connections[alias]
        if connection.vendor != "postgresql":
            continue
        with connection.cursor() as cursor:
            cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
            row = cursor.fetchone()
        if row and (row[0] or row[1]):
            problems.append(
                Error(
                    f"database {alias!r}: the application's role is a superuser or has BYPASSRLS, so "
                    "row-level security does not separate partners",
                    hint="Connect as a role created NOSUPERUSER NOBYPASSRLS (see deploy/postgres-init).",
                    id="aurora.E001",
                )
            )
    return problems
