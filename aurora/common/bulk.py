"""Bulk inserts with COPY: for tables written thousands of rows at a time.

Django's bulk_create on PostgreSQL sends each column as an array parameter; with client-side
binding psycopg escapes every element in Python, which dominates at tens of thousands of rows
with JSON columns. COPY streams the rows instead. Field defaults and auto_now values are applied
as the ORM would (`pre_save`), and values are prepared by the fields themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db import connection, transaction
from django.db.models import Field, Model
from psycopg import sql

from aurora.common.hashing import canonical_json

COPY_CHUNK = 1 << 20
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def insert_instances(model: type[Model], instances: Sequence[Model]) -> int:
    """Insert unsaved instances; returns how many. No signals, like bulk_create.

    PostgreSQL refuses COPY into a table under row-level security, so the rows are copied into a
    temporary table of the same shape and moved with one INSERT ... SELECT, to which the table's
    policies apply as to any insert. Values are taken as the fields' `pre_save` gives them
    (defaults, auto_now) and spelled by `copy_text`.
    """
    if not instances:
        return 0
    fields = list(model._meta.concrete_fields)
    table = sql.Identifier(model._meta.db_table)
    incoming = sql.Identifier(f"incoming_{model._meta.db_table}")
    columns = sql.SQL(", ").join(sql.Identifier(f.column) for f in fields)
    lines = [copy_line([field.pre_save(instance, True) for field in fields]) for instance in instances]
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
    return len(instances)


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
