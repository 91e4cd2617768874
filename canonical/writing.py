"""Bulk writes of canonical rows: COPY for new rows, one UPDATE per batch for supersession.

Called inside the normalization transaction. Supersession comes first: the partial unique index
allows one current row per key, and `superseded_by` may point at a row inserted later in the same
transaction because the foreign key is checked at commit (Django creates it DEFERRABLE).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db import connection
from django.db.models import Field
from psycopg import sql
from psycopg.types.json import Jsonb

from canonical.models import CanonicalRecord

COMMON_COLUMNS = (
    "chain_id",
    "period_id",
    "validator_key",
    "source_provider_id",
    "source_payload_id",
    "normalized_at",
    "created_at",
    "updated_at",
)


def _column(model: type[CanonicalRecord], name: str) -> str:
    field = model._meta.get_field(name)
    if not isinstance(field, Field):
        raise TypeError(f"{model.__name__}.{name} is not a column")
    return str(field.column)


def insert_rows(
    model: type[CanonicalRecord], value_fields: Sequence[str], rows: Iterable[Sequence[Any]]
) -> int:
    """COPY rows in: each row is (id, *COMMON_COLUMNS values, *value_fields values). JSON values
    (dicts) are sent as jsonb. Returns the number of rows written."""
    meta = model._meta
    columns = [str(meta.pk.column), *COMMON_COLUMNS, *(_column(model, name) for name in value_fields)]
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(meta.db_table), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )
    count = 0
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row([Jsonb(value) if isinstance(value, dict) else value for value in row])
            count += 1
    return count


def supersede_rows(
    model: type[CanonicalRecord], replaced: Sequence[tuple[UUID, UUID | None]], at: datetime
) -> int:
    """Mark current rows superseded: (old id, new id or None when the fact was withdrawn)."""
    if not replaced:
        return 0
    meta = model._meta
    statement = sql.SQL(
        "UPDATE {table} AS t SET superseded_at = %s, superseded_by_id = v.new_id, updated_at = %s "
        "FROM unnest(%s::uuid[], %s::uuid[]) AS v(old_id, new_id) "
        "WHERE t.{pk} = v.old_id AND t.superseded_at IS NULL"
    ).format(table=sql.Identifier(meta.db_table), pk=sql.Identifier(str(meta.pk.column)))
    with connection.cursor() as cursor:
        cursor.cursor.execute(statement, [at, at, [old for old, _ in replaced], [new for _, new in replaced]])
        updated = int(cursor.cursor.rowcount)
    if updated != len(replaced):
        raise RuntimeError(f"{meta.db_table}: {len(replaced)} rows to supersede, {updated} were current")
    return updated
