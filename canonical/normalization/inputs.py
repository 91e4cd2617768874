"""The staged payloads a normalization reads: which ones (newest per request), their fingerprint,
and their bodies as the exchanges the adapters parse."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from uuid import UUID

from django.db import connection

from aurora.common.hashing import parse_json, sha256_hex
from canonical.normalization.plan import NormalizationPlan
from canonical.rows import NORMALIZER_VERSION
from chains.models import Period
from ingestion.models import DataType
from ingestion.providers.base import Exchange, PeriodInfo

DATA_TYPES = (DataType.FEES, DataType.MEV, DataType.REWARDS, DataType.META)


@dataclass(frozen=True)
class PayloadRef:
    id: UUID
    request_key: str


Inputs = dict[str, dict[UUID, list[PayloadRef]]]  # data type -> provider id -> newest payload per request


def staged_inputs(period: Period) -> dict[str, Inputs]:
    """Per validator: the newest payload of every request, per data type and provider. Only
    ids and request keys; the bodies are read one validator at a time."""
    index: dict[str, Inputs] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT ON (validator_key, data_type, provider_id, request_key) "
            "payload_id, validator_key, data_type, provider_id, request_key FROM staging_payloads "
            "WHERE chain_id = %s AND period_id = %s "
            "ORDER BY validator_key, data_type, provider_id, request_key, fetch_timestamp DESC, "
            "created_at DESC, payload_id DESC",
            [period.chain_id, period.pk],
        )
        for payload_id, validator_key, data_type, provider_id, request_key in cursor.fetchall():
            index[validator_key][data_type][provider_id].append(PayloadRef(payload_id, request_key))
    return index


def fingerprint(plan: NormalizationPlan, inputs: Inputs) -> str:
    """Identifies everything a validator's rows are computed from, in priority order."""
    return sha256_hex(
        [
            NORMALIZER_VERSION,
            [
                [
                    str(data_type),
                    [
                        [provider.provider_name, sorted([r.request_key, str(r.id)] for r in refs)]
                        for provider in plan.providers.get(data_type, [])
                        if (refs := inputs.get(str(data_type), {}).get(provider.pk))
                    ],
                ]
                for data_type in DATA_TYPES
            ],
        ]
    )


def load_payloads(inputs: Inputs) -> dict[UUID, Exchange]:
    """All of a validator's chosen staged payloads, as the exchanges the adapters parse, in one
    query. Bodies are parsed with parse_json: exact integers, and faster than the ORM's decoding."""
    ids = [ref.id for by_provider in inputs.values() for refs in by_provider.values() for ref in refs]
    if not ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT payload_id, request_key, request::text, raw_payload::text, fetch_timestamp "
            "FROM staging_payloads WHERE payload_id = ANY(%s)",
            [ids],
        )
        return {
            payload_id: Exchange(
                request_key=request_key,
                request=parse_json(request),
                status=200,
                body=parse_json(body),
                fetched_at=fetched_at,
                scope="",
            )
            for payload_id, request_key, request, body, fetched_at in cursor.fetchall()
        }


class Prefetcher:
    """Loads the next validator's payloads while the current one is parsed and written.

    Outside a caller's transaction the loading runs on a thread with its own connection (staged
    payloads are immutable and committed, so any connection sees the same rows); inside one
    (tests, composed work) it loads in place.
    """

    def __init__(self) -> None:
        self._pool = None if connection.in_atomic_block else ThreadPoolExecutor(1, "staging-reader")

    def start(self, inputs: Inputs) -> Callable[[], dict[UUID, Exchange]]:
        """Begin loading; call the returned function to get the payloads."""
        if self._pool is None:
            return lambda: load_payloads(inputs)
        future = self._pool.submit(load_payloads, inputs)
        return future.result

    def close(self) -> None:
        if self._pool is not None:
            self._pool.submit(lambda: connection.close()).result()  # that thread's connection
            self._pool.shutdown()


def period_info(period: Period) -> PeriodInfo:
    return PeriodInfo(
        identifier=period.period_identifier,
        first_index=period.first_index or 0,
        last_index=period.last_index or 0,
        start=period.period_start,
        end=period.period_end,
        is_final=period.is_finalized,
    )
