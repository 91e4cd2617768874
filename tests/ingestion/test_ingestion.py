"""The orchestrator: replayed recordings into staging, idempotency, crash safety, bad provider data."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

from aurora.common.hashing import sha256_hex
from aurora.common.locks import _lock_id
from chains.models import Chain, Period, Provider
from chains.services import registry_sync
from demo.simulated.solana import SimulatedSolana
from ingestion.models import DataType, IngestionRun, IngestionStatus, StagingPayload
from ingestion.providers.base import ChainSettings, PeriodInfo, ProviderSettings, ValidatorRef
from ingestion.providers.http import reset_provider_state
from ingestion.providers.registry import TransportMode, build_adapter
from ingestion.services import IngestionError, IngestOptions, ItemOutcome, ingest_range, register_validators
from tests.solana_demo import CHAIN, MANIFEST, RECORDINGS, VALIDATORS, delete_runs, delete_staged, replay

# Per validator and period: FEES from solana-rpc and solanabeach, MEV from jito, REWARDS from
# solana-rpc, META from solana-rpc, stakewiz and solanabeach (config/chains.yaml).
ITEMS_PER_VALIDATOR = 7
SIMULATED_PROVIDERS = ("solana-rpc", "jito", "stakewiz", "solanabeach")


@pytest.fixture(autouse=True)
def _clean_provider_state() -> Iterator[None]:
    reset_provider_state()
    yield
    reset_provider_state()


def staging_rows() -> set[tuple[Any, ...]]:
    """Staging as a set of what matters (run ids and fetch times differ between runs by design)."""
    return set(
        StagingPayload.objects.values_list(
            "period__period_identifier",
            "validator_key",
            "provider__provider_name",
            "data_type",
            "request_key",
            "response_hash",
        )
    )


def staged_content() -> set[tuple[Any, ...]]:
    """Staging keyed by request, with JSON-RPC batch answers put in id order."""
    rows = set()
    for *key, body in StagingPayload.objects.values_list(
        "period__period_identifier",
        "validator_key",
        "provider__provider_name",
        "data_type",
        "request_key",
        "raw_payload",
    ):
        if isinstance(body, list):
            body = sorted(body, key=lambda answer: answer.get("id", 0))
        rows.add((*key, sha256_hex(body)))
    return rows


def simulated(world: SimulatedSolana, **handlers: Callable[[httpx.Request], httpx.Response]) -> IngestOptions:
    """Live mode against the simulated cluster; `handlers` replace a provider's (fault injection)."""
    transports = {
        name: httpx.MockTransport(handlers.get(name.replace("-", "_"), world.handler(name)))
        for name in SIMULATED_PROVIDERS
    }
    return IngestOptions(transports=transports, sleep=lambda _s: None)


# ---- replayed recordings ---------------------------------------------------------------------------


def test_ingest_command_stages_3_validators_x_4_epochs_and_a_second_run_adds_nothing(registry: None) -> None:
    call_command(
        "ingest", "--chain", CHAIN, "--from-period", "850", "--to-period", "853", "--provider", "replay"
    )

    runs = list(IngestionRun.objects.order_by("period__period_identifier"))
    assert [run.period.period_identifier for run in runs] == ["850", "851", "852", "853"]
    assert {run.status for run in runs} == {IngestionStatus.SUCCESS}
    assert {run.items_succeeded for run in runs} == {3 * ITEMS_PER_VALIDATOR}
    items = set(StagingPayload.objects.values_list("period_id", "validator_key", "provider_id", "data_type"))
    assert len(items) == 4 * 3 * ITEMS_PER_VALIDATOR
    assert {key for _, key, _, _ in items} == set(VALIDATORS)
    first = staging_rows()
    assert len(first) == StagingPayload.objects.count() == sum(run.records_staged for run in runs)

    call_command(
        "ingest", "--chain", CHAIN, "--from-period", "850", "--to-period", "853", "--provider", "replay"
    )

    assert staging_rows() == first
    again = IngestionRun.objects.exclude(pk__in=[run.pk for run in runs])
    assert {(run.status, run.items_skipped, run.records_staged) for run in again} == {
        (IngestionStatus.SUCCESS, 3 * ITEMS_PER_VALIDATOR, 0)
    }


def test_staged_payloads_are_the_responses_verbatim_with_their_request_and_hash(registry: None) -> None:
    replay()
    payload = StagingPayload.objects.filter(data_type=DataType.MEV, period__period_identifier="851").first()
    assert payload is not None
    recorded = [
        json.loads(line)
        for line in (RECORDINGS / "jito" / "851" / f"{payload.validator_key}.jsonl").read_text().splitlines()
    ]
    assert payload.raw_payload == recorded[-1]["response"]
    assert payload.response_hash == sha256_hex(payload.raw_payload)
    assert payload.request == {
        "method": "GET",
        "url": "https://kobe.mainnet.jito.network/api/v1/validator_rewards",
        "query": {"vote_account": payload.validator_key, "epoch": "851"},
    }
    assert payload.provider_version == "solana.jito"
    assert payload.fetch_timestamp is not None


def test_periods_are_kept_with_their_slots_times_and_finality(registry: None) -> None:
    replay()
    periods = {p.period_identifier: p for p in Period.objects.filter(chain_id=CHAIN)}
    assert sorted(periods) == ["850", "851", "852", "853"]
    assert periods["850"].first_index == 850 * 432_000
    assert periods["850"].last_index == 851 * 432_000 - 1
    assert periods["850"].period_end == periods["851"].period_start
    assert all(p.is_finalized and p.finalized_at for p in periods.values())


def test_staged_rewards_parse_back_to_the_cluster_s_exact_lamports(registry: None) -> None:
    replay()
    world = SimulatedSolana()
    chain = Chain.objects.get(pk=CHAIN)
    rpc = Provider.objects.get(provider_name="solana-rpc")
    adapter = build_adapter(
        ChainSettings.from_model(chain), ProviderSettings.from_model(rpc), mode=TransportMode.REPLAY
    )
    period = Period.objects.get(chain=chain, period_identifier="852")
    info = PeriodInfo(
        "852", period.first_index or 0, period.last_index or 0, period.period_start, period.period_end, True
    )
    for vote in VALIDATORS:
        rows = StagingPayload.objects.filter(
            period=period, validator_key=vote, provider=rpc, data_type=DataType.REWARDS
        ).order_by("request_key")
        exchanges = [row_exchange(row) for row in rows]
        parsed = adapter.parse(DataType.REWARDS, exchanges, info, ValidatorRef(vote))
        assert parsed.vote_reward == world.vote_reward(vote, 852)
        truth = {a.pubkey: a for a in world.stake_accounts(vote, 852)}
        assert {a.stake_account for a in parsed.stake_accounts} == set(truth)
        assert sum(a.reward or 0 for a in parsed.stake_accounts) == sum(a.reward_net for a in truth.values())


def row_exchange(row: StagingPayload) -> Any:
    from ingestion.providers.base import Exchange

    return Exchange(row.request_key, row.request, 200, row.raw_payload, row.fetch_timestamp, "")


def test_only_final_periods_are_ingested(registry: None) -> None:
    world = SimulatedSolana().at_epoch(853)  # epoch 853 is running, 852's rewards are paid and finalized
    runs = ingest_range(chain_id=CHAIN, first=851, last=853, options=simulated(world))
    assert [run.period.period_identifier for run in runs if run.period] == ["851", "852"]
    assert not Period.objects.get(chain_id=CHAIN, period_identifier="853").is_finalized


@pytest.mark.parametrize(
    ("finalized_slot_in_853", "lag", "latest_final"),
    [
        (100, 1, 851),  # 852's stake rewards are still being credited
        (43_200, 1, 852),  # the distribution window (10 % of an epoch) is finalized
        (43_200, 2, 851),
    ],
)
def test_an_epoch_is_final_after_finality_lag_and_once_its_reward_distribution_is_finalized(
    finalized_slot_in_853: int, lag: int, latest_final: int
) -> None:
    from ingestion.providers.solana.epochs import EpochSchedule
    from ingestion.providers.solana.rpc import SolanaRpcAdapter

    schedule = EpochSchedule(slots_per_epoch=432_000)
    adapter = SolanaRpcAdapter(
        chain=ChainSettings(chain_id=CHAIN, finality_lag=lag),
        settings=ProviderSettings(name="solana-rpc", adapter="solana.rpc"),
        client=None,  # type: ignore[arg-type]
    )
    head = adapter.head_from(schedule, 853, schedule.first_slot(853) + finalized_slot_in_853)
    assert (head.current_period, head.latest_final_period) == (853, latest_final)


def test_unknown_validators_and_inactive_chains_are_refused_before_anything_is_fetched(
    registry: None,
) -> None:
    with pytest.raises(IngestionError, match="not validators of the operator"):
        replay(validator_keys=["Vote111111111111111111111111111111111111111"])
    Chain.objects.filter(pk=CHAIN).update(is_active=False)
    with pytest.raises(CommandError, match="not active"):
        call_command(
            "ingest", "--chain", CHAIN, "--from-period", "850", "--to-period", "850", "--provider", "replay"
        )
    assert not IngestionRun.objects.exists()


# ---- crash safety ----------------------------------------------------------------------------------


class Killed(BaseException):
    """Stands for the process dying: not an Exception, so nothing in the service catches it."""


def test_a_run_that_dies_midway_then_a_rerun_leave_exactly_the_rows_of_one_clean_run(registry: None) -> None:
    replay()
    clean = staging_rows()
    delete_staged(StagingPayload.objects.all())
    delete_runs(IngestionRun.objects.all())

    seen: list[ItemOutcome] = []

    def die_after_30_items(outcome: ItemOutcome) -> None:
        seen.append(outcome)
        if len(seen) == 30:
            raise Killed

    with pytest.raises(Killed):
        replay(options={"on_item": die_after_30_items})
    partial = staging_rows()
    assert 0 < len(partial) < len(clean)
    assert list(
        IngestionRun.objects.values_list("period__period_identifier", "status").order_by("started_at")
    ) == [
        ("850", IngestionStatus.SUCCESS),
        ("851", IngestionStatus.RUNNING),
    ]

    replay()

    assert staging_rows() == clean
    abandoned = IngestionRun.objects.get(period__period_identifier="851", status=IngestionStatus.FAILED)
    assert "abandoned" in (abandoned.error_message or "")
    rerun_851 = IngestionRun.objects.get(period__period_identifier="851", status=IngestionStatus.SUCCESS)
    assert rerun_851.items_skipped == 30 - 3 * ITEMS_PER_VALIDATOR


def test_a_period_being_ingested_by_another_process_is_left_alone(registry: None) -> None:
    from django.db import connections

    other = connections.create_connection("default")  # plays the other process's session
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [_lock_id(f"ingest:{CHAIN}:851")])
        runs = replay()
    finally:
        other.close()

    statuses = {run.period.period_identifier: run.status for run in runs if run.period}
    assert statuses == {
        "850": IngestionStatus.SUCCESS,
        "851": IngestionStatus.FAILED,
        "852": IngestionStatus.SUCCESS,
        "853": IngestionStatus.SUCCESS,
    }
    assert "851 is being ingested by another process" in (runs[1].error_message or "")
    assert not StagingPayload.objects.filter(period__period_identifier="851").exists()


def wait_for_advisory_locks_released(timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database())"
            )
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.05)
    raise AssertionError("an advisory lock outlived its killed process")


@pytest.mark.django_db(transaction=True)
def test_killing_the_ingest_process_midway_then_rerunning_gives_the_rows_of_one_clean_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SOLANABEACH_API_KEY", "demo-key")
    registry_sync(chains_file=settings.AURORA_CHAINS_FILE, providers_file=settings.AURORA_PROVIDERS_FILE)
    register_validators(chain_id=CHAIN, validators=MANIFEST)
    command = [
        sys.executable,
        "manage.py",
        "ingest",
        "--chain",
        CHAIN,
        "--from-period",
        "850",
        "--to-period",
        "853",
    ]
    command += ["--provider", "replay"]
    db = connection.settings_dict
    env = {
        **os.environ,
        "DEBUG": "true",
        "DATABASE_URL": (
            f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
        ),
    }
    process = subprocess.Popen(
        command, cwd=settings.BASE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while StagingPayload.objects.count() < 40 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_midway = staging_rows()
    assert process.returncode == -signal.SIGKILL, "the ingest finished before it could be killed"
    assert IngestionRun.objects.filter(status=IngestionStatus.RUNNING).count() == 1

    wait_for_advisory_locks_released()  # the server notices the dead client's socket a moment later
    subprocess.run(command, cwd=settings.BASE_DIR, env=env, check=True, capture_output=True)
    after_rerun = staging_rows()

    delete_staged(StagingPayload.objects.all())
    delete_runs(IngestionRun.objects.all())
    subprocess.run(command, cwd=settings.BASE_DIR, env=env, check=True, capture_output=True)

    assert killed_midway < after_rerun
    assert after_rerun == staging_rows()


def test_backfill_resumes_and_reports_progress(registry: None, capsys: pytest.CaptureFixture[str]) -> None:
    replay(validator_keys=VALIDATORS[:1])
    call_command(
        "backfill", "--chain", CHAIN, "--from-period", "850", "--to-period", "853", "--provider", "replay"
    )
    out, err = capsys.readouterr()
    assert "4 period(s) ingested" in out
    assert "84/84" in err  # the progress bar counted every item: 4 periods x 3 validators x 7
    runs = IngestionRun.objects.filter(items_skipped=ITEMS_PER_VALIDATOR, status=IngestionStatus.SUCCESS)
    assert runs.count() == 4  # the first validator's items were already staged


def test_recording_live_responses_then_replaying_them_stages_the_same_rows(
    registry: None, tmp_path: Path
) -> None:
    world = SimulatedSolana()
    live = simulated(world)
    live.mode, live.recordings = TransportMode.RECORD, tmp_path
    ingest_range(chain_id=CHAIN, first=852, last=852, options=live)
    recorded = staged_content()
    delete_staged(StagingPayload.objects.all())

    ingest_range(
        chain_id=CHAIN,
        first=852,
        last=852,
        options=IngestOptions(mode=TransportMode.REPLAY, recordings=tmp_path, sleep=lambda _s: None),
    )

    # A live node may answer a batch in any order (matched by id); replay answers in request order.
    assert staged_content() == recorded
    assert len({row[1] for row in recorded}) == 3
