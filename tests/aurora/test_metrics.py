"""/metrics: the database-derived series equal the database's counts, REST requests are counted by
route pattern, Celery outcomes by task, several processes add up, and only this machine or the
METRICS_TOKEN bearer may read them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from celery import signals
from django.db import OperationalError
from django.db.models import Count
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from accounts.models import Role
from aurora import metrics
from aurora.common.dbscope import ANONYMOUS, SYSTEM, set_database_scope
from canonical.models import CanonicalStakeReward
from commissions.models import AttributionMethod, CommissionLine
from ingestion.models import IngestionRun, IngestionStatus
from operations.tasks import job_run_task
from tests import factories as f

SOLANA = "solana-mainnet"
ETHEREUM = "ethereum-mainnet"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str | bytes) -> Samples:
    if isinstance(text, bytes):
        text = text.decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client: Client | None = None, **extra: Any) -> Samples:
    response = (client or Client()).get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return parse(response.content)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def series(samples: Samples, name: str) -> list[dict[str, str]]:
    return [dict(labels) for sample_name, labels in samples if sample_name == name]


def run(chain: Any, status: str, seconds: float | None) -> IngestionRun:
    created = f.IngestionRunFactory(chain=chain, period=None, status=status)
    if seconds is not None:
        IngestionRun.objects.filter(pk=created.pk).update(
            completed_at=created.started_at + timedelta(seconds=seconds)
        )
    return created


# ---- database-derived ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_ingestion_runs_and_durations_equal_the_database() -> None:
    solana, ethereum = f.ChainFactory(), f.ChainFactory(ethereum=True)
    for seconds in (0.5, 3, 40, 40, 4000):
        run(solana, IngestionStatus.SUCCESS, seconds)
    run(solana, IngestionStatus.FAILED, 2)
    run(solana, IngestionStatus.RUNNING, None)
    run(ethereum, IngestionStatus.PARTIAL, 10)

    samples = scrape()

    database = {
        (row["chain_id"], row["status"]): row["n"]
        for row in IngestionRun.objects.values("chain_id", "status").annotate(n=Count("pk"))
    }
    for (chain, status), count in database.items():
        if status in ("SUCCESS", "FAILED", "PARTIAL"):
            assert value(samples, "ingestion_runs_total", chain_id=chain, status=status) == count
    assert value(samples, "ingestion_runs_total", chain_id=SOLANA, status="SUCCESS") == 5
    assert value(samples, "ingestion_runs_in_progress", chain_id=SOLANA) == 1
    # Every active chain has every finished status, zeros included (alerts need the series).
    assert ("ingestion_runs_total", frozenset({("chain_id", ETHEREUM), ("status", "FAILED")})) in samples
    assert value(samples, "ingestion_duration_seconds_count", chain_id=SOLANA) == 6  # finished runs
    assert value(samples, "ingestion_duration_seconds_sum", chain_id=SOLANA) == pytest.approx(4085.5)
    assert value(samples, "ingestion_duration_seconds_bucket", chain_id=SOLANA, le="1.0") == 1
    assert value(samples, "ingestion_duration_seconds_bucket", chain_id=SOLANA, le="5.0") == 3
    assert value(samples, "ingestion_duration_seconds_bucket", chain_id=SOLANA, le="60.0") == 5
    assert value(samples, "ingestion_duration_seconds_bucket", chain_id=SOLANA, le="3600.0") == 5
    assert value(samples, "ingestion_duration_seconds_bucket", chain_id=SOLANA, le="+Inf") == 6
    assert value(samples, "ingestion_duration_seconds_bucket", chain_id=ETHEREUM, le="15.0") == 1
    assert value(samples, "aurora_metrics_database_up") == 1


@pytest.mark.django_db
def test_normalization_records_and_commission_lines_equal_the_database() -> None:
    solana, ethereum = f.ChainFactory(), f.ChainFactory(ethereum=True)
    period = f.PeriodFactory(chain=solana)
    f.CanonicalStakeRewardFactory.create_batch(3, chain=solana, period=period)
    f.CanonicalValidatorFeesFactory.create_batch(2, chain=solana, period=period)
    f.CanonicalValidatorMetaFactory(chain=ethereum)
    for method, count in ((AttributionMethod.FIXED_SHARE, 2), (AttributionMethod.STAKE_WEIGHT, 1)):
        for _ in range(count):
            f.CommissionLineFactory(chain=solana, rule__chain=solana, rule__attribution_method=method)
    f.CommissionLineFactory(chain=ethereum, rule__chain=ethereum)

    samples = scrape()

    assert value(samples, "normalization_records_total", chain_id=SOLANA, data_type="REWARDS") == (
        CanonicalStakeReward.objects.filter(chain=solana).count()
    )
    assert value(samples, "normalization_records_total", chain_id=SOLANA, data_type="REWARDS") == 3
    assert value(samples, "normalization_records_total", chain_id=SOLANA, data_type="FEES") == 2
    assert value(samples, "normalization_records_total", chain_id=SOLANA, data_type="MEV") == 0
    assert value(samples, "normalization_records_total", chain_id=ETHEREUM, data_type="META") == 1
    database = {
        (row["chain_id"], row["attribution_method"]): row["n"]
        for row in CommissionLine.objects.values("chain_id", "attribution_method").annotate(n=Count("pk"))
    }
    assert database == {(SOLANA, "FIXED_SHARE"): 2, (SOLANA, "STAKE_WEIGHT"): 1, (ETHEREUM, "FIXED_SHARE"): 1}
    for (chain, method), count in database.items():
        assert value(samples, "commission_lines_total", chain_id=chain, attribution_method=method) == count
    assert value(samples, "commission_lines_total", chain_id=SOLANA, attribution_method="CLIENT_REVENUE") == 0
    assert len(series(samples, "commission_lines_total")) == 2 * len(AttributionMethod)


@pytest.mark.django_db
def test_commission_lines_are_counted_whatever_the_connection_s_partner_scope() -> None:
    """Commission lines have row-level security; the scrape reads them in the system scope."""
    f.CommissionLineFactory.create_batch(2)
    set_database_scope(role=ANONYMOUS)
    try:
        assert CommissionLine.objects.count() == 0  # what an anonymous request's queries see
        samples = parse(metrics.exposition(directory=""))
        assert CommissionLine.objects.count() == 0  # the scope is the request's again after it
    finally:
        set_database_scope(role=SYSTEM)
    assert value(samples, "commission_lines_total", chain_id=SOLANA, attribution_method="FIXED_SHARE") == 2


@pytest.mark.django_db
def test_a_scrape_costs_the_same_queries_whatever_the_rows_and_chains(
    django_assert_max_num_queries: Any,
) -> None:
    run(f.ChainFactory(), IngestionStatus.SUCCESS, 5)
    with django_assert_max_num_queries(12) as few:
        scrape()
    for n in range(5):
        chain = f.ChainFactory(id=f"chain-{n}")
        for _ in range(3):
            run(chain, IngestionStatus.FAILED, 1)
        f.CommissionLineFactory(chain=chain, rule__chain=chain)
    with django_assert_max_num_queries(len(few.captured_queries)):
        samples = scrape()
    assert value(samples, "ingestion_runs_total", chain_id="chain-4", status="FAILED") == 3


@pytest.mark.django_db
def test_a_database_that_cannot_answer_leaves_those_series_out_not_the_scrape() -> None:
    with mock.patch.object(metrics, "_ingestion_metrics", side_effect=OperationalError("timeout")):
        samples = scrape()
    assert value(samples, "aurora_metrics_database_up") == 0
    assert series(samples, "ingestion_runs_total") == []
    assert series(samples, "commission_lines_total") == []


# ---- counted in the process ---------------------------------------------------------------------


@pytest.mark.django_db
def test_api_requests_are_counted_by_route_pattern_never_the_raw_path() -> None:
    route = "/v1/chains/<str:chain_id>/periods"
    before = scrape()
    client = Client()
    client.force_login(f.UserFactory(role=Role.OPS))
    assert client.get("/v1/chains/solana-mainnet/periods").status_code in (200, 404)
    status = str(client.get("/v1/chains/ethereum-mainnet/periods").status_code)
    assert Client().get("/v1/chains").status_code == 401
    Client().generic("BREW", "/v1/chains")
    Client().get("/v1/no/such/thing")
    Client().get("/portal/login/")

    after = scrape()

    def grew(**labels: str) -> float:
        return value(after, "api_requests_total", **labels) - value(before, "api_requests_total", **labels)

    assert grew(method="GET", path="/v1/chains", status="401") == 1
    assert (
        grew(method="OTHER", path="/v1/chains", status="405")
        + grew(method="OTHER", path="/v1/chains", status="401")
        == 1
    )
    assert grew(method="GET", path="<unmatched>", status="404") == 1
    paths = {labels["path"] for labels in series(after, "api_requests_total")}
    assert route in paths
    assert not any("solana-mainnet" in path or "portal" in path for path in paths)
    assert grew(method="GET", path=route, status=status) >= 1
    grown = value(after, "api_request_duration_seconds_count", method="GET", path=route) - value(
        before, "api_request_duration_seconds_count", method="GET", path=route
    )
    assert grown == 2


def test_celery_task_outcomes_and_durations_are_counted_from_the_signals() -> None:
    task = job_run_task
    before = parse(metrics.exposition(directory="", database=False))

    signals.task_prerun.send(sender=task, task_id="t-1", task=task, args=(), kwargs={})
    signals.task_success.send(sender=task, result="SUCCEEDED")
    signals.task_postrun.send(
        sender=task, task_id="t-1", task=task, args=(), kwargs={}, retval=None, state="SUCCESS"
    )
    signals.task_failure.send(sender=task, task_id="t-2", exception=RuntimeError("x"), args=(), kwargs={})
    signals.task_retry.send(sender=task, request=None, reason="provider timeout", einfo=None)
    signals.task_retry.send(sender=task, request=None, reason="provider timeout", einfo=None)

    after = parse(metrics.exposition(directory="", database=False))
    name = task.name

    def grew(metric: str, **labels: str) -> float:
        return value(after, metric, **labels) - value(before, metric, **labels)

    assert grew("celery_tasks_total", task=name, outcome="success") == 1
    assert grew("celery_tasks_total", task=name, outcome="failure") == 1
    assert grew("celery_tasks_total", task=name, outcome="retry") == 2
    assert grew("celery_task_duration_seconds_count", task=name) == 1


# ---- several processes --------------------------------------------------------------------------

CHILD = """
from types import SimpleNamespace
from aurora import metrics
metrics.task_succeeded(sender=SimpleNamespace(name="operations.tasks.job_run_task"))
match = SimpleNamespace(view_name="api:chains", route="v1/chains")
metrics.record_api_request(SimpleNamespace(method="GET", resolver_match=match), 200, 0.02)
"""


def test_in_multiprocess_mode_a_scrape_adds_up_every_process(tmp_path: Path) -> None:
    environment = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "DEBUG": "true"}
    for _ in range(3):  # three worker processes, each counting once
        subprocess.run(
            [sys.executable, "-c", CHILD], env=environment, check=True, cwd=Path(__file__).parents[2]
        )
    # One file per process and metric type, named after the host as well as the process.
    assert len(list(tmp_path.glob(f"counter_{socket.gethostname().replace('_', '-')}-*.db"))) == 3

    samples = parse(metrics.exposition(directory=str(tmp_path), database=False))

    assert value(samples, "celery_tasks_total", task="operations.tasks.job_run_task", outcome="success") == 3
    assert value(samples, "api_requests_total", method="GET", path="/v1/chains", status="200") == 3
    assert (
        value(samples, "api_request_duration_seconds_bucket", method="GET", path="/v1/chains", le="0.025")
        == 3
    )


def test_the_multiprocess_directory_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    assert metrics.multiprocess_dir() is None
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    assert metrics.multiprocess_dir() == str(tmp_path)


# ---- who may read them --------------------------------------------------------------------------


def status_of(*, remote: str = "127.0.0.1", **headers: str) -> int:
    with mock.patch.object(metrics, "database_metrics", return_value=[]):
        return Client(REMOTE_ADDR=remote, headers=headers).get("/metrics").status_code


def test_metrics_answer_this_machine_and_refuse_others_without_a_token(settings: Any) -> None:
    settings.METRICS_TOKEN = ""
    assert status_of() == 200
    assert status_of(remote="::1") == 200
    assert status_of(remote="10.0.0.7") == 403
    # A proxy on this machine forwarding an outside request is not "this machine".
    assert status_of(**{"X-Forwarded-For": "203.0.113.9"}) == 403
    assert status_of(remote="10.0.0.7", Authorization="Bearer anything") == 403


def test_metrics_answer_the_bearer_of_the_metrics_token(settings: Any) -> None:
    settings.METRICS_TOKEN = "scrape-token-0123456789"
    assert status_of(remote="10.0.0.7", Authorization="Bearer scrape-token-0123456789") == 200
    assert status_of(remote="10.0.0.7", Authorization="bearer scrape-token-0123456789") == 200
    assert status_of(remote="10.0.0.7", Authorization="Bearer wrong") == 401
    assert status_of(remote="10.0.0.7") == 401
    assert status_of(remote="10.0.0.7", Authorization="Basic scrape-token-0123456789") == 401
    assert status_of() == 200  # this machine needs no token


def families(text: bytes) -> Iterable[str]:
    return {family.name for family in text_string_to_metric_families(text.decode())}


@pytest.mark.django_db
def test_every_documented_family_is_exposed() -> None:
    f.ChainFactory()
    with mock.patch.object(metrics, "multiprocess_dir", return_value=None):
        names = families(metrics.exposition())
    assert {
        "ingestion_runs",
        "ingestion_duration_seconds",
        "normalization_records",
        "commission_lines_total",
        "api_requests",
        "api_request_duration_seconds",
        "celery_tasks",
        "celery_task_duration_seconds",
    } <= set(names)
