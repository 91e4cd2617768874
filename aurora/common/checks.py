"""System checks about the database the application connects to (`manage.py check --database default`)."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, Tags, register
from django.db import DatabaseError, connections

from aurora.common import dbroles, dbscope


@register(Tags.database)
def application_role_is_bound_by_row_level_security(
    databases: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    """The application's role must own nothing and be unable to lift row-level security: a
    superuser, a BYPASSRLS role or the tables' owner would walk through the database's walls."""
    if dbroles.owner_session.get():  # `migrate` works as the schema owner, deliberately
        return []
    problems: list[CheckMessage] = []
    for alias in databases or []:
        if connections[alias].vendor != "postgresql":
            continue
        for problem in dbroles.role_problems(alias):
            problems.append(
                Error(
                    f"database {alias!r}: the application's role {problem}",
                    hint=(
                        "Connect DATABASE_URL as a role created NOSUPERUSER NOBYPASSRLS NOCREATEROLE that "
                        "owns nothing, and give the schema to another role (DATABASE_OWNER_URL, which "
                        "migrate uses); README, Security."
                    ),
                    id="aurora.E001",
                )
            )
    return problems


@register(Tags.database)
def database_checks_the_application_s_scope(databases: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The database verifies the scope tickets with the key `migrate` stored: a different key
    (SECRET_KEY or AURORA_DB_SCOPE_KEY changed since) would hide every partner row."""
    if dbroles.owner_session.get():
        return []
    problems: list[CheckMessage] = []
    for alias in databases or []:
        if connections[alias].vendor != "postgresql":
            continue
        try:
            verified = dbscope.scope_is_verified(alias)
        except DatabaseError as error:
            problems.append(
                Error(
                    f"database {alias!r}: the scope could not be checked ({error})".strip(),
                    hint="Run `manage.py migrate` (as the schema owner).",
                    id="aurora.E002",
                )
            )
            continue
        if not verified:
            problems.append(
                Error(
                    f"database {alias!r} does not accept the application's scope tickets: its key differs "
                    "(SECRET_KEY or AURORA_DB_SCOPE_KEY changed since the last migrate)",
                    hint="Run `manage.py migrate`: it stores the current key's check in the database.",
                    id="aurora.E002",
                )
            )
    return problems
