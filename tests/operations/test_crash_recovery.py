"""A whole worker killed mid-pipeline: the pipeline finishes by itself, without waiting for Redis.

These workers have the production visibility timeout (hours), so Redis never hands the killed
worker's task back during a test: what finishes the pipeline is the recovery sweep (operations
.recovery) of a worker that starts, or of a `run_pipeline --wait` that is waiting.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connections

from ingestion.models import IngestionRun, IngestionStatus, StagingPayload
from operations import pipeline
from operations.models import Job, JobStatus
from tests.operations import test_pipeline
from tests.operations.test_pipeline import (
    PERIOD,
    ProviderServer,
    Worker,
    broker_prefix,
    digest,
    forget_broker_keys,
    in_process,
    live_period,
    use_broker_prefix,
    wait_for,
    wait_job,
    worker_env,
)
from tests.solana_demo import CHAIN

providers = test_pipeline.providers  # the recorded providers over HTTP (a fixture)
PRODUCTION_VISIBILITY_TIMEOUT = 12 * 3600
RECOVERY_DEADLINE = 300  # seconds: the acceptance bound for a pipeline to finish after a crash

transactional = pytest.mark.django_db(transaction=True)


class Workers:
    """Start workers on a broker key prefix of their own; every one is stopped at the end."""

    def __init__(self, tmp_path: Any) -> None:
        self.prefix = f"aurora-crash-{uuid.uuid4().hex[:12]}:"
        self.env = worker_env(
            self.prefix,
            CELERY_VISIBILITY_TIMEOUT_SECONDS=str(PRODUCTION_VISIBILITY_TIMEOUT),
            AURORA_JOB_REQUEUE_AFTER_SECONDS="120",
        )
        self.tmp_path = tmp_path
        self.started: list[Worker] = []

    def start(self) -> Worker:
        worker = Worker(self.env, self.tmp_path / f"worker-{len(self.started)}.log")
        worker.start()
        self.started.append(worker)
        return worker

    def stop(self) -> None:
        for worker in self.started:
            worker.stop()


@pytest.fixture
def workers(django_db_setup: None, tmp_path: Any) -> Iterator[Workers]:
    from aurora.celery import app

    pool = Workers(tmp_path)
    previous, eager = broker_prefix(), app.conf.task_always_eager
    app.conf.task_always_eager = False
    use_broker_prefix(pool.prefix)
    try:
        yield pool
    finally:
        pool.stop()
        use_broker_prefix(previous)
        app.conf.task_always_eager = eager
        forget_broker_keys(pool.prefix)


def _kill_mid_ingest(providers: ProviderServer, worker: Worker) -> Job:
    hold = providers.hold("jito")
    job = pipeline.pipeline_trigger(chain_id=CHAIN, period=PERIOD).job
    wait_for(hold.held.is_set, 30, "the ingest stage did not reach the held request", worker)
    wait_for(lambda: StagingPayload.objects.exists(), 10, "nothing staged before the hold", worker)
    worker.kill()  # the worker and its pool at once: its task stays unacknowledged in Redis
    providers.release_all()
    assert Job.objects.get(pk=job.pk).status == JobStatus.RUNNING
    return job


@transactional
def test_a_killed_worker_s_pipeline_finishes_once_a_worker_starts_again(
    providers: ProviderServer, workers: Workers
) -> None:
    expected = in_process(live_period, staging=True)
    job = _kill_mid_ingest(providers, workers.start())

    restarted = time.monotonic()
    replacement = workers.start()  # nobody else acts: its start-up sweep sends the job again
    job = wait_job(job.pk, replacement, timeout=RECOVERY_DEADLINE)
    took = time.monotonic() - restarted

    assert job.status == JobStatus.SUCCESS, job.error
    assert took < 60, f"the pipeline took {took:.1f} s to finish after the restart"
    assert (job.recoveries, job.parameters["stages"]) == (1, list(pipeline.STAGES))
    assert [job.result["stages"][stage]["status"] for stage in pipeline.STAGES] == ["SUCCESS"] * 3
    assert job.result["stages"]["ingest"]["attempts"] == 1  # sent again, not counted as a provider retry
    assert digest(staging=True) == expected
    runs = IngestionRun.objects.filter(period__period_identifier=str(PERIOD))
    assert runs.filter(status=IngestionStatus.FAILED, error_message__contains="abandoned").count() == 1
    assert runs.get(status=IngestionStatus.SUCCESS).items_skipped > 0  # what was staged before the kill


@transactional
def test_run_pipeline_wait_sends_a_dead_worker_s_stage_to_a_live_worker_and_does_not_hang(
    providers: ProviderServer, workers: Workers
) -> None:
    expected = in_process(live_period, staging=True)
    doomed = workers.start()
    hold = providers.hold("jito")
    job = pipeline.pipeline_trigger(chain_id=CHAIN, period=PERIOD).job
    wait_for(hold.held.is_set, 30, "the ingest stage did not reach the held request", doomed)
    survivor = workers.start()  # ready while the job's lock is held: its start-up sweep leaves it
    out, failure = StringIO(), []

    def follow() -> None:
        try:
            call_command(
                "run_pipeline",
                *("--chain", CHAIN, "--from-period", str(PERIOD), "--to-period", str(PERIOD)),
                *("--wait", "--poll", "0.2", "--timeout", str(RECOVERY_DEADLINE)),
                stdout=out,
            )
        except BaseException as error:
            failure.append(error)
        finally:
            connections.close_all()

    waiting = threading.Thread(target=follow)
    waiting.start()
    wait_for(lambda: "already running" in out.getvalue(), 30, "run_pipeline did not start waiting")
    started = time.monotonic()
    doomed.kill()  # while run_pipeline --wait waits on it, with no worker starting afterwards
    providers.release_all()
    waiting.join(RECOVERY_DEADLINE + 30)
    took = time.monotonic() - started

    assert not waiting.is_alive() and not failure, (failure, out.getvalue())
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCESS and job.recoveries == 1, (job.error, survivor.tail())
    assert "a worker stopped: sent again 1 job(s), gave up on 0" in out.getvalue()
    assert "1 pipelines done" in out.getvalue()
    assert took < 60, f"run_pipeline --wait took {took:.1f} s"
    assert digest(staging=True) == expected
