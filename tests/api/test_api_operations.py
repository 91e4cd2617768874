"""The operations endpoints: queueing a recompute (a job recorded and audited, handed to the
workers after the commit, overlapping ranges refused with 409), following a job within the user's
scope, and ingestion health per chain with its classification."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from accounts.models import AuditAction, AuditLog, Role, User
from ingestion.models import IngestionRun, IngestionStatus
from operations import tasks
from operations.models import Job, JobStatus, JobType
from operations.selectors import (
    DEGRADED_MAX_LAG,
    HEALTHY_MAX_LAG,
    IngestionHealthStatus,
    classify_ingestion,
    explain,
)
from tests import factories as f

PASSWORD = "correct-horse-battery"
SOLANA = "solana-mainnet"
ETHEREUM = "ethereum-mainnet"

HEALTHY, DEGRADED, UNHEALTHY = (
    IngestionHealthStatus.HEALTHY,
    IngestionHealthStatus.DEGRADED,
    IngestionHealthStatus.UNHEALTHY,
)


@pytest.fixture(autouse=True)
def _fresh_throttles() -> None:
    cache.clear()


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Job ids handed to Celery (no broker, no worker)."""
    sent: list[str] = []
    monkeypatch.setattr(tasks.job_run_task, "delay", lambda job_id: sent.append(job_id))
    return sent


def bearer(user: User) -> dict[str, str]:
    response = Client().post(
        "/v1/auth/token", {"username": user.username, "password": PASSWORD}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    return {"HTTP_AUTHORIZATION": f"Bearer {response.json()['data']['access']}"}


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def body(response: Any) -> dict[str, Any]:
    payload = response.json()
    assert set(payload) == {"data", "error"}
    return dict(payload)


def recompute(first: Any = 850, last: Any = 853, chain_id: str = SOLANA) -> dict[str, Any]:
    return {"chain_id": chain_id, "from_period": first, "to_period": last}


# ---- the classification (no database) -----------------------------------------------------------

NOW = datetime(2025, 9, 20, 12, 0, tzinfo=UTC)
EARLIER = NOW - timedelta(hours=1)


@pytest.mark.parametrize(
    ("lag", "last_success", "last_failure", "status"),
    [
        (0, NOW, None, HEALTHY),
        (1, NOW, EARLIER, HEALTHY),  # a failure before the last success is over
        (2, NOW, None, DEGRADED),
        (5, NOW, None, DEGRADED),
        (0, EARLIER, NOW, DEGRADED),  # the last run failed
        (0, None, NOW, DEGRADED),
        (6, NOW, None, UNHEALTHY),
        (None, None, None, UNHEALTHY),  # nothing ingested
        (None, None, NOW, UNHEALTHY),
        (7, EARLIER, NOW, UNHEALTHY),
    ],
)
def test_ingestion_is_classified_by_lag_and_the_last_run(
    lag: int | None, last_success: datetime | None, last_failure: datetime | None, status: str
) -> None:
    assert classify_ingestion(lag, last_success, last_failure) == status


def test_the_thresholds_are_module_constants_the_settings_may_override(settings: Any) -> None:
    assert (HEALTHY_MAX_LAG, DEGRADED_MAX_LAG) == (1, 5)
    settings.AURORA_INGESTION_HEALTHY_MAX_LAG = 3
    settings.AURORA_INGESTION_DEGRADED_MAX_LAG = 10

    assert classify_ingestion(3, NOW, None) == HEALTHY
    assert classify_ingestion(10, NOW, None) == DEGRADED
    assert classify_ingestion(11, NOW, None) == UNHEALTHY


def test_the_reason_says_why() -> None:
    assert explain(None, None, None) == "nothing ingested yet"
    assert explain(0, NOW, None) == "up to date"
    assert explain(1, NOW, None) == "1 final period not ingested"
    assert explain(3, EARLIER, NOW) == "3 final periods not ingested; the last run failed"


# ---- recompute ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_recompute_is_queued_audited_and_sent_after_the_commit(
    queued: list[str], django_capture_on_commit_callbacks: Any
) -> None:
    f.ChainFactory()
    user = f.UserFactory(role=Role.FINANCE, username="jane")
    headers = bearer(user)

    with django_capture_on_commit_callbacks(execute=True):
        response = Client().post(
            "/v1/recompute", recompute("850", 853), content_type="application/json", **headers
        )

    assert response.status_code == 202, response.content
    data = body(response)["data"]
    job = Job.objects.get()
    assert response["Location"] == f"/v1/jobs/{job.pk}"
    assert (job.job_type, job.status, job.requested_by) == (JobType.RECOMPUTE_RANGE, JobStatus.PENDING, user)
    assert job.parameters == {"chain_id": SOLANA, "from_period": 850, "to_period": 853}
    assert data["job_id"] == str(job.pk) and data["status"] == "PENDING" and data["progress"] == 0
    assert (data["parameters"], data["requested_by"], data["result"]) == (job.parameters, "jane", None)
    assert queued == [str(job.pk)]
    entry = AuditLog.objects.get(action=AuditAction.RECOMPUTE)
    assert (entry.user, entry.resource_id) == (user, str(job.pk))


@pytest.mark.django_db
def test_an_overlapping_recompute_is_a_409_and_queues_nothing(queued: list[str]) -> None:
    f.ChainFactory()
    client = signed_in(f.UserFactory(role=Role.OPS))
    assert (
        client.post("/v1/recompute", recompute(850, 853), content_type="application/json").status_code == 202
    )

    again = client.post("/v1/recompute", recompute(853, 860), content_type="application/json")
    elsewhere = client.post("/v1/recompute", recompute(854, 860), content_type="application/json")

    assert again.status_code == 409
    error = body(again)["error"]
    assert error["code"] == "conflict" and "already pending" in error["message"]
    assert elsewhere.status_code == 202
    assert Job.objects.count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("request_body", "field"),
    [
        (recompute(chain_id="no-such-chain"), "chain_id"),
        (recompute(chain_id="dormant-chain"), "chain_id"),
        (recompute(chain_id=ETHEREUM), "chain_id"),  # outside the user's chains
        (recompute(853, 850), "to_period"),
        (recompute("85x", 853), "from_period"),
        (recompute(850.5, 853), "from_period"),
        (recompute(850, True), "to_period"),
        (recompute(-1, 853), "from_period"),
        ({"chain_id": SOLANA, "from_period": 850}, "to_period"),
    ],
    ids=[
        "unknown chain",
        "inactive chain",
        "chain out of scope",
        "from after to",
        "not a number",
        "a fraction",
        "a boolean",
        "negative",
        "missing",
    ],
)
def test_a_refused_recompute_names_the_field_and_writes_nothing(
    request_body: dict[str, Any], field: str, queued: list[str]
) -> None:
    f.ChainFactory()
    f.ChainFactory(ethereum=True)
    f.ChainFactory(id="dormant-chain", is_active=False)
    client = signed_in(f.UserFactory(role=Role.OPS, allowed_chain_ids=[SOLANA, "dormant-chain"]))
    audited = AuditLog.objects.count()

    response = client.post("/v1/recompute", request_body, content_type="application/json")

    assert response.status_code == 400, response.content
    error = body(response)["error"]
    assert error["code"] == "validation_error" and list(error["details"]) == [field]
    assert not Job.objects.exists() and AuditLog.objects.count() == audited and queued == []


@pytest.mark.django_db
def test_who_may_queue_a_recompute(queued: list[str]) -> None:
    f.ChainFactory()
    partner_user = f.PartnerUserFactory()

    assert Client().post("/v1/recompute", recompute(), content_type="application/json").status_code == 401
    for user in (f.UserFactory(role=Role.AUDITOR), partner_user):
        response = signed_in(user).post("/v1/recompute", recompute(), content_type="application/json")
        assert response.status_code == 403 and body(response)["error"]["code"] == "permission_denied"
    assert signed_in(f.UserFactory(role=Role.OPS)).get("/v1/recompute").status_code == 405
    assert not Job.objects.exists()


# ---- jobs ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_job_reads_with_the_model_s_fields() -> None:
    job = f.JobFactory(requested_by=f.UserFactory(username="ops.sam", role=Role.OPS))

    response = Client().get(f"/v1/jobs/{job.pk}", **bearer(f.UserFactory(role=Role.AUDITOR)))

    assert response.status_code == 200
    data = body(response)["data"]
    assert data["job_id"] == str(job.pk)
    assert (data["job_type"], data["status"], data["progress"]) == ("RECOMPUTE_RANGE", "SUCCESS", 100)
    assert data["parameters"] == job.parameters and data["result"] == {"runs": [], "counts": {"SUCCESS": 4}}
    assert data["requested_by"] == "ops.sam" and data["error"] == ""
    assert data["progress_message"] == "done: 4 periods (4 success)"
    assert data["correlation_id"] == str(job.correlation_id)
    assert {"created_at", "started_at", "finished_at"} <= set(data) and data["finished_at"] is not None


@pytest.mark.django_db
def test_a_job_is_scoped_to_the_user_s_chains_and_roles() -> None:
    job = f.JobFactory()  # on Solana
    url = f"/v1/jobs/{job.pk}"

    assert signed_in(f.UserFactory(role=Role.OPS, allowed_chain_ids=[ETHEREUM])).get(url).status_code == 404
    assert signed_in(f.UserFactory(role=Role.FINANCE)).get(url).status_code == 200
    assert signed_in(f.PartnerUserFactory()).get(url).status_code == 403
    assert Client().get(url).status_code == 401
    missing = signed_in(f.UserFactory(role=Role.OPS)).get("/v1/jobs/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404 and body(missing)["error"]["code"] == "not_found"


# ---- ingestion health ---------------------------------------------------------------------------


def ingested(chain: Any, epochs: range, status: str = IngestionStatus.SUCCESS) -> None:
    for epoch in epochs:
        period = f.PeriodFactory(chain=chain, epoch=epoch)
        if status:
            f.IngestionRunFactory(chain=chain, period=period, status=status)


@pytest.mark.django_db
def test_ingestion_health_per_active_chain() -> None:
    solana = f.ChainFactory()
    ethereum = f.ChainFactory(ethereum=True)
    f.ChainFactory(id="dormant-chain", is_active=False)
    f.ChainFactory(id="new-chain")
    ingested(solana, range(850, 853))  # up to date
    ingested(ethereum, range(850, 851))
    ingested(ethereum, range(851, 854), status="")  # final, not ingested: 3 behind

    response = Client().get("/v1/ingestion/health", **bearer(f.UserFactory(role=Role.OPS)))

    assert response.status_code == 200
    data = body(response)["data"]
    chains = {row["chain_id"]: row for row in data["chains"]}
    assert sorted(chains) == [ETHEREUM, "new-chain", SOLANA]
    assert data["status"] == "UNHEALTHY"  # the worst: a chain with nothing ingested
    assert chains[SOLANA] | {"last_success": None} == {
        "chain_id": SOLANA,
        "name": "Solana Mainnet Beta",
        "expected_period": "852",
        "latest_ingested": "852",
        "lag_periods": 0,
        "last_success": None,
        "last_failure": None,
        "status": "HEALTHY",
        "reason": "up to date",
    }
    assert chains[SOLANA]["last_success"] is not None
    assert (chains[ETHEREUM]["lag_periods"], chains[ETHEREUM]["status"]) == (3, "DEGRADED")
    assert (chains[ETHEREUM]["expected_period"], chains[ETHEREUM]["latest_ingested"]) == ("853", "850")
    assert (chains["new-chain"]["lag_periods"], chains["new-chain"]["status"]) == (None, "UNHEALTHY")


@pytest.mark.django_db
def test_a_failed_last_run_degrades_an_up_to_date_chain() -> None:
    solana = f.ChainFactory()
    ingested(solana, range(850, 853))
    failed = f.IngestionRunFactory(chain=solana, period=None, status=IngestionStatus.FAILED)
    IngestionRun.objects.filter(pk=failed.pk).update(started_at=timezone.now() + timedelta(minutes=5))

    data = body(signed_in(f.UserFactory(role=Role.FINANCE)).get("/v1/ingestion/health"))["data"]

    [row] = data["chains"]
    assert (row["lag_periods"], row["status"], row["reason"]) == (
        0,
        "DEGRADED",
        "up to date; the last run failed",
    )
    assert row["last_failure"] is not None and data["status"] == "DEGRADED"


@pytest.mark.django_db
def test_ingestion_health_is_for_operations_readers_and_their_chains(
    django_assert_max_num_queries: Any,
) -> None:
    for n in range(3):
        ingested(f.ChainFactory(id=f"chain-{n}"), range(850, 852))
    client = signed_in(f.UserFactory(role=Role.OPS))
    with django_assert_max_num_queries(50) as few:
        assert len(body(client.get("/v1/ingestion/health"))["data"]["chains"]) == 3
    for n in range(3, 12):
        ingested(f.ChainFactory(id=f"chain-{n}"), range(850, 852))

    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(body(client.get("/v1/ingestion/health"))["data"]["chains"]) == 12
    limited = signed_in(f.UserFactory(role=Role.OPS, allowed_chain_ids=["chain-1"]))
    assert [c["chain_id"] for c in body(limited.get("/v1/ingestion/health"))["data"]["chains"]] == ["chain-1"]
    assert signed_in(f.PartnerUserFactory()).get("/v1/ingestion/health").status_code == 403
    assert Client().get("/v1/ingestion/health").status_code == 401
