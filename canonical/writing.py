"""Bulk writes of canonical rows, and the writer that applies a period's writes in one transaction.

New rows go in with COPY (text format, lines built here), supersession with one UPDATE per batch.
Supersession comes first: the partial unique index allows one current row per key, and
`superseded_by` may point at a row inserted later in the same transaction (checked at commit).

`PeriodWriter` runs the writes of one normalization run inside one transaction. Outside a caller's
transaction it does so on a thread of its own, with its own database connection, so PostgreSQL
stores one validator's rows while the next validator's payloads are parsed; inside a caller's
transaction (tests, composed work) it writes in place, since another connection could not see
that transaction's rows.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from django.db import connection, transaction
from django.db.models import Model
from psycopg import sql

from canonical.models import CanonicalRecord

T = TypeVar("T")

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
QUEUED_JOBS = 4  # validators prepared but not yet written; bounds memory


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


@dataclass(frozen=True)
class SaveFields:
    """Save these fields of a model instance (a registry row the normalization completed)."""

    instance: Model
    fields: Sequence[str]

    def __call__(self) -> None:
        self.instance.save(update_fields=list(self.fields))


class Jobs(list[Callable[[], Any]]):
    """A writer that keeps the jobs instead of running them (in a parsing process; the period's
    writer runs them, in order)."""

    def submit(self, job: Callable[[], Any]) -> None:
        self.append(job)


class WriterFailed(Exception):
    """The period's writes failed; nothing of the period was committed."""


_STOP = object()


class PeriodWriter:
    """Runs jobs (callables that write) in order, in one transaction; `finish` commits."""

    def __init__(self) -> None:
        self.threaded = not connection.in_atomic_block
        self._error: BaseException | None = None
        self._atomic: Any = None
        if self.threaded:
            self._jobs: queue.Queue[Any] = queue.Queue(maxsize=QUEUED_JOBS)
            self._done = threading.Event()
            self._thread = threading.Thread(target=self._run, name="canonical-writer", daemon=True)
            self._thread.start()
        else:
            self._atomic = transaction.atomic()
            self._atomic.__enter__()

    def submit(self, job: Callable[[], Any]) -> None:
        self._raise_if_failed()
        if not self.threaded:
            job()
            return
        self._jobs.put(job)

    def finish(self, job: Callable[[], T]) -> T:
        """Run the last job, commit, and return its result; raises WriterFailed if anything failed."""
        results: list[T] = []
        self.submit(lambda: results.append(job()))
        if self.threaded:
            self._jobs.put(_STOP)
            self._thread.join()
        else:
            self._atomic.__exit__(None, None, None)
            self._atomic = None
        self._raise_if_failed()
        return results[0]

    def abort(self, error: BaseException | None = None) -> None:
        """Roll the period back (after a failure on the caller's side)."""
        failure = error or WriterFailed("aborted")
        if self.threaded:
            if self._thread.is_alive():
                self._jobs.put(lambda: _raise(failure))  # rolls the transaction back, in order
                self._jobs.put(_STOP)
                self._thread.join()
        elif self._atomic is not None:
            self._atomic.__exit__(type(failure), failure, failure.__traceback__)
            self._atomic = None

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise WriterFailed(f"{type(self._error).__name__}: {self._error}") from self._error

    def _run(self) -> None:
        try:
            with transaction.atomic():
                while (job := self._jobs.get()) is not _STOP:
                    job()
        except BaseException as error:  # handed over to the caller's thread
            self._error = error
            while self._jobs.get() is not _STOP:  # keep taking jobs so that no caller blocks
                pass
        finally:
            connection.close()


def _raise(error: BaseException) -> None:
    raise error
