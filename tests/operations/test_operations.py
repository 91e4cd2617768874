"""Back-office operations: jobs (queueing, running, the admin pages that start them), the registry in
the admin (validation, sync from the YAML files) and ingestion runs' failed items."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditAction, AuditLog, Role, User
from aurora.common.locks import lock_id
from chains.models import Chain, ChainProviderMapping, Provider, ValidatorIdentity
from commissions.models import ComputationRun, ComputationStatus
from ingestion.models import IngestionRun, IngestionStatus, StagingPayload
from operations import services, tasks
from operations.models import Job, JobStatus, JobType
from operations.recovery import jobs_recover
from operations.services import JobError, job_enqueue, job_run
from tests import factories as f

pytestmark = pytest.mark.django_db

CHAIN = "solana-mainnet"


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Job ids handed to Celery (no broker needed)."""
    sent: list[str] = []
    monkeypatch.setattr(tasks.job_run_task, "delay", lambda job_id: sent.append(job_id))
    return sent


def ops_user() -> User:
    return f.UserFactory(role=Role.OPS, is_staff=True)


def recompute(first: int = 850, last: int = 853, **extra: Any) -> dict[str, Any]:
    return {"chain_id": CHAIN, "from_period": first, "to_period": last, **extra}


# ---- queueing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "parameters, message",
    [
        (
            {"chain_id": "no-such-chain", "from_period": 850, "to_period": 853},
            "unknown chain 'no-such-chain'",
        ),
        ({"chain_id": "dormant-chain", "from_period": 850, "to_period": 853}, "dormant-chain is not active"),
        (recompute(853, 850), "from period 853 is after to period 850"),
        (recompute("85x", 853), "from_period must be a whole number"),
        (recompute(850, 853, replay=True), "unknown parameters for recompute a range: replay"),
        ({"from_period": 850, "to_period": 853}, "chain_id is required"),
    ],
    ids=["unknown chain", "inactive chain", "from after to", "not a number", "unknown parameter", "no chain"],
)
def test_a_refused_job_writes_nothing(
    parameters: dict[str, Any],
    message: str,
    queued: list[str],
    django_capture_on_commit_callbacks: Any,
) -> None:
    f.ChainFactory()
    f.ChainFactory(id="dormant-chain", is_active=False)
    audited = AuditLog.objects.count()

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(JobError, match=message):
        job_enqueue(job_type=JobType.RECOMPUTE_RANGE, parameters=parameters, actor=ops_user())

    assert not Job.objects.exists()
    assert AuditLog.objects.count() == audited
    assert queued == []


def test_a_queued_job_is_audited_and_sent_to_the_workers_after_the_commit(
    queued: list[str], django_capture_on_commit_callbacks: Any
) -> None:
    f.ChainFactory()
    user = ops_user()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = job_enqueue(job_type=JobType.INGEST_RANGE, parameters=recompute("850", 851), actor=user)
        assert queued == []  # not before the transaction commits
    for callback in callbacks:
        callback()

    assert queued == [str(job.pk)]
    job.refresh_from_db()
    assert (job.status, job.progress, job.requested_by) == (JobStatus.PENDING, 0, user)
    assert job.parameters == {"chain_id": CHAIN, "from_period": 850, "to_period": 851, "replay": False}
    entry = AuditLog.objects.get(resource_id=str(job.pk))
    assert (entry.action, entry.user, entry.correlation_id) == (
        AuditAction.INGESTION_RUN,
        user,
        job.correlation_id,
    )


def test_a_job_the_broker_cannot_take_says_so(
    monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    f.ChainFactory()

    def unreachable(job_id: str) -> None:
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(tasks.job_run_task, "delay", unreachable)
    with django_capture_on_commit_callbacks(execute=True):
        job = job_enqueue(job_type=JobType.RECOMPUTE_RANGE, parameters=recompute(), actor=None)

    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "could not be queued: ConnectionError: Redis is down" in job.error


def test_a_user_without_the_capability_cannot_queue_through_the_service() -> None:
    from django.core.exceptions import PermissionDenied

    f.ChainFactory()
    with pytest.raises(PermissionDenied):
        job_enqueue(
            job_type=JobType.INGEST_RANGE,
            parameters=recompute(),
            actor=f.UserFactory(role=Role.FINANCE),
        )
    assert not Job.objects.exists()


# ---- running ------------------------------------------------------------------------------------


def test_a_recompute_job_runs_end_to_end_with_progress_per_period(
    registry: None, queued: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from canonical.services import normalize_range
    from tests.solana_demo import replay

    replay()
    normalize_range(chain_id=CHAIN, first=850, last=853)
    job = job_enqueue(job_type=JobType.RECOMPUTE_RANGE, parameters=recompute(), actor=ops_user())
    seen: list[tuple[str, int]] = []
    real = services.recompute_range

    def watched(**kwargs: Any) -> Any:
        current = Job.objects.get(pk=job.pk)
        seen.append((current.status, current.progress))
        return real(**kwargs)

    monkeypatch.setattr(services, "recompute_range", watched)

    job_run(job.pk)

    job.refresh_from_db()
    assert (job.status, job.progress, job.error) == (JobStatus.SUCCESS, 100, "")
    assert seen == [("RUNNING", 0), ("RUNNING", 25), ("RUNNING", 50), ("RUNNING", 75)]
    assert job.started_at is not None and job.finished_at is not None and job.finished_at >= job.started_at
    runs = job.result["runs"]
    assert [run["period"] for run in runs] == ["850", "851", "852", "853"]
    stored = ComputationRun.objects.filter(pk__in=[run["run_id"] for run in runs])
    assert stored.count() == 4
    assert set(stored.values_list("status", "triggered_by")) == {(ComputationStatus.SUCCESS, f"job {job.pk}")}
    assert job.result["counts"] == {"SUCCESS": 4}
    # The runs' audit entries carry the correlation id of the request that queued the job.
    run_entries = AuditLog.objects.filter(
        action=AuditAction.RECOMPUTE, resource_type="commissions.computationrun"
    )
    assert set(run_entries.values_list("correlation_id", flat=True)) == {job.correlation_id}

    finished_at = job.finished_at
    job_run(job.pk)  # a redelivered message: the job has ended, nothing runs again
    job.refresh_from_db()
    assert job.finished_at == finished_at and ComputationRun.objects.count() == 4


def test_an_ingest_job_replaying_recorded_responses_ingests(registry: None, queued: list[str]) -> None:
    job = job_enqueue(
        job_type=JobType.INGEST_RANGE, parameters=recompute(850, 851, replay=True), actor=ops_user()
    )

    job_run(job.pk)

    job.refresh_from_db()
    assert (job.status, job.progress) == (JobStatus.SUCCESS, 100), job.error
    runs = IngestionRun.objects.filter(pk__in=[run["run_id"] for run in job.result["runs"]])
    assert sorted(runs.values_list("period__period_identifier", "status")) == [
        ("850", IngestionStatus.SUCCESS),
        ("851", IngestionStatus.SUCCESS),
    ]
    assert StagingPayload.objects.filter(run__in=runs).exists()
    assert set(runs.values_list("metadata__transport", flat=True)) == {"replay"}


def test_a_normalize_job_normalizes_the_ingested_periods(registry: None, queued: list[str]) -> None:
    from canonical.models import NormalizationRun
    from tests.solana_demo import replay

    replay(first=850, last=851)
    job = job_enqueue(job_type=JobType.NORMALIZE_RANGE, parameters=recompute(840, 851), actor=ops_user())

    job_run(job.pk)

    job.refresh_from_db()
    assert (job.status, job.progress) == (JobStatus.SUCCESS, 100), job.error
    assert [run["period"] for run in job.result["runs"]] == ["850", "851"]
    assert NormalizationRun.objects.filter(pk__in=[r["run_id"] for r in job.result["runs"]]).count() == 2


def _deactivate_the_chain(job: Job, monkeypatch: pytest.MonkeyPatch) -> None:
    Chain.objects.filter(pk=CHAIN).update(is_active=False)


def _nothing_final(job: Job, monkeypatch: pytest.MonkeyPatch) -> None:
    from chains.models import Period

    Period.objects.all().delete()


def _a_service_breaks(job: Job, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(**kwargs: Any) -> Any:
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "recompute_range", broken)


@pytest.mark.parametrize(
    "breaking, error",
    [
        (_deactivate_the_chain, "chain solana-mainnet is not active"),
        (_nothing_final, "no final period of solana-mainnet between 850 and 853 is known"),
        (_a_service_breaks, "RuntimeError: disk full"),
    ],
    ids=["chain deactivated since", "nothing to recompute", "unexpected error"],
)
def test_a_failing_job_records_failed_and_the_error(
    breaking: Callable[[Job, pytest.MonkeyPatch], None],
    error: str,
    queued: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chain = f.ChainFactory()
    for epoch in (850, 851):
        f.PeriodFactory(chain=chain, epoch=epoch)
    job = job_enqueue(job_type=JobType.RECOMPUTE_RANGE, parameters=recompute(), actor=ops_user())
    breaking(job, monkeypatch)

    job_run(job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert error in job.error
    assert job.finished_at is not None and job.progress < 100


def test_the_task_only_runs_the_job(queued: list[str]) -> None:
    f.ChainFactory()
    job = job_enqueue(job_type=JobType.RECOMPUTE_RANGE, parameters=recompute(), actor=None)

    assert tasks.job_run_task.run(str(job.pk)) == JobStatus.FAILED  # nothing is final: a clear failure
    job.refresh_from_db()
    assert "no final period" in job.error


# ---- the job pages ------------------------------------------------------------------------------

PAGES = {
    "ingest": JobType.INGEST_RANGE,
    "normalize": JobType.NORMALIZE_RANGE,
    "recompute": JobType.RECOMPUTE_RANGE,
}
ALLOWED = {
    Role.OPS: {"ingest", "normalize", "recompute"},
    Role.ADMIN: {"ingest", "normalize", "recompute"},
    Role.FINANCE: {"recompute"},
    Role.AUDITOR: set(),
}


def client_for(role: str) -> tuple[Client, User]:
    user = f.UserFactory(role=role, is_staff=True)
    client = Client()
    client.force_login(user)
    return client, user


@pytest.mark.parametrize("page", sorted(PAGES))
@pytest.mark.parametrize("role", sorted(ALLOWED))
def test_the_job_pages_queue_a_job_for_allowed_roles_and_refuse_the_others(
    role: str, page: str, queued: list[str], django_capture_on_commit_callbacks: Any
) -> None:
    f.ChainFactory()
    f.ChainFactory(id="dormant-chain", is_active=False)
    client, user = client_for(role)
    url = reverse(f"admin:operations_job_{page}")
    data = {"chain": CHAIN, "from_period": "850", "to_period": "853", "replay": "on"}

    form = client.get(url)
    with django_capture_on_commit_callbacks(execute=True):
        posted = client.post(url, data)

    if page not in ALLOWED[role]:
        assert (form.status_code, posted.status_code) == (403, 403)
        assert not Job.objects.exists() and queued == []
        return
    assert form.status_code == 200
    content = form.content.decode()
    assert f'<option value="{CHAIN}"' in content and "dormant-chain" not in content  # active chains only
    assert ('name="replay"' in content) == (page == "ingest")
    job = Job.objects.get()
    assert posted.status_code == 302 and posted["Location"] == reverse(
        "admin:operations_job_change", args=[job.pk]
    )
    assert (job.job_type, job.requested_by, job.status) == (PAGES[page], user, JobStatus.PENDING)
    assert job.parameters["from_period"] == 850 and job.parameters.get("replay", True) is True
    assert queued == [str(job.pk)]


def test_a_refused_request_is_shown_on_the_form_and_nothing_is_written(queued: list[str]) -> None:
    f.ChainFactory()
    client, _ = client_for(Role.OPS)
    audited = AuditLog.objects.count()

    response = client.post(
        reverse("admin:operations_job_normalize"), {"chain": CHAIN, "from_period": "853", "to_period": "850"}
    )

    assert response.status_code == 200
    assert "from period 853 is after to period 850" in response.content.decode()
    assert not Job.objects.exists() and AuditLog.objects.count() == audited and queued == []


def test_the_job_list_shows_progress_and_the_buttons_the_user_may_use() -> None:
    f.JobFactory(status=JobStatus.RUNNING, progress=40, finished_at=None)
    ops, _ = client_for(Role.OPS)
    finance, _ = client_for(Role.FINANCE)

    as_ops = ops.get(reverse("admin:operations_job_changelist")).content.decode()
    as_finance = finance.get(reverse("admin:operations_job_changelist")).content.decode()

    assert '<progress class="job-progress" value="40" max="100"' in as_ops
    assert (
        reverse("admin:operations_job_ingest") in as_ops
        and reverse("admin:operations_job_recompute") in as_ops
    )
    assert reverse("admin:operations_job_ingest") not in as_finance
    assert reverse("admin:operations_job_recompute") in as_finance


def test_a_job_page_refreshes_itself_while_the_job_is_pending_or_running() -> None:
    running = f.JobFactory(status=JobStatus.RUNNING, progress=50, finished_at=None)
    done = f.JobFactory()
    client, _ = client_for(Role.AUDITOR)
    refresh = '<meta http-equiv="refresh" content="3">'

    running_page = client.get(reverse("admin:operations_job_change", args=[running.pk]))
    done_page = client.get(reverse("admin:operations_job_change", args=[done.pk]))

    assert running_page.status_code == done_page.status_code == 200
    assert refresh in running_page.content.decode()
    assert refresh not in done_page.content.decode()


def test_a_job_page_links_the_runs_it_produced() -> None:
    run = f.ComputationRunFactory()
    job = f.JobFactory(
        result={"runs": [{"period": "850", "run_id": str(run.pk), "status": "SUCCESS", "error": ""}]}
    )
    client, _ = client_for(Role.OPS)

    page = client.get(reverse("admin:operations_job_change", args=[job.pk])).content.decode()

    assert reverse("admin:commissions_computationrun_change", args=[run.pk]) in page


def test_the_job_list_queries_do_not_grow_with_rows(django_assert_max_num_queries: Any) -> None:
    client, _ = client_for(Role.OPS)
    url = reverse("admin:operations_job_changelist")
    f.JobFactory.create_batch(3)
    client.get(url)
    with CaptureQueriesContext(connection) as three:
        assert client.get(url).status_code == 200

    f.JobFactory.create_batch(7)  # each requested by another user
    with django_assert_max_num_queries(len(three)):
        page = client.get(url)
    assert page.status_code == 200 and page.content.decode().count('class="job-progress"') == 10


# ---- the registry -------------------------------------------------------------------------------


def test_the_sync_page_previews_then_applies_and_audits() -> None:
    client, user = client_for(Role.OPS)
    url = reverse("admin:chains_chain_sync")

    preview = client.get(url)

    assert preview.status_code == 200
    content = preview.content.decode()
    assert "created 2 chains: ethereum-mainnet, solana-mainnet" in content
    assert not Chain.objects.exists()  # a preview writes nothing
    digest = preview.context["digest"]

    applied = client.post(url, {"digest": digest})

    assert applied.status_code == 302 and applied["Location"] == reverse("admin:chains_chain_changelist")
    assert set(Chain.objects.values_list("id", flat=True)) == {"ethereum-mainnet", "solana-mainnet"}
    assert Provider.objects.filter(provider_name="replay").exists()
    entry = AuditLog.objects.get(action=AuditAction.REGISTRY_SYNC)
    assert (
        entry.user == user
        and "created 2 chains: ethereum-mainnet, solana-mainnet" in entry.after_snapshot["changes"]
    )
    again = client.get(url).content.decode()
    assert "registry is up to date: nothing changed" in again and "Confirm and apply" not in again


def test_the_sync_page_shows_an_invalid_file_and_changes_nothing(tmp_path: Path, settings: Any) -> None:
    broken = tmp_path / "chains.yaml"
    broken.write_text("chains:\n  solana-mainnet:\n    name: Solana\n    period_type: MONTHLY\n")
    settings.AURORA_CHAINS_FILE = broken
    client, _ = client_for(Role.ADMIN)
    url = reverse("admin:chains_chain_sync")

    preview = client.get(url)
    posted = client.post(url, {"digest": preview.context["digest"]})

    for response in (preview, posted):
        content = response.content.decode()
        assert response.status_code == 200
        assert "The registry files are invalid; nothing was changed." in content
        assert "period_type" in content and "Confirm and apply" not in content
    assert (
        not Chain.objects.exists() and not AuditLog.objects.filter(action=AuditAction.REGISTRY_SYNC).exists()
    )


def test_a_confirmation_of_files_changed_since_the_preview_applies_nothing() -> None:
    client, _ = client_for(Role.OPS)

    response = client.post(reverse("admin:chains_chain_sync"), {"digest": "0" * 64})

    assert response.status_code == 200
    assert "changed since the preview" in response.content.decode()
    assert not Chain.objects.exists()


@pytest.mark.parametrize("role, status", [(Role.FINANCE, 403), (Role.AUDITOR, 403), (Role.OPS, 200)])
def test_the_sync_page_needs_run_operations(role: str, status: int) -> None:
    client, _ = client_for(role)
    assert client.get(reverse("admin:chains_chain_sync")).status_code == status
    listing = client.get(reverse("admin:chains_chain_changelist")).content.decode()
    assert (reverse("admin:chains_chain_sync") in listing) == (status == 200)


CHAIN_FORM = {
    "id": "solana-devnet",
    "name": "Solana Devnet",
    "period_type": "EPOCH",
    "native_unit": "lamport",
    "native_decimals": "9",
    "display_symbol": "SOL",
    "finality_lag": "1",
    "period_length_epochs": "",
    "parameters": "{}",
    "is_active": "on",
    "provider_mappings-TOTAL_FORMS": "0",
    "provider_mappings-INITIAL_FORMS": "0",
    "provider_mappings-MIN_NUM_FORMS": "0",
    "provider_mappings-MAX_NUM_FORMS": "1000",
}
PROVIDER_FORM = {
    "provider_name": "backup-rpc",
    "provider_type": "RPC",
    "adapter": "solana.rpc",
    "base_url": "https://rpc.example.org",
    "api_version": "",
    "api_key_env": "",
    "options": "{}",
    "is_enabled": "on",
    "rate_limit_per_minute": "",
    "timeout_seconds": "30",
}


@pytest.mark.parametrize(
    "model, changes, message",
    [
        ("chain", {"period_length_epochs": "225"}, "Only BLOCK_WINDOW chains have a period length"),
        ("chain", {"period_type": "BLOCK_WINDOW"}, "A BLOCK_WINDOW chain needs its period length"),
        ("chain", {"native_decimals": "40"}, "At most 36 decimals"),
        ("chain", {"id": "Solana Devnet"}, "Use lowercase letters, digits and single hyphens"),
        ("chain", {"parameters": "[1, 2]"}, "Parameters must be a JSON object"),
        ("provider", {"base_url": "ftp://rpc.example.org"}, "must start with http:// or https://"),
        ("provider", {"base_url": "https://"}, "Enter a valid http(s) URL"),
        ("provider", {"api_key_env": "sk-live-123"}, "The name of an environment variable"),
        ("provider", {"timeout_seconds": "0"}, "Between 1 and 600 seconds"),
        ("provider", {"rate_limit_per_minute": "0"}, "At least 1 request per minute"),
    ],
)
def test_registry_forms_refuse_bad_values_on_the_form(
    model: str, changes: dict[str, str], message: str
) -> None:
    client, _ = client_for(Role.OPS)
    data = {**(CHAIN_FORM if model == "chain" else PROVIDER_FORM), **changes}

    response = client.post(reverse(f"admin:chains_{model}_add"), data)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Chain.objects.exists() and not Provider.objects.exists()


def test_registry_forms_save_good_values() -> None:
    client, _ = client_for(Role.OPS)

    chain = client.post(reverse("admin:chains_chain_add"), CHAIN_FORM)
    provider = client.post(reverse("admin:chains_provider_add"), PROVIDER_FORM)

    assert chain.status_code == provider.status_code == 302
    assert Chain.objects.get().period_length_epochs is None
    assert Provider.objects.get().base_url == "https://rpc.example.org"


def test_a_mapping_priority_starts_at_one_and_is_unique_per_role() -> None:
    chain, provider, other = f.ChainFactory(), f.ProviderFactory(), f.ProviderFactory()
    f.ChainProviderMappingFactory(chain=chain, provider=other, provider_role="FEES", priority=1)
    client, _ = client_for(Role.OPS)
    data = {"chain": chain.pk, "provider": provider.pk, "provider_role": "FEES", "is_active": "on"}
    url = reverse("admin:chains_chainprovidermapping_add")

    zero = client.post(url, {**data, "priority": "0"})
    taken = client.post(url, {**data, "priority": "1"})
    fine = client.post(url, {**data, "priority": "2"})

    assert "Priority starts at 1" in zero.content.decode()
    assert taken.status_code == 200 and "already exists" in taken.content.decode()
    assert fine.status_code == 302
    assert ChainProviderMapping.objects.filter(chain=chain, provider_role="FEES").count() == 2


def test_a_validator_key_is_one_word() -> None:
    chain = f.ChainFactory()
    client, _ = client_for(Role.OPS)

    response = client.post(
        reverse("admin:chains_validatoridentity_add"),
        {"chain": chain.pk, "validator_key": "two words", "is_active": "on"},
    )

    assert response.status_code == 200 and "A validator key is one word" in response.content.decode()


# ---- ingestion runs -----------------------------------------------------------------------------


def test_an_ingestion_run_page_lists_failed_items_as_a_table() -> None:
    failure = {
        "validator": "Vote0001",
        "provider": "jito",
        "data_type": "MEV",
        "kind": "http_status",
        "endpoint": "/api/v1/validators",
        "reason": "503 Service Unavailable",
    }
    run = f.IngestionRunFactory(
        status=IngestionStatus.PARTIAL, items_total=4, items_failed=1, failures=[failure]
    )
    client, _ = client_for(Role.AUDITOR)

    page = client.get(reverse("admin:ingestion_ingestionrun_change", args=[run.pk])).content.decode()

    assert '<table class="ingestion-failures">' in page
    row = "".join(f"<td>{value}</td>" for value in failure.values())
    assert row in page
    assert '"reason":' not in page  # not raw JSON
    listing = client.get(reverse("admin:ingestion_ingestionrun_changelist")).content.decode()
    assert "Partial" in listing and "field-duration" in listing and "field-items_failed" in listing


# ---- one job per range; abandoned jobs ----------------------------------------------------------


def test_a_second_job_over_periods_already_queued_is_refused_until_the_first_ends(queued: list[str]) -> None:
    f.ChainFactory()
    user = ops_user()
    first = job_enqueue(job_type=JobType.RECOMPUTE_RANGE, parameters=recompute(850, 853), actor=user)

    with pytest.raises(JobError, match="Recompute a range solana-mainnet 850-853 is already pending"):
        job_enqueue(job_type=JobType.RECOMPUTE_RANGE, parameters=recompute(853, 860), actor=user)
    elsewhere = job_enqueue(job_type=JobType.RECOMPUTE_RANGE, parameters=recompute(854, 860), actor=user)
    other_kind = job_enqueue(job_type=JobType.NORMALIZE_RANGE, parameters=recompute(850, 853), actor=user)
    Job.objects.filter(pk=first.pk).update(status=JobStatus.SUCCESS)
    again = job_enqueue(job_type=JobType.RECOMPUTE_RANGE, parameters=recompute(850, 853), actor=user)

    assert Job.objects.filter(job_type=JobType.RECOMPUTE_RANGE).count() == 3
    assert {elsewhere.pk, other_kind.pk, again.pk} <= set(Job.objects.values_list("pk", flat=True))


def test_a_job_left_running_by_a_stopped_worker_is_sent_again_then_failed_after_the_last_recovery(
    queued: list[str], settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.AURORA_JOB_MAX_RECOVERIES = 2
    f.ChainFactory()
    interrupted = f.JobFactory(status=JobStatus.RUNNING, parameters=recompute(850, 853), progress=40)

    with django_capture_on_commit_callbacks(execute=True):
        first = jobs_recover()
    interrupted.refresh_from_db()
    assert first.resent == [str(interrupted.pk)] and queued == [str(interrupted.pk)]
    assert (interrupted.status, interrupted.recoveries) == (JobStatus.PENDING, 1)
    assert interrupted.progress_message == "the worker stopped; sent again (recovery 1 of 2)"
    with pytest.raises(JobError, match="already pending"):  # it is queued again: it still blocks
        job_enqueue(job_type=JobType.RECOMPUTE_RANGE, parameters=recompute(850, 853), actor=ops_user())

    Job.objects.filter(pk=interrupted.pk).update(status=JobStatus.RUNNING, recoveries=2)
    with django_capture_on_commit_callbacks(execute=True):
        job = job_enqueue(job_type=JobType.RECOMPUTE_RANGE, parameters=recompute(850, 853), actor=ops_user())

    interrupted.refresh_from_db()
    assert interrupted.status == JobStatus.FAILED and interrupted.finished_at is not None
    assert interrupted.error == "the worker stopped 3 times; not sent again (AURORA_JOB_MAX_RECOVERIES=2)"
    assert job.status == JobStatus.PENDING and queued == [str(interrupted.pk), str(job.pk)]


def test_a_queued_job_nobody_took_is_sent_again_with_growing_spacing(
    queued: list[str], settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.AURORA_JOB_REQUEUE_AFTER_SECONDS = 60
    waiting = f.JobFactory(status=JobStatus.PENDING, parameters=recompute(850, 853))
    fresh = f.JobFactory(status=JobStatus.PENDING, parameters=recompute(854, 860))
    now = timezone.now()
    Job.objects.filter(pk=waiting.pk).update(created_at=now - timedelta(seconds=61))
    Job.objects.filter(pk=fresh.pk).update(created_at=now + timedelta(seconds=90))  # queued later

    with django_capture_on_commit_callbacks(execute=True):
        resent = jobs_recover(now=now)
        soon_after = jobs_recover(now=now + timedelta(seconds=100))  # the second wait is 120 s
        later = jobs_recover(now=now + timedelta(seconds=121))

    assert resent.resent == [str(waiting.pk)] and not soon_after
    assert later.resent == [str(waiting.pk)] and queued == [str(waiting.pk)] * 2
    waiting.refresh_from_db()
    fresh.refresh_from_db()
    assert (waiting.status, waiting.resends, waiting.recoveries) == (JobStatus.PENDING, 2, 0)
    assert (fresh.resends, fresh.status) == (0, JobStatus.PENDING)


def test_a_running_job_whose_worker_holds_its_lock_is_left_alone(queued: list[str]) -> None:
    running = f.JobFactory(status=JobStatus.RUNNING, parameters=recompute(850, 853))
    waiting = f.JobFactory(status=JobStatus.PENDING, parameters=recompute(854, 860))
    Job.objects.filter(pk=waiting.pk).update(created_at=timezone.now() - timedelta(days=1))
    worker = psycopg.connect(**connection.get_connection_params(), autocommit=True)  # another session
    try:
        for job in (running, waiting):
            worker.execute("SELECT pg_advisory_lock(%s)", [lock_id(f"job:{job.pk}")])
        recovered = jobs_recover()
    finally:
        worker.close()

    running.refresh_from_db()
    assert not recovered and running.status == JobStatus.RUNNING and queued == []


def test_a_user_limited_to_a_chain_sees_only_its_jobs() -> None:
    f.ChainFactory(id="ethereum-mainnet")
    solana = f.JobFactory(parameters=recompute(850, 853))
    ethereum = f.JobFactory(parameters={"chain_id": "ethereum-mainnet", "from_period": 1, "to_period": 2})
    user = f.UserFactory(role=Role.OPS, is_staff=True, allowed_chain_ids=["ethereum-mainnet"])
    client = Client()
    client.force_login(user)

    listing = client.get(reverse("admin:operations_job_changelist")).content.decode()

    assert str(ethereum.pk) in listing and str(solana.pk) not in listing
    assert client.get(reverse("admin:operations_job_change", args=[solana.pk])).status_code == 302


def test_registry_forms_offer_only_the_chains_of_a_limited_user() -> None:
    solana = f.ChainFactory()
    f.ChainFactory(id="ethereum-mainnet")
    user = f.UserFactory(role=Role.OPS, is_staff=True, allowed_chain_ids=["ethereum-mainnet"])
    client = Client()
    client.force_login(user)

    refused = client.post(
        reverse("admin:chains_validatoridentity_add"),
        {"chain": solana.pk, "validator_key": "Out" + "1" * 40, "is_active": "on"},
    )

    assert refused.status_code == 200 and "Select a valid choice" in refused.content.decode()
    choices = [value for value, _ in refused.context["adminform"].form.fields["chain"].choices if value]
    assert [str(value) for value in choices] == ["ethereum-mainnet"]
    assert not ValidatorIdentity.objects.filter(chain=solana).exists()


def test_a_pipeline_job_cannot_be_queued_as_a_range_job() -> None:
    from operations.services import JobError, job_enqueue

    f.ChainFactory()
    with pytest.raises(JobError, match="started by the pipeline"):
        job_enqueue(
            job_type="PIPELINE",
            parameters={"chain_id": "solana-mainnet", "from_period": 1, "to_period": 1},
            actor=None,
        )
