"""Writing staged payloads: each item's responses in one transaction, whole or not at all.

`Stager` overlaps the writes with fetching: outside a caller's transaction it hands each item to a
background thread with its own database connection, so PostgreSQL stores one item while the next
one is fetched and parsed. Inside a caller's transaction (tests, work composed by a caller) it
writes in place, because another connection could not see that transaction's rows.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from aurora.common.hashing import canonical_json
from chains.models import Period, Provider
from ingestion.models import IngestionRun, StagingPayload
from ingestion.providers.base import Exchange

QUEUED_ITEMS = 2  # items fetched but not yet written; bounds memory


_STAGING_COLUMNS = (
    "payload_id",
    "run_id",
    "chain_id",
    "period_id",
    "validator_key",
    "provider_id",
    "provider_version",
    "data_type",
    "request_key",
    "request",
    "fetch_timestamp",
    "response_hash",
    "raw_payload",
    "created_at",
)
# Table and column names are constants; every value is a parameter.
_STAGING_INSERT = (
    f"INSERT INTO {StagingPayload._meta.db_table} ({', '.join(_STAGING_COLUMNS)}) "  # noqa: S608
    f"VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s::jsonb, %s) "
    "ON CONFLICT DO NOTHING"
)


def stage_exchanges(
    *,
    run: IngestionRun,
    period: Period,
    validator_key: str,
    provider: Provider,
    data_type: str,
    exchanges: Iterable[Exchange],
    version: str,
) -> None:
    """All of one item's responses, or none of them.

    Written with one multi-row statement per item rather than through the ORM: the bodies are large
    JSON documents, and sending each one as the canonical JSON text its hash was computed from
    saves encoding it twice. A response already staged for the same request is left as it is.
    """
    now = timezone.now()
    rows = []
    for exchange in exchanges:
        body = canonical_json(exchange.body)
        rows.append(
            (
                uuid4(),
                run.pk,
                run.chain_id,
                period.pk,
                validator_key,
                provider.pk,
                version[:50],
                str(data_type),
                exchange.request_key[:200],
                canonical_json(exchange.request),
                exchange.fetched_at,
                hashlib.sha256(body.encode("utf-8")).hexdigest(),
                body,
                now,
            )
        )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(_STAGING_INSERT, rows)


@dataclass(frozen=True)
class StagingJob:
    run: IngestionRun
    period: Period
    validator_key: str
    provider: Provider
    data_type: str
    exchanges: list[Exchange]
    version: str
    token: Any = field(default=None, compare=False)  # the caller's handle for the item

    def write(self) -> str | None:
        """Stage the item; the reason it could not be stored, or None."""
        try:
            stage_exchanges(
                run=self.run,
                period=self.period,
                validator_key=self.validator_key,
                provider=self.provider,
                data_type=self.data_type,
                exchanges=self.exchanges,
                version=self.version,
            )
        except DatabaseError as error:
            return f"could not be staged: {error}"[:500]
        except Exception as error:  # a bug must fail the item, not hang the run
            return f"could not be staged: {type(error).__name__}: {error}"[:500]
        return None


class Stager:
    """Writes jobs in order; `submit` and `finish` return the jobs written so far with their errors."""

    def __init__(self) -> None:
        self._background = not connection.in_atomic_block
        self._jobs: queue.Queue[StagingJob | None] = queue.Queue(maxsize=QUEUED_ITEMS)
        self._done: queue.SimpleQueue[tuple[StagingJob, str | None]] = queue.SimpleQueue()
        self._pending = 0
        self._thread: threading.Thread | None = None

    def submit(self, job: StagingJob) -> list[tuple[StagingJob, str | None]]:
        if not self._background:
            return [(job, job.write())]
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="aurora-staging", daemon=True)
            self._thread.start()
        self._jobs.put(job)
        self._pending += 1
        return self._collect(block=False)

    def finish(self) -> list[tuple[StagingJob, str | None]]:
        """Wait for every submitted job."""
        return self._collect(block=True)

    def close(self) -> None:
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join()
            self._thread = None

    def _collect(self, *, block: bool) -> list[tuple[StagingJob, str | None]]:
        written = []
        while self._pending:
            try:
                written.append(self._done.get(block=block))
            except queue.Empty:
                break
            self._pending -= 1
        return written

    def _work(self) -> None:
        try:
            while (job := self._jobs.get()) is not None:
                self._done.put((job, job.write()))
        finally:
            connection.close()  # this thread's own connection
