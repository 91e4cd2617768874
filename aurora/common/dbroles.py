"""Two database roles: the schema owner, and the application that owns nothing.

The schema owner (`DATABASE_OWNER_URL`) creates and alters the tables: `migrate` (and `flush`, in
tests) run as it, and end by granting the application's role (`DATABASE_URL`) what each table
needs and nothing more. The application's role owns no table, so it cannot TRUNCATE, ALTER,
DISABLE TRIGGER or DROP anything; on the append-only tables it may only read and insert.

A model says what the application may do with its table in `database_privileges` (default: read
and write). Tables of other apps' models get the default; django-simple-history's tables are
append-only like the audit log.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import connections

SELECT, INSERT, UPDATE, DELETE = "SELECT", "INSERT", "UPDATE", "DELETE"
READ_WRITE: tuple[str, ...] = (SELECT, INSERT, UPDATE, DELETE)
APPEND_ONLY: tuple[str, ...] = (SELECT, INSERT)
NO_DELETE: tuple[str, ...] = (SELECT, INSERT, UPDATE)
READ_ONLY: tuple[str, ...] = (SELECT,)

# Tables without a model: Django's migration ledger is read at start-up, written by `migrate` alone.
OTHER_TABLES: dict[str, tuple[str, ...]] = {"django_migrations": READ_ONLY}

_CREDENTIALS = ("USER", "PASSWORD")
# True while this process works as the schema owner (the role checks do not apply to it then).
owner_session: ContextVar[bool] = ContextVar("aurora_owner_session", default=False)
_application: ContextVar[str] = ContextVar("aurora_application_role", default="")


def table_privileges() -> dict[str, tuple[str, ...]]:
    """Table -> the privileges the application's role gets on it."""
    privileges = dict(OTHER_TABLES)
    for model in apps.get_models(include_auto_created=True):
        options = model._meta
        if not options.managed or options.proxy:
            continue
        if hasattr(model, "instance_type"):  # a django-simple-history table: history is appended
            privileges[options.db_table] = APPEND_ONLY
        else:
            privileges[options.db_table] = tuple(getattr(model, "database_privileges", READ_WRITE))
    return privileges


def owner_configured() -> bool:
    return bool(settings.AURORA_DATABASE_OWNER)


@contextmanager
def as_schema_owner(using: str = "default") -> Iterator[str]:
    """Run the block on a connection as the schema owner (reopened after it as the application);
    yields the application's role name. Without DATABASE_OWNER_URL the block runs as is."""
    connection = connections[using]
    owner = settings.AURORA_DATABASE_OWNER
    if not owner or owner_session.get():  # no second role, or already the owner (nested)
        application = _application.get() or str(connection.settings_dict.get("USER") or "")
        token = owner_session.set(True)
        try:
            yield application
        finally:
            owner_session.reset(token)
        return
    application = str(connection.settings_dict.get("USER") or "")
    if connection.in_atomic_block:
        raise RuntimeError("cannot change database roles inside a transaction")
    saved = {key: connection.settings_dict.get(key) for key in _CREDENTIALS}
    connection.close()
    connection.settings_dict.update({key: value for key, value in owner.items() if value is not None})
    token, named = owner_session.set(True), _application.set(application)
    try:
        yield application
    finally:
        _application.reset(named)
        owner_session.reset(token)
        connection.close()
        connection.settings_dict.update(saved)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def grant_application_privileges(*, application: str, using: str = "default") -> int:
    """Give the application's role exactly the privileges of `table_privileges` on the tables that
    exist (run as the owner, after migrating); returns the number of tables granted."""
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        (current,) = cursor.fetchone()
        if current == application:
            return 0  # one role for both: nothing to grant (the role checks report it)
        cursor.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tableowner = current_user"
        )
        existing = {row[0] for row in cursor.fetchall()}
        role = _quote(application)
        statements = [
            "REVOKE ALL ON SCHEMA public FROM PUBLIC",
            f"GRANT USAGE ON SCHEMA public TO {role}",
            f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}",
            f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {role}",
            f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
        ]
        granted = 0
        for table, privileges in sorted(table_privileges().items()):
            if table in existing:
                statements.append(f"GRANT {', '.join(privileges)} ON TABLE {_quote(table)} TO {role}")
                granted += 1
        cursor.execute(";\n".join(statements))
    return granted


def role_problems(using: str = "default") -> list[str]:
    """What is wrong with the role the connection logs in as, for an application role: empty when
    it is a plain role that owns nothing and cannot lift row-level security."""
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT r.rolsuper, r.rolbypassrls, r.rolcreaterole,
                   (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE c.relowner = r.oid AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
                       AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                       AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast%'),
                   (SELECT datdba = r.oid FROM pg_database WHERE datname = current_database()),
                   (SELECT count(*) FROM pg_auth_members m WHERE m.member = r.oid),
                   (SELECT count(*) FROM pg_tables t WHERE t.schemaname = 'public'
                     AND has_table_privilege(r.oid, format('%I.%I', t.schemaname, t.tablename), 'TRUNCATE'))
              FROM pg_roles r WHERE r.rolname = current_user
            """
        )
        row: Any = cursor.fetchone()
    if row is None:
        return []
    superuser, bypass, createrole, owned, owns_database, memberships, truncatable = row
    problems = []
    if superuser or bypass:
        problems.append("is a superuser or has BYPASSRLS, so row-level security does not separate partners")
    if createrole:
        problems.append("has CREATEROLE, so it can give itself other roles")
    if owned:
        problems.append(f"owns {owned} tables or other relations, so it could truncate, alter or drop them")
    if owns_database:
        problems.append("owns the database")
    if memberships:
        problems.append(f"is a member of {memberships} other roles (SET ROLE would lift its limits)")
    if truncatable:
        problems.append(f"may TRUNCATE {truncatable} tables")
    return problems


class SchemaOwnerSession:
    """`as_schema_owner` entered and left at two separate moments (the test suite's database set-up
    runs as the owner; the tests themselves as the application)."""

    def __init__(self, using: str = "default") -> None:
        self.using = using
        self._stack: ExitStack | None = None

    def enter(self) -> None:
        if self._stack is None:
            self._stack = ExitStack()
            self._stack.enter_context(as_schema_owner(self.using))

    def leave(self) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None
