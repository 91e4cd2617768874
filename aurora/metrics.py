"""Prometheus metrics, served at `/metrics` in the text format.

Two sources, chosen so the figures are right with several web and worker processes:

- From the database, read at scrape time (exact whatever the number of processes, and across
  restarts): ingestion runs by chain and status and their durations, canonical (normalized)
  records by chain and data type, commission lines by chain and attribution method. A handful of
  grouped counts, under a statement timeout; if the database cannot answer, these series are
  left out and `aurora_metrics_database_up` is 0.
- Counted in the process: REST API requests (`/v1/` only, labelled by route pattern, never the
  raw path) and Celery task outcomes (from Celery's signals). With `PROMETHEUS_MULTIPROC_DIR` set
  in the environment of every web and worker process (an empty directory, shared, emptied when
  they all start), prometheus_client's multiprocess mode adds up all processes; without it, a
  process reports only its own counts (fine for `runserver`).

`/metrics` answers requests from the machine itself (a loopback address with no forwarding
header) and requests bearing `Authorization: Bearer <METRICS_TOKEN>`; anything else is refused.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from django.http import HttpRequest, HttpResponse
from prometheus_client import REGISTRY, Counter, Histogram, disable_created_metrics, generate_latest, values
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from api import API_PREFIX
from aurora.common import dbscope

logger = logging.getLogger("aurora.metrics")
# No `_created` series beside every counter and histogram.
disable_created_metrics()  # type: ignore[no-untyped-call]

# ---- counted in the process ---------------------------------------------------------------------


def process_identifier() -> str:
    """Names this process's files in multiprocess mode: the host name as well as the process id,
    so containers sharing the directory (whose process ids repeat) never write the same file."""
    return f"{socket.gethostname().replace('_', '-')}-{os.getpid()}"


if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    values.ValueClass = values.MultiProcessValue(process_identifier=process_identifier)  # type: ignore[no-untyped-call]

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "<unmatched>"

API_REQUESTS = Counter(
    "api_requests",
    "REST API requests answered, by method, route pattern and status.",
    ["method", "path", "status"],
)
API_REQUEST_DURATION = Histogram(
    "api_request_duration_seconds",
    "Time to answer a REST API request, by method and route pattern.",
    ["method", "path"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
CELERY_TASKS = Counter(
    "celery_tasks", "Celery task outcomes (success, failure, retry), by task name.", ["task", "outcome"]
)
CELERY_TASK_DURATION = Histogram(
    "celery_task_duration_seconds",
    "Time a Celery task ran, by task name.",
    ["task"],
    buckets=(0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 12 * 3600.0),
)


def route_label(request: HttpRequest) -> str:
    """The URL pattern that answered (`/v1/chains/<str:chain_id>/periods`), never the raw path."""
    match = getattr(request, "resolver_match", None)
    if match is None or match.view_name == "api:not_found":
        return UNMATCHED
    return "/" + str(match.route)


def method_label(method: str | None) -> str:
    return method if method in METHODS else "OTHER"


def record_api_request(request: HttpRequest, status: int, seconds: float) -> None:
    method, path = method_label(request.method), route_label(request)
    API_REQUESTS.labels(method, path, str(status)).inc()
    API_REQUEST_DURATION.labels(method, path).observe(seconds)


class ApiMetricsMiddleware:
    """Counts and times requests under /v1/ (placed early, so the time includes the middleware)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        started = time.perf_counter()
        response = self.get_response(request)
        try:
            record_api_request(request, response.status_code, time.perf_counter() - started)
        except Exception:  # metrics never break an answer
            logger.exception("could not record the request's metrics")
        return response


# Celery: outcomes from task_success / task_failure / task_retry, run time from prerun to postrun.
_started: dict[str, float] = {}
_started_lock = threading.Lock()


def _task_name(sender: Any) -> str:
    return str(getattr(sender, "name", None) or sender or "unknown")


def task_started(task_id: str | None = None, **_: Any) -> None:
    if task_id:
        with _started_lock:
            _started[task_id] = time.perf_counter()


def task_finished(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    with _started_lock:
        started = _started.pop(task_id or "", None)
    if started is not None:
        CELERY_TASK_DURATION.labels(_task_name(task)).observe(time.perf_counter() - started)


def task_succeeded(sender: Any = None, **_: Any) -> None:
    CELERY_TASKS.labels(_task_name(sender), "success").inc()


def task_failed(sender: Any = None, **_: Any) -> None:
    CELERY_TASKS.labels(_task_name(sender), "failure").inc()


def task_retried(sender: Any = None, **_: Any) -> None:
    CELERY_TASKS.labels(_task_name(sender), "retry").inc()


# ---- read from the database at scrape time ------------------------------------------------------

INGESTION_DURATION_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0)


def _finished_statuses() -> list[str]:
    from ingestion.models import IngestionStatus

    return [IngestionStatus.SUCCESS, IngestionStatus.FAILED, IngestionStatus.PARTIAL]


def _ingestion_metrics(chains: list[str]) -> Iterator[Metric]:
    from ingestion.models import IngestionRun

    finished = Q(completed_at__isnull=False)
    duration = ExpressionWrapper(F("completed_at") - F("started_at"), output_field=DurationField())
    buckets = {
        f"le_{index}": Count(
            "pk", filter=finished & Q(completed_at__lte=F("started_at") + timedelta(seconds=bound))
        )
        for index, bound in enumerate(INGESTION_DURATION_BUCKETS)
    }
    rows = (
        IngestionRun.objects.values("chain_id", "status")
        .annotate(
            runs=Count("*"),
            finished=Count("pk", filter=finished),
            seconds=Sum(duration, filter=finished),
            **buckets,
        )
        .order_by()
    )
    statuses = _finished_statuses()
    runs = CounterMetricFamily(
        "ingestion_runs", "Finished ingestion runs, by chain and status.", labels=["chain_id", "status"]
    )
    in_progress = GaugeMetricFamily(
        "ingestion_runs_in_progress", "Ingestion runs pending or running, by chain.", labels=["chain_id"]
    )
    counts = {(chain, status): 0 for chain in chains for status in statuses}
    active = dict.fromkeys(chains, 0)
    per_chain: dict[str, dict[str, Any]] = {}
    for row in rows:
        chain = row["chain_id"]
        if row["status"] in statuses:
            counts[(chain, row["status"])] = row["runs"]
        else:
            active[chain] = active.get(chain, 0) + row["runs"]
        totals = per_chain.setdefault(chain, {"count": 0, "seconds": 0.0, "buckets": [0] * len(buckets)})
        totals["count"] += row["finished"]
        totals["seconds"] += row["seconds"].total_seconds() if row["seconds"] is not None else 0.0
        for index in range(len(buckets)):
            totals["buckets"][index] += row[f"le_{index}"]
    for (chain, status), value in sorted(counts.items()):
        runs.add_metric([chain, status], value)
    for chain, value in sorted(active.items()):
        in_progress.add_metric([chain], value)
    durations = HistogramMetricFamily(
        "ingestion_duration_seconds", "Run time of finished ingestion runs, by chain.", labels=["chain_id"]
    )
    for chain in sorted(set(chains) | set(per_chain)):
        totals = per_chain.get(chain, {"count": 0, "seconds": 0.0, "buckets": [0] * len(buckets)})
        cumulative = [
            (_bound(bound), float(value))
            for bound, value in zip(INGESTION_DURATION_BUCKETS, totals["buckets"], strict=True)
        ]
        durations.add_metric(
            [chain], [*cumulative, ("+Inf", float(totals["count"]))], float(totals["seconds"])
        )
    yield from (runs, in_progress, durations)


def _bound(value: float) -> str:
    return f"{value:g}" if value != int(value) else f"{value:.1f}"


def _normalization_metrics(chains: list[str]) -> Iterator[Metric]:
    from canonical.models import (
        CanonicalStakeReward,
        CanonicalValidatorFees,
        CanonicalValidatorMeta,
        CanonicalValidatorMev,
    )
    from ingestion.models import DataType

    tables: dict[str, Any] = {
        DataType.FEES: CanonicalValidatorFees,
        DataType.MEV: CanonicalValidatorMev,
        DataType.REWARDS: CanonicalStakeReward,
        DataType.META: CanonicalValidatorMeta,
    }
    counts = {(chain, str(data_type)): 0 for chain in chains for data_type in tables}
    for data_type, model in tables.items():
        for row in model.objects.values("chain_id").annotate(n=Count("*")).order_by():
            counts[(row["chain_id"], str(data_type))] = row["n"]
    family = CounterMetricFamily(
        "normalization_records",
        "Canonical records written by normalization (current and superseded), by chain and data type.",
        labels=["chain_id", "data_type"],
    )
    for (chain, data_type), value in sorted(counts.items()):
        family.add_metric([chain, data_type], value)
    yield family


def _commission_metrics(chains: list[str]) -> Iterator[Metric]:
    from commissions.models import AttributionMethod, CommissionLine

    counts = {(chain, str(method)): 0 for chain in chains for method in AttributionMethod}
    rows = CommissionLine.objects.values("chain_id", "attribution_method").annotate(n=Count("*")).order_by()
    for row in rows:
        counts[(row["chain_id"], row["attribution_method"])] = row["n"]
    # A gauge: recomputing a period replaces its lines, so the count may go down.
    family = GaugeMetricFamily(
        "commission_lines_total",
        "Commission lines stored, by chain and attribution method.",
        labels=["chain_id", "attribution_method"],
    )
    for (chain, method), value in sorted(counts.items()):
        family.add_metric([chain, method], value)
    yield family


def database_metrics() -> list[Metric]:
    """Every database-derived family, read in one transaction that sees all rows (partner tables
    included: row-level security is set to the system scope for it alone) under a time limit."""
    from chains.models import Chain

    started = time.perf_counter()
    families: list[Metric] = []
    up = 1
    timeout_ms = int(float(getattr(settings, "METRICS_QUERY_TIMEOUT_SECONDS", 5)) * 1000)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('statement_timeout')")
            (previous_timeout,) = cursor.fetchone()
            with dbscope.system_scope_for_transaction():
                cursor.execute("SELECT set_config('statement_timeout', %s, true)", [str(timeout_ms)])
                chains = list(
                    Chain.objects.filter(is_active=True).order_by("pk").values_list("pk", flat=True)
                )
                families += _ingestion_metrics(chains)
                families += _normalization_metrics(chains)
                families += _commission_metrics(chains)
                # Ends with the transaction, or at once inside a caller's (an error rolls it back).
                cursor.execute("SELECT set_config('statement_timeout', %s, true)", [previous_timeout])
    except DatabaseError as error:
        logger.warning("metrics: the database could not be read (%s)", type(error).__name__)
        families, up = [], 0
    except Exception:  # a scrape never fails: the in-process series are still worth having
        logger.exception("metrics: the database-derived series could not be made")
        families, up = [], 0
    health = GaugeMetricFamily(
        "aurora_metrics_database_up", "1 when the database-derived metrics could be read at this scrape."
    )
    health.add_metric([], up)
    seconds = GaugeMetricFamily(
        "aurora_metrics_database_seconds", "Time spent reading the database-derived metrics at this scrape."
    )
    seconds.add_metric([], time.perf_counter() - started)
    return [*families, health, seconds]


# ---- exposition and access ----------------------------------------------------------------------


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class Scrape(Collector):
    """What one scrape shows: the in-process metrics (every process's, in multiprocess mode) and
    the database-derived ones."""

    def __init__(self, directory: str | None = None, *, database: bool = True) -> None:
        self.directory = directory
        self.database = database

    def collect(self) -> Iterable[Metric]:
        if self.directory:
            yield from MultiProcessCollector(None, path=self.directory).collect()  # type: ignore[no-untyped-call]
        else:
            yield from REGISTRY.collect()
        if self.database:
            yield from database_metrics()


def exposition(directory: str | None = None, *, database: bool = True) -> bytes:
    return generate_latest(
        Scrape(directory if directory is not None else multiprocess_dir(), database=database)
    )


FORWARDING_HEADERS = ("X-Forwarded-For", "X-Real-IP", "Forwarded")


def is_local(request: HttpRequest) -> bool:
    """From this machine: a loopback peer, and no proxy header (a proxy on the same machine
    forwarding an outside request would otherwise look local)."""
    try:
        loopback = ipaddress.ip_address(request.META.get("REMOTE_ADDR") or "").is_loopback
    except ValueError:
        return False
    return loopback and not any(request.headers.get(name) for name in FORWARDING_HEADERS)


def token_configured() -> bool:
    return bool(getattr(settings, "METRICS_TOKEN", ""))


def has_token(request: HttpRequest) -> bool:
    token: str = getattr(settings, "METRICS_TOKEN", "") or ""
    if not token:
        return False
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def scrape_allowed(request: HttpRequest) -> bool:
    return is_local(request) or has_token(request)
