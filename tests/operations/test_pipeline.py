"""The pipeline through a real Celery worker and a real Redis.

A worker process (prefork, two children) is started once per test session
against this session's test database, on a broker key prefix of its own, so parallel sessions
sharing the Redis server never see each other's tasks. Its visibility timeout is a few seconds, so
a task whose worker was killed comes back quickly when the worker is started again.

Providers are either the shipped recordings (replay), or those recordings served over real HTTP
from this process (the worker is another process, fetching "live"), where a test can make a
provider fail or hold a request to stop a stage at a known point.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import redis
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import models, transaction
from django.db.models import Count, Sum
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from aurora.celery import app
from canonical.models import (
    CanonicalStakeReward,
    CanonicalValidatorFees,
    CanonicalValidatorMeta,
    CanonicalValidatorMev,
    NormalizationRun,
    ReconciliationFinding,
    ReconciliationReport,
)
from canonical.services import normalize_range
from chains.models import Chain, ChainProviderMapping, Provider
from commissions.models import (
    ClientStakeSnapshot,
    CommissionLine,
    ComputationRun,
    ComputationStatus,
    Statement,
    StatementStatus,
    ValidatorPnl,
)
from commissions.services.recompute import RecomputeError, recompute_range
from commissions.tasks import recompute_range_on_workers
from demo.services import demo_agreements_ensure
from ingestion.models import IngestionRun, IngestionStatus, StagingPayload
from ingestion.providers.errors import RecordingMissing
from ingestion.providers.recording import ReplayTransport
from ingestion.services import IngestOptions, ingest_range
from operations import pipeline
from operations.models import ACTIVE_STATUSES, Job, JobStatus, JobType
from operations.selectors import IngestionHealthStatus, ingestion_health
from operations.tasks import discover_new_periods, pipeline_ingest
from tests import factories as f
from tests.solana_demo import CHAIN, EPOCHS, RECORDINGS, replay

VISIBILITY_TIMEOUT = 4  # seconds; longer than any task of these tests
PERIOD = 853  # the period the simulated-provider tests run
CELERY = Path(os.environ.get("VIRTUAL_ENV", Path(settings.BASE_DIR) / ".venv")) / "bin" / "celery"
if not CELERY.exists():
    CELERY = Path(settings.BASE_DIR) / ".venv" / "bin" / "celery"

transactional = pytest.mark.django_db(transaction=True)


# ---- the worker -----------------------------------------------------------------------------------


class Worker:
    """A Celery worker in its own process group (so it can be killed with its children)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                [
                    str(CELERY),
                    "-A",
                    "aurora",
                    "worker",
                    "--pool=prefork",
                    "--concurrency=2",
                    "--loglevel=INFO",
                    f"--hostname=pipeline-test-{uuid.uuid4().hex[:8]}@%h",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                ],
                cwd=settings.BASE_DIR,
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for(lambda: " ready." in self.log_text(offset), 60, "the worker did not start", self)

    def log_text(self, offset: int = 0) -> str:
        with self.log.open("rb") as handle:
            handle.seek(offset)
            return handle.read().decode("utf-8", "replace")

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def children(self) -> list[int]:
        assert self.process is not None
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in path.read_text().split()]

    def kill_children(self) -> list[int]:
        """SIGKILL the pool processes (the task's process dies; the worker itself lives on)."""
        pids = self.children()
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        return pids

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes at once, as a crash of the machine would."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def wait_for(condition: Callable[[], Any], timeout: float, message: str, worker: Worker | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            detail = f"\n--- worker log ---\n{worker.tail()}" if worker is not None else ""
            raise AssertionError(f"{message} (after {timeout} s){detail}")
        time.sleep(0.1)


def use_broker_prefix(prefix: str | None) -> None:
    """This process sends its tasks under the worker's key prefix (or none again)."""
    options = {k: v for k, v in app.conf.broker_transport_options.items() if k != "global_keyprefix"}
    if prefix:
        options["global_keyprefix"] = prefix
    app.conf.broker_transport_options = options
    if app._pool is not None:
        app._pool.force_close_all()
        app._pool = None
    app.amqp._producer_pool = None


def worker_env(prefix: str, **overrides: str) -> dict[str, str]:
    """The environment of a worker on this session's test database and the broker key prefix."""
    db = settings.DATABASES["default"]
    database_url = (
        f"postgres://{quote(db['USER'], safe='')}:{quote(db['PASSWORD'] or '', safe='')}"
        f"@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    )
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "CELERY_BROKER_KEY_PREFIX": prefix,
        "CELERY_VISIBILITY_TIMEOUT_SECONDS": str(VISIBILITY_TIMEOUT),
        "AURORA_PIPELINE_PROVIDER": "replay",
        "AURORA_PIPELINE_MAX_RETRIES": "1",
        "AURORA_PIPELINE_RETRY_BACKOFF_SECONDS": "1",
        "AURORA_PIPELINE_RETRY_BACKOFF_MAX_SECONDS": "1",
        "SOLANABEACH_API_KEY": "demo-key",
        "AURORA_CHECK_PROVIDERS_AT_WORKER_START": "false",  # no calls but the tests' own
        "LOG_FORMAT": "plain",
        "PYTHONUNBUFFERED": "1",
        **overrides,
    }


def broker_prefix() -> str | None:
    prefix = app.conf.broker_transport_options.get("global_keyprefix")
    return str(prefix) if prefix else None


def forget_broker_keys(prefix: str) -> None:
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    leftovers = list(broker.scan_iter(match=f"{prefix}*"))  # queue bindings, nothing else by now
    if leftovers:
        broker.delete(*leftovers)
    broker.close()


@pytest.fixture(scope="session")
def celery_worker(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Worker]:
    """One worker for the session, on this session's test database and broker key prefix; stopped
    before the test database is dropped."""
    prefix = f"aurora-test-{uuid.uuid4().hex[:12]}:"
    env = worker_env(prefix)
    worker = Worker(env, tmp_path_factory.mktemp("celery") / "worker.log")
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    use_broker_prefix(prefix)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()
        use_broker_prefix(None)
        app.conf.task_always_eager = eager
        forget_broker_keys(prefix)


def wait_job(job_id: Any, worker: Worker, timeout: float = 60) -> Job:
    def ended() -> Job | None:
        job = Job.objects.get(pk=job_id)
        return job if job.status not in ACTIVE_STATUSES else None

    job: Job = wait_for(ended, timeout, f"pipeline job {job_id} did not end", worker)
    return job


def pipeline_jobs(period: int | None = None) -> list[Job]:
    jobs = Job.objects.filter(job_type=JobType.PIPELINE, parameters__chain_id=CHAIN)
    if period is not None:
        jobs = jobs.filter(parameters__from_period=period)
    return list(jobs.order_by("created_at"))


# ---- what a run leaves --------------------------------------------------------------------------


def _figures(model: type[models.Model], **filters: Any) -> dict[str, Any]:
    """Row count and the sum of every amount column."""
    amounts = [f.name for f in model._meta.concrete_fields if isinstance(f, models.DecimalField)]
    return model._default_manager.filter(**filters).aggregate(
        rows=Count("pk"), **{name: Sum(name) for name in amounts}
    )


def digest(*, staging: bool = False) -> dict[str, Any]:
    """Counts and sums of everything the pipeline writes: canonical rows, P&L, snapshots, lines,
    statements (and, if asked, the staged payloads themselves)."""
    result: dict[str, Any] = {
        model.__name__: _figures(model)
        for model in (
            CanonicalValidatorFees,
            CanonicalValidatorMev,
            CanonicalStakeReward,
            CanonicalValidatorMeta,
            ValidatorPnl,
            ClientStakeSnapshot,
            CommissionLine,
            Statement,
        )
    }
    result["current canonical rows"] = sum(
        model.objects.filter(superseded_at__isnull=True).count()
        for model in (
            CanonicalValidatorFees,
            CanonicalValidatorMev,
            CanonicalStakeReward,
            CanonicalValidatorMeta,
        )
    )
    result["statements"] = sorted(
        Statement.objects.values_list("partner__partner_name", "month", "status", "line_count")
    )
    if staging:
        result["staged"] = set(
            StagingPayload.objects.values_list(
                "period__period_identifier",
                "validator_key",
                "provider__provider_name",
                "data_type",
                "request_key",
                "response_hash",
            )
        )
    return result


class _Rollback(Exception):
    pass


def in_process(work: Callable[[], None], *, staging: bool = False) -> dict[str, Any]:
    """The digest of `work` done in this process, in a transaction that is then rolled back."""
    result: dict[str, Any] = {}
    try:
        with transaction.atomic():
            work()
            result = digest(staging=staging)
            raise _Rollback
    except _Rollback:
        pass
    assert not IngestionRun.objects.exists()
    return result


# ---- the simulated providers over HTTP --------------------------------------------------------------


@dataclass
class Hold:
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    at: float = 0.0


class RecordedPeriod(ReplayTransport):
    """A provider's recorded answers for one period and the chain head, whatever the scope of the
    request (a request over the network carries none); within them no request has two answers."""

    def __init__(self, directory: Path, *, provider: str, period: int) -> None:
        super().__init__(directory, provider=provider)
        scopes = [directory / "head.jsonl", directory / f"{period}.jsonl"]
        scopes += sorted((directory / str(period)).rglob("*.jsonl"))
        self.answers: dict[str, dict[str, Any]] = {}
        for path in scopes:
            self.answers.update(super()._entries(path))

    def _entries(self, path: Path) -> dict[str, dict[str, Any]]:
        return self.answers


class ProviderServer:
    """The four providers of the recordings on 127.0.0.1, under /p/<provider>/, answering what
    they answered for period 853. A provider can be put out of service (503), and the next request
    to one can be held until released."""

    PROVIDERS = ("solana-rpc", "jito", "stakewiz", "solanabeach")

    def __init__(self) -> None:
        self.providers = {
            name: RecordedPeriod(RECORDINGS / name, provider=name, period=PERIOD) for name in self.PROVIDERS
        }
        self.down: set[str] = set()
        self.holds: dict[str, list[Hold]] = {}
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._answer()

            def do_POST(self) -> None:
                self._answer()

            def _answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, content = server.answer(self.command, self.path, dict(self.headers.items()), body)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(content)))
                    self.end_headers()
                    self.wfile.write(content)
                except OSError:
                    pass  # the caller died meanwhile (a killed worker)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}"

    def hold(self, provider: str) -> Hold:
        """Hold the next request to `provider` (that no earlier hold holds) until released."""
        hold = Hold()
        with self.lock:
            self.holds.setdefault(provider, []).append(hold)
        return hold

    def release_all(self) -> None:
        with self.lock:
            for holds in self.holds.values():
                for hold in holds:
                    hold.release.set()
            self.holds.clear()

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        _, _, provider, *rest = path.split("/", 3)
        if provider in self.down:
            return 503, b'{"error": "service unavailable"}'
        with self.lock:
            hold = next((h for h in self.holds.get(provider, []) if not h.held.is_set()), None)
            if hold is not None:
                hold.at = time.monotonic()
                hold.held.set()
        if hold is not None:
            hold.release.wait(60)
        url = f"https://{provider}.invalid/{rest[0] if rest else ''}"
        try:
            response = self.providers[provider].handle_request(
                httpx.Request(method, url, headers=headers, content=body)
            )
        except RecordingMissing as error:
            return 404, str(error).encode()
        return response.status_code, response.read()

    def close(self) -> None:
        self.release_all()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def providers(registry: None) -> Iterator[ProviderServer]:
    """The chain fetches live, from period 853 on, from the recorded providers over HTTP. The
    providers are registered under names of their own (`jito-1a2b3c`…), so no process has a
    circuit breaker or rate limiter for them from an earlier test."""
    server = ProviderServer()
    suffix = uuid.uuid4().hex[:6]
    for name in ProviderServer.PROVIDERS:
        row = Provider.objects.get(provider_name=name)
        clone = Provider.objects.create(
            provider_name=f"{name}-{suffix}",
            provider_type=row.provider_type,
            adapter=row.adapter,
            base_url=f"{server.url}/p/{name}" + ("/v1" if name == "solanabeach" else ""),
            api_version=row.api_version,
            api_key_env=row.api_key_env,
            options={**(row.options or {}), "max_attempts": 1},
            rate_limit_per_minute=None,
        )
        ChainProviderMapping.objects.filter(provider=row).update(provider=clone)
    chain = Chain.objects.get(pk=CHAIN)
    Chain.objects.filter(pk=CHAIN).update(
        parameters={**chain.parameters, "pipeline_provider": "live", "pipeline_from_period": PERIOD}
    )
    try:
        yield server
    finally:
        server.close()


def live_period() -> None:
    """The period fetched, normalized and recomputed in this process, from the providers over HTTP."""
    ingest_range(chain_id=CHAIN, first=PERIOD, last=PERIOD, options=IngestOptions())
    normalize_range(chain_id=CHAIN, first=PERIOD, last=PERIOD)
    recompute_range(chain_id=CHAIN, first=PERIOD, last=PERIOD)


# ---- through Celery ---------------------------------------------------------------------------------


@transactional
def test_the_pipeline_over_the_recordings_through_celery_leaves_what_the_in_process_path_leaves(
    registry: None, celery_worker: Worker, settings: Any
) -> None:
    def sequential() -> None:
        replay()
        normalize_range(chain_id=CHAIN, first=EPOCHS[0], last=EPOCHS[-1])
        recompute_range(chain_id=CHAIN, first=EPOCHS[0], last=EPOCHS[-1])
        demo_agreements_ensure()
        recompute_range(chain_id=CHAIN, first=EPOCHS[0], last=EPOCHS[-1])

    expected = in_process(sequential)
    assert expected["CommissionLine"]["rows"] > 0 and expected["Statement"]["rows"] > 0

    # Beat's discovery, replaying: the recorded head says 853 is final; the recorded 850-853 start.
    found = discover_new_periods.delay(CHAIN).get(timeout=30)
    assert (found["provider"], found["latest_final"], found["started"], found["error"]) == (
        "replay",
        853,
        list(EPOCHS),
        "",
    )
    for job_id in found["jobs"]:
        job = wait_job(job_id, celery_worker)
        assert job.status == JobStatus.SUCCESS, job.error
        assert job.progress == 100
        assert [job.result["stages"][stage]["status"] for stage in pipeline.STAGES] == ["SUCCESS"] * 3
    demo_agreements_ensure()
    out = StringIO()
    call_command(
        "run_pipeline",
        *("--chain", CHAIN, "--from-period", "850", "--to-period", "853"),
        *("--provider", "replay", "--stages", "recompute", "--wait", "--poll", "0.1"),
        stdout=out,
    )

    assert digest() == expected
    lines = out.getvalue().splitlines()
    for period in EPOCHS:
        assert any(line.startswith(f"period {period}  recompute  SUCCESS") for line in lines), lines
        assert f"period {period}: pipeline done" in out.getvalue()
    assert "4 pipelines done" in lines[-1]
    again = discover_new_periods.delay(CHAIN).get(timeout=30)
    assert (again["done"], again["started"]) == (4, [])


@transactional
def test_a_range_recomputed_on_the_workers_leaves_what_the_serial_run_leaves(
    registry: None, celery_worker: Worker
) -> None:
    replay()
    normalize_range(chain_id=CHAIN, first=EPOCHS[0], last=EPOCHS[-1])
    demo_agreements_ensure()
    expected: dict[str, Any] = {}
    try:
        with transaction.atomic():
            serial = recompute_range(chain_id=CHAIN, first=EPOCHS[0], last=EPOCHS[-1])
            expected = digest()
            expected_fingerprints = [run.fingerprint for run in serial]
            raise _Rollback
    except _Rollback:
        pass
    assert not CommissionLine.objects.exists() and expected["CommissionLine"]["rows"] > 0
    assert len({statement[1] for statement in expected["statements"]}) == 1  # one month: shared statements

    runs = recompute_range_on_workers(
        chain_id=CHAIN, first=EPOCHS[0], last=EPOCHS[-1], triggered_by="test", timeout=60
    )

    assert [run.period.period_identifier for run in runs] == [str(period) for period in EPOCHS]
    assert [run.status for run in runs] == [ComputationStatus.SUCCESS] * len(EPOCHS)
    assert [run.fingerprint for run in runs] == expected_fingerprints
    assert digest() == expected
    again = recompute_range_on_workers(chain_id=CHAIN, first=EPOCHS[0], last=EPOCHS[-1], timeout=60)
    assert all(run.inputs_unchanged for run in again)
    with pytest.raises(RecomputeError, match="no final period"):
        recompute_range_on_workers(chain_id=CHAIN, first=10, last=20, timeout=60)
    out = StringIO()
    call_command(
        "recompute",
        *("--chain", CHAIN, "--from-period", str(EPOCHS[0]), "--to-period", str(EPOCHS[-1])),
        *("--on-workers", "--timeout", "60"),
        stdout=out,
    )
    printed = out.getvalue().splitlines()
    assert [line.split(":")[0] for line in printed] == [f"period {period}" for period in EPOCHS]
    assert all("inputs unchanged since the last run" in line for line in printed)


@transactional
def test_a_worker_killed_mid_stage_then_restarted_ends_with_the_rows_of_an_uninterrupted_run(
    providers: ProviderServer, celery_worker: Worker
) -> None:
    expected = in_process(live_period, staging=True)
    first = providers.hold("jito")  # the first MEV request: a few items are staged by then
    second = providers.hold("jito")

    job = pipeline.pipeline_trigger(chain_id=CHAIN, period=PERIOD).job
    wait_for(first.held.is_set, 30, "the ingest stage did not reach the held request", celery_worker)
    wait_for(lambda: StagingPayload.objects.exists(), 10, "nothing staged before the hold", celery_worker)
    celery_worker.kill_children()  # the pool process dies mid-task: the task is put back at once
    wait_for(second.held.is_set, 30, "the task was not delivered again after its process died", celery_worker)
    runs = IngestionRun.objects.filter(period__period_identifier=str(PERIOD))
    assert sorted(runs.values_list("status", flat=True)) == [IngestionStatus.FAILED, IngestionStatus.RUNNING]
    assert "abandoned" in runs.get(status=IngestionStatus.FAILED).error_message

    celery_worker.kill()  # now the whole worker, mid-task again: nothing is left to put it back
    providers.release_all()
    assert Job.objects.get(pk=job.pk).status == JobStatus.RUNNING
    time.sleep(max(0.0, second.at + VISIBILITY_TIMEOUT + 0.5 - time.monotonic()))
    celery_worker.start()  # Redis hands the unacknowledged task to it
    job = wait_job(job.pk, celery_worker)

    assert job.status == JobStatus.SUCCESS, job.error
    assert digest(staging=True) == expected
    final = runs.get(status=IngestionStatus.SUCCESS)
    assert final.items_skipped > 0 and final.items_failed == 0  # the items staged before the kills
    assert runs.filter(status=IngestionStatus.FAILED, error_message__contains="abandoned").count() == 2
    assert job.result["stages"]["ingest"]["run_id"] == str(final.pk)


@transactional
def test_two_concurrent_triggers_for_a_period_give_one_run_per_stage(
    providers: ProviderServer, celery_worker: Worker
) -> None:
    hold = providers.hold("jito")

    discoveries = [discover_new_periods.delay(CHAIN), discover_new_periods.delay(CHAIN)]  # both children
    results = [result.get(timeout=30) for result in discoveries]
    assert sorted((r["started"], r["running"]) for r in results) == [([], [PERIOD]), ([PERIOD], [])]
    (job,) = pipeline_jobs(PERIOD)
    wait_for(hold.held.is_set, 30, "the ingest stage did not start", celery_worker)
    again = pipeline.pipeline_trigger(chain_id=CHAIN, period=PERIOD)
    out = StringIO()
    call_command(
        "run_pipeline", "--chain", CHAIN, "--from-period", str(PERIOD), "--to-period", str(PERIOD), stdout=out
    )
    duplicate = pipeline_ingest.delay(str(job.pk)).get(timeout=30)  # a second delivery of the stage
    providers.release_all()
    job = wait_job(job.pk, celery_worker)

    assert not again.created and again.job.pk == job.pk
    assert "already running" in again.describe() and "not started again" in out.getvalue()
    assert duplicate["status"] == pipeline.BUSY and "already running" in duplicate["message"]
    assert job.status == JobStatus.SUCCESS, job.error
    assert len(pipeline_jobs(PERIOD)) == 1
    period_runs = {"period__period_identifier": str(PERIOD)}
    assert IngestionRun.objects.filter(**period_runs).count() == 1
    assert job.result["counts"] == {"SUCCESS": 3}
    assert NormalizationRun.objects.filter(**period_runs).count() == 1
    assert ComputationRun.objects.filter(**period_runs).count() == 1


@transactional
def test_a_provider_outage_fails_the_pipeline_degrades_health_and_the_next_discovery_heals_it(
    providers: ProviderServer, celery_worker: Worker
) -> None:
    admin = f.UserFactory(role=Role.ADMIN)
    # Each worker process keeps its own breaker per provider; the outage may open it in either, so
    # the heal waits out a short reset time as the next beat, ten minutes on, would wait out 60 s.
    for row in Provider.objects.filter(provider_name__startswith="jito-"):
        row.options = {**(row.options or {}), "circuit_reset_seconds": 1}
        row.save(update_fields=["options"])
    providers.down.add("jito")

    out = StringIO()
    with pytest.raises(CommandError, match="1 of 1 pipelines failed"):  # discovery, then follow it
        call_command("run_pipeline", "--chain", CHAIN, "--wait", "--poll", "0.1", stdout=out)
    (job,) = pipeline_jobs(PERIOD)

    assert f"started [{PERIOD}]" in out.getvalue()
    assert f"period {PERIOD}  ingest     FAILED    attempt 2" in out.getvalue()  # one retry after backoff
    assert job.status == JobStatus.FAILED
    assert "jito" in job.error and "gave up after 2 attempts" in job.error
    runs = IngestionRun.objects.filter(period__period_identifier=str(PERIOD))
    assert list(runs.values_list("status", flat=True)) == [IngestionStatus.PARTIAL] * 2
    assert {failure["provider"].rsplit("-", 1)[0] for run in runs for failure in run.failures} == {"jito"}
    assert "normalize" not in job.result["stages"]  # the chain stopped at the failed stage
    health = ingestion_health(admin)
    assert health.status == IngestionHealthStatus.DEGRADED
    assert "the last run failed" in health.chains[0].reason

    providers.down.clear()
    time.sleep(1.2)  # past the breakers' reset time: the next call may try the provider again
    healed = discover_new_periods.delay(CHAIN).get(timeout=30)
    job = wait_job(healed["jobs"][0], celery_worker)

    assert healed["started"] == [PERIOD]
    assert job.status == JobStatus.SUCCESS, job.error
    assert runs.latest("started_at").status == IngestionStatus.SUCCESS
    assert ingestion_health(admin).status == IngestionHealthStatus.HEALTHY
    assert discover_new_periods.delay(CHAIN).get(timeout=30)["started"] == []


# ---- in this process ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_discovery_starts_the_oldest_periods_not_done_at_most_n_per_run_and_never_twice(
    registry: None,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
    client: Client,
) -> None:
    settings.AURORA_PIPELINE_PROVIDER = "replay"
    settings.AURORA_PIPELINE_MAX_PERIODS_PER_TICK = 2
    sent: list[str] = []
    monkeypatch.setattr(
        "operations.pipeline.trigger.dispatch", lambda job_id, stages=None: sent.append(str(job_id))
    )

    out = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        first = pipeline.discover(CHAIN)
        second = pipeline.discover(CHAIN)
        third = pipeline.discover(CHAIN)
        call_command("run_pipeline", "--chain", CHAIN, stdout=out)  # discovery: nothing new to start

    assert (first.latest_final, first.candidates, first.started, first.deferred) == (
        853,
        4,
        [850, 851],
        [852, 853],
    )
    assert (second.running, second.started) == ([850, 851], [852, 853])
    assert (third.running, third.started) == ([850, 851, 852, 853], [])
    assert "started none; already running [850, 851, 852, 853]" in out.getvalue()
    jobs = pipeline_jobs()
    assert sent == [str(job.pk) for job in jobs] and len(jobs) == 4
    assert {(job.status, job.parameters["provider"], tuple(job.parameters["stages"])) for job in jobs} == {
        (JobStatus.PENDING, "replay", pipeline.STAGES)
    }
    client.force_login(f.UserFactory(role=Role.ADMIN))
    page = client.get(reverse("admin:operations_job_change", args=[jobs[0].pk]))
    assert page.status_code == 200 and "Pipeline of a period" in page.content.decode()
    assert "solana-mainnet 850" in page.content.decode()
    listing = client.get(reverse("admin:operations_job_changelist"), {"job_type": JobType.PIPELINE})
    assert listing.status_code == 200 and listing.content.decode().count("Pipeline of a period") >= 4
    answer = client.get(f"/v1/jobs/{jobs[0].pk}").json()["data"]
    assert (answer["job_type"], answer["status"], answer["parameters"]["from_period"]) == (
        "PIPELINE",
        "PENDING",
        850,
    )

    lost = pipeline_jobs(850)[0]  # its task never reached a worker (stranded in a dead one's prefetch)
    idle = timedelta(seconds=settings.AURORA_JOB_REQUEUE_AFTER_SECONDS + 1)
    Job.objects.filter(pk=lost.pk).update(created_at=timezone.now() - idle)
    with django_capture_on_commit_callbacks(execute=True):
        fourth = pipeline.discover(CHAIN)
    lost.refresh_from_db()
    assert (lost.status, lost.resends) == (JobStatus.PENDING, 1) and sent[-1] == str(lost.pk)
    assert (fourth.started, fourth.running) == ([], [850, 851, 852, 853])


@pytest.mark.django_db
def test_discovery_that_cannot_read_the_head_records_a_failed_run(
    registry: None, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.AURORA_PIPELINE_PROVIDER = "replay"
    settings.AURORA_RECORDINGS_DIR = Path("/nonexistent")
    Provider.objects.filter(provider_name="replay").update(options={"recordings_dir": "/nonexistent"})

    found = pipeline.discover(CHAIN)

    assert found.started == [] and "head could not be read" in found.error
    (run,) = IngestionRun.objects.all()
    assert run.status == IngestionStatus.FAILED and run.period is None
    assert run.failures[0]["kind"] == "recording_missing"


@pytest.mark.django_db
def test_beat_schedules_are_created_once_and_an_edited_one_is_kept() -> None:
    from importlib import import_module

    from django.apps import apps
    from django_celery_beat.models import PeriodicTask

    created = import_module("operations.migrations.0003_beat_schedules")
    updated = import_module("operations.migrations.0004_job_recovery")
    PeriodicTask.objects.all().delete()
    created.create_schedules(apps, None)
    updated.update_schedules(apps, None)
    PeriodicTask.objects.filter(task="operations.tasks.discover_all_chains").update(enabled=False)
    created.create_schedules(apps, None)
    updated.update_schedules(apps, None)

    tasks = {task.task: task for task in PeriodicTask.objects.select_related("interval", "crontab")}
    assert len(tasks) == PeriodicTask.objects.count() == 5
    discovery = tasks["operations.tasks.discover_all_chains"]
    assert (discovery.interval.every, discovery.interval.period, discovery.enabled) == (10, "minutes", False)
    recovery = tasks["operations.tasks.jobs_recover_task"]
    assert (recovery.name, recovery.interval.every, recovery.interval.period) == (
        "jobs: recover from stopped workers",
        1,
        "minutes",
    )
    checkpoint = tasks["accounts.tasks.audit_checkpoint_task"]
    assert (checkpoint.interval.every, checkpoint.interval.period) == (10, "minutes")
    monthly = tasks["operations.tasks.draft_monthly_statements"].crontab
    assert (monthly.minute, monthly.hour, monthly.day_of_month) == ("0", "2", "1")
    daily = tasks["operations.tasks.reconciliation_daily_summary"].crontab
    assert (daily.hour, daily.day_of_month, str(daily.timezone)) == ("6", "*", "UTC")


@pytest.mark.django_db
def test_monthly_drafting_restores_missing_and_stale_statements_and_the_summary_counts_open_findings(
    registry: None,
) -> None:
    replay()
    normalize_range(chain_id=CHAIN, first=EPOCHS[0], last=EPOCHS[-1])
    demo_agreements_ensure()
    recompute_range(chain_id=CHAIN, first=EPOCHS[0], last=EPOCHS[-1])
    month = "2025-09"
    before = sorted(
        Statement.objects.filter(month=month).values_list(
            "partner_id", "total_commission_native", "line_count"
        )
    )
    assert len(before) == 3 and all(count > 0 for _, _, count in before)
    missing, stale = Statement.objects.filter(month=month).order_by("partner_id")[:2]
    CommissionLine.objects.filter(statement=missing).update(statement=None)
    missing.delete()
    Statement.objects.filter(pk=stale.pk).update(total_commission_native=0, line_count=0)

    result = pipeline.draft_statements(month=month)

    assert result["chains"][CHAIN] == {
        "partners_with_lines": 3,
        "statements": 3,
        "created": 1,
        "refreshed": 2,  # the new one and the stale one
        "by_status": {StatementStatus.DRAFT: 3},
    }
    after = sorted(
        Statement.objects.filter(month=month).values_list(
            "partner_id", "total_commission_native", "line_count"
        )
    )
    assert after == before
    assert pipeline.draft_statements(month=month)["chains"][CHAIN]["refreshed"] == 0
    assert pipeline.previous_month(date(2025, 10, 1)) == "2025-09"
    assert pipeline.previous_month(date(2026, 1, 1)) == "2025-12"

    summary = pipeline.reconciliation_summary()["chains"][CHAIN]
    latest = [
        r.pk for r in ReconciliationReport.objects.order_by("period_id", "-created_at").distinct("period_id")
    ]
    expected = Counter(
        ReconciliationFinding.objects.filter(report__in=latest).values_list("severity", flat=True)
    )
    assert {severity: summary[severity] for severity in ("INFO", "WARNING", "ERROR")} == {
        severity: expected.get(severity, 0) for severity in ("INFO", "WARNING", "ERROR")
    }
    assert sum(expected.values()) > 0
