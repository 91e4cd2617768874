"""Bulk inserts with COPY: for tables written thousands of rows at a time.

Django's bulk_create on PostgreSQL sends each column as an array parameter; with client-side
binding psycopg escapes every element in Python, which dominates at tens of thousands of rows
with JSON columns. COPY streams the rows instead. Missing fields get their defaults and auto_now
timestamps as the ORM would give them; values are spelled by `copy_text`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db import connection, transaction
from django.db.models import Field, Model
from django.utils import timezone
from psycopg import sql

from aurora.common.hashing import canonical_json

COPY_CHUNK = 1 << 20
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def insert_rows(model: type[Model], rows: Sequence[dict[str, Any]]) -> int:
    """Insert rows given as {attribute name: value}, without building model instances (thousands
    of them cost more than the insert); returns how many. A missing field gets its default, and
    auto_now / auto_now_add timestamps one instant for the whole batch."""
    fields = list(model._meta.concrete_fields)
    now = timezone.now()
    lines = []
    for row in rows:
        values = []
        for field in fields:
            if field.attname in row:
                values.append(row[field.attname])
            elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                values.append(now)
            else:
                values.append(field.get_default())
        lines.append(copy_line(values))
    return _insert(model, fields, lines)


def _insert(model: type[Model], fields: Sequence[Any], lines: Sequence[str]) -> int:
    """PostgreSQL refuses COPY into a table under row-level security, so the rows are copied into
    a temporary table of the same shape and moved with one INSERT ... SELECT, to which the table's
    policies apply as to any insert."""
    if not lines:
        return 0
    table = sql.Identifier(model._meta.db_table)
    incoming = sql.Identifier(f"incoming_{model._meta.db_table}")
    columns = sql.SQL(", ").join(sql.Identifier(f.column) for f in fields)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("CREATE TEMPORARY TABLE {} (LIKE {}) ON COMMIT DROP")
            .format(incoming, table)
            .as_string(cursor.connection)
        )
        _copy(cursor, sql.SQL("COPY {} ({}) FROM STDIN").format(incoming, columns), lines)
        cursor.execute(
            sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}; DROP TABLE {}")
            .format(table, columns, columns, incoming, incoming)
            .as_string(cursor.connection)
        )
    return len(lines)


def copy_text(value: Any) -> str:
    """One value in COPY's text format."""
    if type(value) is str:
        return value if value.isalnum() else value.translate(_ESCAPES)
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, int | Decimal | UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict | list):
        value = canonical_json(value)
    return str(value).translate(_ESCAPES)


def copy_line(values: Iterable[Any]) -> str:
    return "\t".join(map(copy_text, values)) + "\n"


def column(model: type[Model], name: str) -> str:
    field = model._meta.get_field(name)
    if not isinstance(field, Field):
        raise TypeError(f"{model.__name__}.{name} is not a column")
    return str(field.column)


def insert_lines(model: type[Model], columns: Sequence[str], lines: Sequence[str]) -> int:
    """COPY pre-built text lines (see `copy_line`) into the model's table; returns the row count."""
    if not lines:
        return 0
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(model._meta.db_table), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )
    with connection.cursor() as cursor:
        _copy(cursor, statement, lines)
    return len(lines)


def _copy(cursor: Any, statement: sql.Composed, lines: Sequence[str]) -> None:
    with cursor.cursor.copy(statement) as copy:
        chunk: list[str] = []
        size = 0
        for line in lines:
            chunk.append(line)
            size += len(line)
            if size >= COPY_CHUNK:
                copy.write("".join(chunk))
                chunk, size = [], 0
        if chunk:
            copy.write("".join(chunk))
