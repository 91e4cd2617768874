"""Health probes: liveness, readiness (database, Redis, migrations; 503 naming what fails) and
ingestion lag per chain; no sign-in, and answered even when the database is down."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
from django.db import OperationalError
from django.test import Client
from django.utils import timezone

from aurora import health
from ingestion.models import IngestionRun, IngestionStatus
from tests import factories as f

SOLANA = "solana-mainnet"
ETHEREUM = "ethereum-mainnet"


@pytest.fixture(autouse=True)
def _fresh_migration_check() -> Iterator[None]:
    health.forget_migration_check()
    yield
    health.forget_migration_check()


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ingested(chain: Any, epochs: range, status: str = IngestionStatus.SUCCESS) -> None:
    """Final periods for `epochs`, each with a run of `status` ("" for none)."""
    for epoch in epochs:
        period = f.PeriodFactory(chain=chain, epoch=epoch)
        if status:
            f.IngestionRunFactory(chain=chain, period=period, status=status)


# ---- liveness and readiness ---------------------------------------------------------------------


@pytest.mark.django_db
def test_liveness_and_readiness_answer_ok_without_signing_in() -> None:
    client = Client()
    assert client.get("/health").json() == {"status": "ok"}

    response = client.get("/health/ready")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "redis": "ok", "migrations": "ok"},
    }
    assert response["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_readiness_is_503_naming_an_unreachable_redis(settings: Any) -> None:
    port = closed_port()
    settings.REDIS_URL = f"redis://:hunter2-secret@127.0.0.1:{port}/0"

    response = Client().get("/health/ready")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["failing"] == ["redis"]
    assert body["checks"] == {"database": "ok", "redis": "unreachable", "migrations": "ok"}
    assert str(port) not in response.content.decode() and "hunter2" not in response.content.decode()


@pytest.mark.django_db
def test_readiness_is_503_naming_unapplied_migrations() -> None:
    pending = [(SimpleNamespace(app_label="commissions", name="0099_future"), False)]
    with mock.patch.object(health.MigrationExecutor, "migration_plan", return_value=pending):
        response = Client().get("/health/ready")

    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["migrations"]
    assert body["checks"]["migrations"] == "1 not applied: commissions.0099_future"
    assert body["checks"]["database"] == body["checks"]["redis"] == "ok"


@pytest.mark.django_db
def test_the_real_migration_plan_is_empty_and_a_good_answer_is_kept_briefly() -> None:
    assert health.unapplied_migrations() == []
    assert health.check_migrations() == "ok"
    with mock.patch.object(health.MigrationExecutor, "migration_plan", side_effect=AssertionError):
        assert health.check_migrations() == "ok"  # within MIGRATIONS_OK_SECONDS: not rebuilt
    health.forget_migration_check()
    with mock.patch.object(health.MigrationExecutor, "migration_plan", side_effect=RuntimeError("boom")):
        assert health.check_migrations() == "not checked (RuntimeError)"


@pytest.mark.django_db
def test_readiness_is_503_naming_the_database_when_it_is_down() -> None:
    with mock.patch.object(health, "database_reachable", return_value=False):
        response = Client().get("/health/ready")

    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["database", "migrations"]
    assert body["checks"]["database"] == "unreachable"
    assert body["checks"]["migrations"].startswith("not checked")


@pytest.mark.django_db
def test_probes_answer_when_the_rest_of_the_stack_cannot_reach_the_database() -> None:
    """The database-scope middleware needs the database on every request: the probes are answered
    before it, so liveness stays 200 and readiness reports the database instead of a 500."""
    down = OperationalError("connection refused")
    with (
        mock.patch("aurora.common.middleware.set_database_scope", side_effect=down),
        mock.patch.object(health, "database_reachable", return_value=False),
    ):
        client = Client(raise_request_exception=False)
        assert client.get("/portal/login/").status_code == 500  # what any other page does
        assert client.get("/health").status_code == 200
        ready = client.get("/health/ready")
    assert ready.status_code == 503 and ready.json()["failing"][0] == "database"


@pytest.mark.django_db
def test_a_probe_check_that_raises_is_reported_not_raised() -> None:
    with mock.patch.object(health, "redis_reachable", side_effect=RuntimeError("redis://:secret@host")):
        response = Client().get("/health/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"] == "unreachable (RuntimeError)"
    assert b"secret" not in response.content


def test_probes_answer_get_and_head_only() -> None:
    assert Client().post("/health").status_code == 405
    assert Client().head("/health").status_code == 200


# ---- ingestion ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_ingestion_lag_per_active_chain_with_the_worst_status_overall() -> None:
    solana = f.ChainFactory()
    ethereum = f.ChainFactory(ethereum=True)
    f.ChainFactory(id="dormant-chain", is_active=False)
    ingested(solana, range(850, 853))  # up to date
    ingested(ethereum, range(850, 851))
    ingested(ethereum, range(851, 854), status="")  # three final periods not ingested

    response = Client().get("/health/ingestion")

    assert response.status_code == 200  # the statuses are in the body
    body = response.json()
    assert body["status"] == "DEGRADED"
    assert sorted(body["chains"]) == [ETHEREUM, SOLANA]
    assert body["chains"][SOLANA] | {"last_success": None} == {
        "expected_period": "852",
        "latest_ingested": "852",
        "lag_periods": 0,
        "last_success": None,
        "last_failure": None,
        "status": "HEALTHY",
        "reason": "up to date",
    }
    assert body["chains"][SOLANA]["last_success"].endswith("Z")
    assert body["chains"][ETHEREUM] | {"last_success": None} == {
        "expected_period": "853",
        "latest_ingested": "850",
        "lag_periods": 3,
        "last_success": None,
        "last_failure": None,
        "status": "DEGRADED",
        "reason": "3 final periods not ingested",
    }


@pytest.mark.django_db
def test_ingestion_is_the_same_classification_as_the_api() -> None:
    from operations.selectors import ingestion_health

    solana = f.ChainFactory()
    ingested(solana, range(850, 853))
    failed = f.IngestionRunFactory(chain=solana, period=None, status=IngestionStatus.FAILED)
    IngestionRun.objects.filter(pk=failed.pk).update(started_at=timezone.now() + timedelta(minutes=5))
    f.ChainFactory(id="new-chain")  # nothing ingested: unhealthy

    body = Client().get("/health/ingestion").json()
    api = ingestion_health(f.UserFactory(is_superuser=True))

    assert body["status"] == str(api.status) == "UNHEALTHY"
    assert {chain: row["status"] for chain, row in body["chains"].items()} == {
        row.chain_id: str(row.status) for row in api.chains
    }
    assert body["chains"][SOLANA]["reason"] == "up to date; the last run failed"
    assert body["chains"][SOLANA]["last_failure"] is not None
    assert body["chains"]["new-chain"]["lag_periods"] is None


@pytest.mark.django_db
def test_ingestion_strict_answers_503_when_unhealthy_and_200_otherwise() -> None:
    solana = f.ChainFactory()
    ingested(solana, range(850, 852))
    assert Client().get("/health/ingestion?strict=1").status_code == 200

    ingested(solana, range(852, 860), status="")  # eight final periods behind

    assert Client().get("/health/ingestion").status_code == 200
    strict = Client().get("/health/ingestion?strict=1")
    assert strict.status_code == 503 and strict.json()["status"] == "UNHEALTHY"


@pytest.mark.django_db
def test_ingestion_answers_503_when_the_database_cannot_be_read() -> None:
    with mock.patch("aurora.health.ingestion_health", side_effect=OperationalError("down")):
        response = Client().get("/health/ingestion")
    assert response.status_code == 503
    assert response.json() == {"status": "UNKNOWN", "error": "the database is unreachable", "chains": {}}


@pytest.mark.django_db
def test_ingestion_probe_costs_the_same_queries_whatever_the_number_of_chains(
    django_assert_max_num_queries: Any,
) -> None:
    for n in range(2):
        ingested(f.ChainFactory(id=f"chain-{n}"), range(850, 852))
    with django_assert_max_num_queries(10) as few:
        assert len(Client().get("/health/ingestion").json()["chains"]) == 2
    for n in range(2, 12):
        ingested(f.ChainFactory(id=f"chain-{n}"), range(850, 852))
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(Client().get("/health/ingestion").json()["chains"]) == 12


def test_probes_answer_whatever_the_host_header_other_pages_do_not() -> None:
    """Load balancers probe by IP address: the probes do not check ALLOWED_HOSTS (they build no URL)."""
    client = Client(HTTP_HOST="10.1.2.3:8000")
    assert client.get("/health").status_code == 200
    assert client.get("/portal/login/").status_code == 400
