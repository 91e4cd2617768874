"""Normalization: staged payloads into canonical rows, source priority, immutable history, reports."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal, localcontext
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, ProgrammingError, connection, connections, transaction

from aurora.common.hashing import sha256_hex
from aurora.common.locks import _lock_id
from canonical import services
from canonical.models import (
    CanonicalStakeReward,
    CanonicalValidatorFees,
    CanonicalValidatorMeta,
    CanonicalValidatorMev,
    FindingKind,
    NormalizationRun,
    NormalizationStatus,
    ReconciliationFinding,
    Severity,
)
from canonical.normalization import history
from canonical.services import NormalizationError, normalization_plan, normalize_period, normalize_range
from chains.models import Chain, ChainProviderMapping, Period, Provider, ValidatorIdentity
from demo.simulated.solana import SimulatedSolana
from ingestion.models import DataType, IngestionRun, IngestionStatus, StagingPayload
from tests.solana_demo import CHAIN, EPOCHS, MANIFEST, VALIDATORS, delete_staged, load_registry, replay

ALPHA, BETA, GAMMA = VALIDATORS  # 5 % / 7 % then 8 % from 852 / 10 % commission; Gamma runs no Jito
WORLD = SimulatedSolana()


@pytest.fixture
def staged(registry: None) -> None:
    replay()


def normalize(first: int = EPOCHS[0], last: int = EPOCHS[-1], **kwargs: Any) -> list[NormalizationRun]:
    return normalize_range(chain_id=CHAIN, first=first, last=last, **kwargs)


def current(model: Any, **filters: Any) -> Any:
    return model.objects.filter(superseded_at__isnull=True, **filters)


def findings(run: NormalizationRun, **filters: Any) -> list[ReconciliationFinding]:
    return list(ReconciliationFinding.objects.filter(report__run=run, **filters))


def canonical_snapshot() -> dict[str, set[tuple[Any, ...]]]:
    """Every canonical row, current or not, by what it says."""
    return {
        model._meta.db_table: set(
            model.objects.values_list("id", "validator_key", "period__period_identifier", "superseded_at")
        )
        for model in (
            CanonicalValidatorFees,
            CanonicalValidatorMev,
            CanonicalStakeReward,
            CanonicalValidatorMeta,
        )
    }


def restage(
    *,
    validator: str,
    data_type: str,
    provider: str,
    epoch: str,
    change: Callable[[Any], None],
    request_key: str = "",
) -> StagingPayload:
    """A provider answering differently later: a new payload, newer than the one it replaces."""
    query = StagingPayload.objects.filter(
        validator_key=validator,
        data_type=data_type,
        provider__provider_name=provider,
        period__period_identifier=epoch,
    )
    if request_key:
        query = query.filter(request_key=request_key)
    original = query.order_by("request_key").first()
    assert original is not None
    body = copy.deepcopy(original.raw_payload)
    change(body)
    return StagingPayload.objects.create(
        run=original.run,
        chain=original.chain,
        period=original.period,
        validator_key=original.validator_key,
        provider=original.provider,
        provider_version=original.provider_version,
        data_type=original.data_type,
        request_key=original.request_key,
        request=original.request,
        fetch_timestamp=original.fetch_timestamp + timedelta(hours=1),
        response_hash=sha256_hex(body),
        raw_payload=body,
    )


# ---- the shipped recordings, to the lamport -------------------------------------------------------


def test_fees_mev_rewards_and_commissions_match_the_cluster_to_the_lamport(staged: None) -> None:
    runs = normalize()

    assert [run.status for run in runs] == [NormalizationStatus.SUCCESS] * 4
    for epoch in EPOCHS:
        period = {"period__period_identifier": str(epoch)}
        for vote in VALIDATORS:
            fees = current(CanonicalValidatorFees, validator_key=vote, **period).get()
            assert fees.total_fees_native == WORLD.block_fees(vote, epoch)
            assert fees.fee_count == len(WORLD.produced_slots(vote, epoch))
            assert fees.source_provider.provider_name == "solana-rpc"

            spec = WORLD.validator(vote)
            mev = current(CanonicalValidatorMev, validator_key=vote, **period).get()
            tips = WORLD.mev_revenue(vote, epoch)
            assert mev.gross_mev_native == tips
            share = Decimal(tips) * spec.mev_commission_bps / 10_000 if spec.runs_jito else Decimal(0)
            assert mev.total_mev_native == share

            truth = {a.pubkey: a for a in WORLD.stake_accounts(vote, epoch) if a.earning}
            stakers = {
                r.staker_address: r for r in current(CanonicalStakeReward, validator_key=vote, **period)
            }
            aggregate = stakers.pop(None)
            assert set(stakers) == set(truth)
            assert aggregate.commission_native == WORLD.vote_reward(vote, epoch)
            assert aggregate.rewards_native == WORLD.vote_reward(vote, epoch) + sum(
                a.reward_net for a in truth.values()
            )
            assert aggregate.commission_rate_bps == WORLD.commission(vote, epoch) * 100
            for address, row in stakers.items():
                account = truth[address]
                assert row.active_stake_native == account.stake  # the stake that earned, before compounding
                assert row.withdraw_authority == account.withdrawer
                assert row.rewards_native - row.commission_native == account.reward_net  # net is exact
                # Agave floors both sides of the split: the derived gross is within a lamport
                # Agave floors both sides of the split, losing up to a lamport: the derived gross is
                # within 100 / (100 - c) lamports of the true one, the commission within one
                pct = account.commission
                assert abs(row.rewards_native - account.reward_gross) < Decimal(100) / (100 - pct)
                assert abs(row.commission_native - account.reward_commission) < 1
                assert row.source_payload.request_key.startswith("inflation-rewards#")
                assert address in str(row.source_payload.request)


def test_hand_computed_figures_of_one_validator_epoch(staged: None) -> None:
    """Alpha, epoch 850, computed here from the staged payloads without the adapters."""
    normalize(850, 850)
    payloads = StagingPayload.objects.filter(validator_key=ALPHA, period__period_identifier="850")
    node = next(v["node_pubkey"] for v in MANIFEST if v["validator_key"] == ALPHA)
    block_fees = sum(
        reward["lamports"]
        for p in payloads.filter(provider__provider_name="solana-rpc", request_key__startswith="blocks#")
        for answer in p.raw_payload
        if answer.get("result")
        for reward in answer["result"]["rewards"]
        if reward["rewardType"] == "Fee" and reward["pubkey"] == node
    )
    kobe = payloads.get(provider__provider_name="jito").raw_payload["rewards"][0]
    rewards = {
        address: reward
        for p in payloads.filter(request_key__startswith="inflation-rewards#")
        for answer in p.raw_payload
        for address, reward in zip(
            next(c for c in p.request["body"] if c["id"] == answer["id"])["params"][0],
            answer["result"],
            strict=True,
        )
    }
    vote_reward = rewards.pop(ALPHA)["amount"]
    nets = {address: r["amount"] for address, r in rewards.items() if r is not None}

    fees = current(CanonicalValidatorFees, validator_key=ALPHA).get()
    mev = current(CanonicalValidatorMev, validator_key=ALPHA).get()
    aggregate = current(CanonicalStakeReward, validator_key=ALPHA, staker_address__isnull=True).get()
    assert block_fees > 0 and fees.total_fees_native == block_fees
    assert mev.total_mev_native == Decimal(kobe["mev_revenue"]) * kobe["mev_commission"] / 10_000
    assert mev.mev_commission_bps == kobe["mev_commission"] == 800
    assert aggregate.commission_native == vote_reward
    assert aggregate.rewards_native == vote_reward + sum(nets.values())
    # 5 %: each staker's commission is net x 5 / 95 (to 18 places); together about the vote reward
    stakers = {
        row.staker_address: row
        for row in current(CanonicalStakeReward, validator_key=ALPHA, staker_address__isnull=False)
    }
    assert set(stakers) == set(nets)
    for address, net in nets.items():
        with localcontext(prec=80):
            commission = (Decimal(net) * 5 / 95).quantize(Decimal("1e-18"))
            gross = net + commission
        row = stakers[address]
        assert (row.commission_native, row.rewards_native) == (commission, gross)
    total = sum(row.commission_native for row in stakers.values())
    assert abs(total - vote_reward) <= len(nets)


def test_metadata_takes_the_best_provider_and_fills_gaps_from_the_others(staged: None) -> None:
    normalize(851, 851)

    beta = current(CanonicalValidatorMeta, validator_key=BETA).get()
    assert beta.source_provider.provider_name == "solana-rpc"
    assert beta.commission_rate_bps == 700  # the rate paid in 851, from getInflationReward
    assert beta.mev_commission_bps == 1_000 and beta.is_mev_enabled  # not in the RPC: from Stakewiz
    assert beta.field_sources["mev_commission_bps"] == "stakewiz"
    assert beta.delegator_count == sum(1 for a in WORLD.stake_accounts(BETA, 851) if a.earning)
    assert beta.active_stake_native == WORLD.active_stake(BETA, 851)
    produced, scheduled = len(WORLD.produced_slots(BETA, 851)), len(WORLD.leader_slots(BETA, 851))
    assert beta.uptime_percentage == (Decimal(produced) * 100 / scheduled).quantize(Decimal("0.01"))
    gamma = current(CanonicalValidatorMeta, validator_key=GAMMA).get()
    assert gamma.is_mev_enabled is False and gamma.mev_commission_bps is None


# ---- idempotency and history --------------------------------------------------------------------


def test_renormalizing_unchanged_input_writes_nothing(staged: None) -> None:
    first = normalize()
    before = canonical_snapshot()

    again = normalize()

    earning = {e: sum(1 for v in VALIDATORS for a in WORLD.stake_accounts(v, e) if a.earning) for e in EPOCHS}
    assert [run.rows_inserted for run in first] == [3 * 4 + earning[e] for e in EPOCHS]
    assert all(run.rows_inserted == run.rows_superseded == run.payloads_read == 0 for run in again)
    assert all(run.validators_unchanged == 3 for run in again)
    assert canonical_snapshot() == before
    # the report still tells the period's state: the disagreements of 851 are repeated
    assert (
        len(findings(again[1], kind=FindingKind.PROVIDER_DISAGREEMENT))
        == len(findings(first[1], kind=FindingKind.PROVIDER_DISAGREEMENT))
        > 0
    )


def test_a_changed_staged_value_supersedes_the_row_keeps_the_old_one_and_is_reported(staged: None) -> None:
    normalize(852, 852)
    old = current(CanonicalValidatorMev, validator_key=ALPHA).get()

    def more_tips(body: dict[str, Any]) -> None:
        body["rewards"][0]["mev_revenue"] += 1_000_000

    restage(validator=ALPHA, data_type=DataType.MEV, provider="jito", epoch="852", change=more_tips)
    (second,) = normalize(852, 852)

    old.refresh_from_db()
    new = current(CanonicalValidatorMev, validator_key=ALPHA).get()
    assert old.superseded_at is not None and old.superseded_by_id == new.pk
    assert new.total_mev_native == old.total_mev_native + Decimal(1_000_000) * 800 / 10_000
    assert new.source_payload.raw_payload["rewards"][0]["mev_revenue"] == old.gross_mev_native + 1_000_000
    assert CanonicalValidatorMev.objects.filter(validator_key=ALPHA, period=old.period).count() == 2
    assert (second.rows_inserted, second.rows_superseded, second.validators_unchanged) == (1, 1, 2)
    (change,) = findings(second, kind=FindingKind.VALUE_CHANGED)
    assert (change.validator_key, change.data_type, change.severity) == (ALPHA, "MEV", Severity.WARNING)
    assert (change.expected_value, change.observed_value) == (old.total_mev_native, new.total_mev_native)
    assert change.details["changes"][0]["changed"]["gross_mev_native"] == [
        str(old.gross_mev_native.normalize()),
        str(new.gross_mev_native.normalize()),
    ]


def test_a_changed_stake_reward_supersedes_that_account_and_the_aggregate(staged: None) -> None:
    normalize(852, 852)
    payload = (
        StagingPayload.objects.filter(
            validator_key=BETA, period__period_identifier="852", request_key__startswith="inflation-rewards#"
        )
        .order_by("request_key")
        .first()
    )
    assert payload is not None
    answer = payload.raw_payload[0]
    address = next(c for c in payload.request["body"] if c["id"] == answer["id"])["params"][0][1]
    index = 1

    def richer(body: list[dict[str, Any]]) -> None:
        body[0]["result"][index]["amount"] += 92  # 8 %: 92 net more is 8 more commission

    restage(
        validator=BETA,
        data_type=DataType.REWARDS,
        provider="solana-rpc",
        epoch="852",
        change=richer,
        request_key=payload.request_key,
    )
    before = current(CanonicalStakeReward, validator_key=BETA, staker_address=address).get()
    (run,) = normalize(852, 852)

    after = current(CanonicalStakeReward, validator_key=BETA, staker_address=address).get()
    assert (
        after.rewards_native == before.rewards_native + 100
        and after.commission_native == before.commission_native + 8
    )
    # that account, the validator's aggregate, and its metadata: the stake that earned is the
    # listed stake less the (now larger) reward
    assert run.rows_superseded == 3
    kinds = {(f.kind, f.data_type) for f in findings(run, kind=FindingKind.VALUE_CHANGED)}
    assert kinds == {(FindingKind.VALUE_CHANGED, "REWARDS"), (FindingKind.VALUE_CHANGED, "META")}
    # the sum of commissions no longer matches the vote account's reward only by 8 lamports: within rounding
    assert not findings(run, kind=FindingKind.INCONSISTENCY, field="commission_native")


def test_the_database_refuses_to_rewrite_or_delete_canonical_history(staged: None) -> None:
    normalize(850, 850)
    row = current(CanonicalValidatorFees, validator_key=ALPHA).get()

    with (
        pytest.raises(IntegrityError, match="never"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "UPDATE canonical_validator_fees SET total_fees_native = total_fees_native + 1 WHERE fee_id = %s",
            [row.pk],
        )
    # Deleting is not even among the application's privileges (and the owner meets the trigger).
    with (
        pytest.raises(ProgrammingError, match="permission denied"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM canonical_validator_fees WHERE fee_id = %s", [row.pk])
    with pytest.raises(ProgrammingError, match="permission denied"), transaction.atomic():
        row.delete()
    row.refresh_from_db()
    assert row.total_fees_native == WORLD.block_fees(ALPHA, 850)


def test_a_superseded_row_is_final(staged: None) -> None:
    normalize(850, 850)
    row = current(CanonicalValidatorFees, validator_key=ALPHA).get()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE canonical_validator_fees SET superseded_at = now() WHERE fee_id = %s", [row.pk]
        )
        with pytest.raises(IntegrityError, match="final"), transaction.atomic():
            cursor.execute(
                "UPDATE canonical_validator_fees SET superseded_at = NULL WHERE fee_id = %s", [row.pk]
            )


# ---- source priority ----------------------------------------------------------------------------


def test_the_best_provider_wins_and_the_next_one_fills_in_when_it_has_nothing(staged: None) -> None:
    delete_staged(
        StagingPayload.objects.filter(
            validator_key=GAMMA, provider__provider_name="solana-rpc", data_type=DataType.FEES
        )
    )

    (run,) = normalize(850, 850)

    rows = {r.validator_key: r for r in current(CanonicalValidatorFees)}
    assert {rows[v].source_provider.provider_name for v in (ALPHA, BETA)} == {"solana-rpc"}
    assert rows[GAMMA].source_provider.provider_name == "solanabeach"
    assert rows[GAMMA].source_payload.provider.provider_name == "solanabeach"
    assert rows[GAMMA].total_fees_native == WORLD.block_fees(GAMMA, 850)  # Solana Beach agrees here
    assert run.status == NormalizationStatus.SUCCESS


def test_unusable_payloads_of_the_best_provider_fall_back_and_are_reported(staged: None) -> None:
    def garble(body: list[dict[str, Any]]) -> None:
        body[0]["result"] = "not a block"

    restage(
        validator=ALPHA,
        data_type=DataType.FEES,
        provider="solana-rpc",
        epoch="850",
        change=garble,
        request_key="blocks#0000",
    )
    (run,) = normalize(850, 850)

    fees = current(CanonicalValidatorFees, validator_key=ALPHA).get()
    assert fees.source_provider.provider_name == "solanabeach"
    (unusable,) = findings(run, kind=FindingKind.UNUSABLE_PAYLOAD)
    assert (unusable.severity, unusable.providers, unusable.data_type) == (
        Severity.ERROR,
        "solana-rpc",
        "FEES",
    )
    assert "getBlock" in unusable.message
    assert run.status == NormalizationStatus.PARTIAL and run.items_failed == 1


def test_changing_the_priority_changes_the_source_and_supersedes(staged: None) -> None:
    normalize(850, 850)
    old = current(CanonicalValidatorFees, validator_key=ALPHA).get()
    ChainProviderMapping.objects.filter(
        chain_id=CHAIN, provider_role="FEES", provider__provider_name="solana-rpc"
    ).update(priority=3)

    (run,) = normalize(850, 850)

    new = current(CanonicalValidatorFees, validator_key=ALPHA).get()
    assert new.source_provider.provider_name == "solanabeach" and new.pk != old.pk
    assert new.total_fees_native == old.total_fees_native
    assert CanonicalValidatorFees.objects.filter(superseded_by__isnull=False).count() == 3
    changed = findings(run, kind=FindingKind.VALUE_CHANGED, data_type="FEES")
    assert len(changed) == 3 and all("now from solanabeach" in f.message for f in changed)


def test_providers_that_disagree_are_reported(staged: None) -> None:
    for payload in StagingPayload.objects.filter(
        validator_key=BETA,
        provider__provider_name="solanabeach",
        data_type=DataType.FEES,
        period__period_identifier="853",
    ).exclude(request_key="validator"):
        if any(entry["epoch"] == 853 for entry in payload.raw_payload["history"]):
            restage(
                validator=BETA,
                data_type=DataType.FEES,
                provider="solanabeach",
                epoch="853",
                change=lambda body: [
                    e.update(fees=e["fees"] - 5_000) for e in body["history"] if e["epoch"] == 853
                ],
                request_key=payload.request_key,
            )
    (run,) = normalize(853, 853)

    (disagreement,) = findings(run, kind=FindingKind.PROVIDER_DISAGREEMENT, data_type="FEES")
    fees = WORLD.block_fees(BETA, 853)
    assert disagreement.providers == "solana-rpc vs solanabeach"
    assert (disagreement.expected_value, disagreement.observed_value) == (fees, fees - 5_000)
    assert current(CanonicalValidatorFees, validator_key=BETA).get().total_fees_native == fees


# ---- reconciliation -----------------------------------------------------------------------------


def test_missing_data_is_an_error_finding(staged: None) -> None:
    ValidatorIdentity.objects.create(
        chain_id=CHAIN, validator_key="Missing1111111111111111111111111111111111111"
    )

    (run,) = normalize(850, 850)

    missing = findings(run, kind=FindingKind.MISSING_DATA)
    assert {(f.validator_key[:7], f.data_type) for f in missing} == {
        ("Missing", data_type) for data_type in ("FEES", "MEV", "REWARDS", "META")
    }
    assert all(f.severity == Severity.ERROR for f in missing)
    assert run.report.error_count == 4


def test_missing_stake_accounts_break_the_commission_total(staged: None) -> None:
    def drop_accounts(body: dict[str, Any]) -> None:
        body["result"] = body["result"][: len(body["result"]) // 2]

    restage(
        validator=GAMMA,
        data_type=DataType.REWARDS,
        provider="solana-rpc",
        epoch="851",
        change=drop_accounts,
        request_key="stake-accounts",
    )
    (run,) = normalize(851, 851)

    (inconsistent,) = findings(run, kind=FindingKind.INCONSISTENCY, field="commission_native")
    assert inconsistent.validator_key == GAMMA and inconsistent.severity == Severity.ERROR
    assert inconsistent.expected_value == WORLD.vote_reward(GAMMA, 851)
    assert inconsistent.observed_value < inconsistent.expected_value * Decimal("0.9")
    assert "may be missing" in inconsistent.message


def test_a_reward_off_the_validator_s_rate_is_flagged(staged: None) -> None:
    payload = (
        StagingPayload.objects.filter(
            validator_key=ALPHA, period__period_identifier="850", request_key__startswith="inflation-rewards#"
        )
        .order_by("request_key")
        .first()
    )
    assert payload is not None

    def tenfold(body: list[dict[str, Any]]) -> None:
        reward = body[0]["result"][1]
        reward["amount"] *= 10

    restage(
        validator=ALPHA,
        data_type=DataType.REWARDS,
        provider="solana-rpc",
        epoch="850",
        change=tenfold,
        request_key=payload.request_key,
    )
    (run,) = normalize(850, 850)

    outliers = findings(run, kind=FindingKind.INCONSISTENCY, field="rewards_native")
    assert [(f.validator_key, f.severity) for f in outliers] == [(ALPHA, Severity.WARNING)]
    assert len(outliers[0].details["examples"]) == 1


def test_period_over_period_deltas_beyond_the_chain_threshold(staged: None) -> None:
    runs = normalize()
    deltas = [f for run in runs for f in findings(run, kind=FindingKind.PERIOD_DELTA)]
    assert deltas and all(abs(f.delta_pct) > 10 for f in deltas if f.delta_pct is not None)

    chain = Chain.objects.get(pk=CHAIN)
    chain.parameters = {**chain.parameters, "reconciliation": {"delta_threshold_pct": 50}}
    chain.save()
    (rerun,) = normalize(852, 852)  # inputs unchanged: nothing rewritten, the checks run again
    assert rerun.rows_inserted == 0
    assert not findings(rerun, kind=FindingKind.PERIOD_DELTA)


@pytest.mark.parametrize(
    ("configured", "message"),
    [
        ({"delta_threshold": 5}, "unknown setting(s) delta_threshold"),
        ({"delta_threshold_pct": "ten"}, "expected a number >= 0, got 'ten'"),
        ({"stake_rate_tolerance_pct": -1}, "expected a number >= 0"),
        ("ten", "must be a mapping"),
    ],
)
def test_bad_reconciliation_settings_are_refused_before_anything_is_written(
    staged: None, configured: Any, message: str
) -> None:
    chain = Chain.objects.get(pk=CHAIN)
    chain.parameters = {**chain.parameters, "reconciliation": configured}
    chain.save()
    with pytest.raises(NormalizationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        normalize(850, 850)
    assert not NormalizationRun.objects.exists() and not CanonicalValidatorFees.objects.exists()


# ---- runs, transactions, locks, command ---------------------------------------------------------


def test_a_failure_midway_rolls_the_period_back_and_records_a_failed_run(
    staged: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    real = history.prepare_table

    def failing(ctx: Any, table: Any, counts: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 6:
            raise RuntimeError("disk full")
        return real(ctx, table, counts)

    monkeypatch.setattr(services, "prepare_table", failing)
    (run,) = normalize(850, 850)

    assert run.status == NormalizationStatus.FAILED and "disk full" in (run.error_message or "")
    assert not CanonicalValidatorFees.objects.exists() and not CanonicalStakeReward.objects.exists()
    assert not hasattr(run, "report") or not ReconciliationFinding.objects.exists()
    monkeypatch.setattr(services, "prepare_table", real)
    (retry,) = normalize(850, 850)
    assert retry.status == NormalizationStatus.SUCCESS and retry.validators_unchanged == 0


def test_a_period_locked_by_another_process_is_left_alone(staged: None) -> None:
    plan = normalization_plan(chain_id=CHAIN)
    period = Period.objects.get(chain_id=CHAIN, period_identifier="850")
    other = connections.create_connection("default")  # the lock is per session: another one holds it
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [_lock_id(f"normalize:{CHAIN}:850")])
        run = normalize_period(plan=plan, period=period)
    finally:
        other.close()
    assert run.status == NormalizationStatus.FAILED and "elsewhere" in (run.error_message or "")
    assert not CanonicalValidatorFees.objects.exists()


def test_only_final_periods_are_normalized_and_bad_ranges_are_refused(registry: None) -> None:
    with pytest.raises(NormalizationError, match="ingest them first"):
        normalize(850, 853)
    with pytest.raises(NormalizationError, match="empty range"):
        normalize(853, 850)
    with pytest.raises(NormalizationError, match="unknown chain"):
        normalize_range(chain_id="nope", first=1, last=2)
    with pytest.raises(NormalizationError, match="not validators of the operator"):
        normalize(validator_keys=["Unknown111111111111111111111111111111111111"])


def test_the_normalize_command_prints_each_period_and_its_report(
    staged: None, capsys: pytest.CaptureFixture[str]
) -> None:
    call_command("normalize", "--chain", CHAIN, "--from-period", "850", "--to-period", "851")
    out = capsys.readouterr().out
    assert "period 850: SUCCESS" in out and "period 851: SUCCESS" in out
    assert "reconciliation:" in out and "providers disagree" in out
    with pytest.raises(CommandError, match="must not be after"):
        call_command("normalize", "--chain", CHAIN, "--from-period", "851", "--to-period", "850")
    with pytest.raises(CommandError, match="unknown chain"):
        call_command("normalize", "--chain", "nope", "--from-period", "1", "--to-period", "2")


def test_providers_disabled_or_unmapped_are_not_used(staged: None) -> None:
    Provider.objects.filter(provider_name="solana-rpc").update(is_enabled=False)
    (run,) = normalize(850, 850)
    fees = current(CanonicalValidatorFees)
    assert {f.source_provider.provider_name for f in fees} == {"solanabeach"}
    assert not current(CanonicalStakeReward).exists()
    assert {f.data_type for f in findings(run, kind=FindingKind.MISSING_DATA)} == {"REWARDS"}


# ---- outside a transaction: the writer thread -----------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_a_period_is_written_by_its_own_connection_and_commits_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SOLANABEACH_API_KEY", "demo-key")
    load_registry()
    replay(first=850, last=851)
    real = history.insert_lines
    calls = {"n": 0}

    def fails_on_the_fifth_write(*args: Any) -> int:
        calls["n"] += 1
        if calls["n"] == 5:
            raise RuntimeError("connection lost")
        return real(*args)

    monkeypatch.setattr(history, "insert_lines", fails_on_the_fifth_write)
    (failed,) = normalize(850, 850)

    assert failed.status == NormalizationStatus.FAILED and "connection lost" in (failed.error_message or "")
    assert not CanonicalValidatorFees.objects.exists() and not CanonicalStakeReward.objects.exists()
    assert not ReconciliationFinding.objects.exists()

    monkeypatch.setattr(history, "insert_lines", real)
    runs = normalize(850, 851)

    assert [run.status for run in runs] == [NormalizationStatus.SUCCESS] * 2
    for run, epoch in zip(runs, (850, 851), strict=True):
        earning = sum(1 for v in VALIDATORS for a in WORLD.stake_accounts(v, epoch) if a.earning)
        assert run.rows_inserted == 3 * 4 + earning
        rows = current(CanonicalStakeReward, period__period_identifier=str(epoch))
        assert rows.count() == 3 + earning
    assert current(
        CanonicalValidatorFees, validator_key=ALPHA, period__period_identifier="851"
    ).get().total_fees_native == (WORLD.block_fees(ALPHA, 851))
    assert NormalizationRun.objects.get(pk=runs[0].pk).report.summary


VALIDATOR_REWARDS = "GET /api/v1/validator_rewards"


def partial_ingestion(epoch: str, *, validator: str = ALPHA) -> IngestionRun:
    """A newer ingestion of the epoch that could not fetch one of the validator's items."""
    period = Period.objects.get(chain_id=CHAIN, period_identifier=epoch)
    run = IngestionRun.objects.create(
        chain_id=CHAIN,
        period=period,
        status=IngestionStatus.PARTIAL,
        items_total=21,
        items_succeeded=0,
        items_skipped=20,
        items_failed=1,
        failures=[
            {
                "validator": validator,
                "provider": "jito",
                "data_type": "MEV",
                "kind": "http",
                "endpoint": VALIDATOR_REWARDS,
                "reason": "HTTP 500: upstream",
            }
        ],
        error_message=f"1 of 21 items failed; first: {validator} jito MEV: {VALIDATOR_REWARDS} HTTP 500",
    )
    return completed(run)


def completed(run: IngestionRun) -> IngestionRun:
    run.completed_at = run.started_at
    run.save(update_fields=["completed_at"])
    return run


def test_a_period_whose_ingestion_was_partial_is_normalized_partial_with_the_reason(staged: None) -> None:
    ingestion = partial_ingestion("851")

    first, second = normalize(850, 851)

    assert first.status == NormalizationStatus.SUCCESS and not first.error_message
    assert second.status == NormalizationStatus.PARTIAL
    assert (
        second.error_message == f"input ingestion run {ingestion.pk} was PARTIAL: {ingestion.error_message}"
    )


def test_the_normalize_command_fails_naming_the_partial_periods_and_why(
    staged: None, capsys: pytest.CaptureFixture[str]
) -> None:
    ingestion = partial_ingestion("851")

    with pytest.raises(CommandError) as caught:
        call_command("normalize", "--chain", CHAIN, "--from-period", "850", "--to-period", "851")

    message = str(caught.value)
    assert (
        f"period 851: PARTIAL: input ingestion run {ingestion.pk} was PARTIAL: 1 of 21 items failed"
        in message
    )
    assert "period 850" not in message
    assert "period 851: PARTIAL" in capsys.readouterr().out


def test_a_partial_ingestion_of_other_validators_does_not_make_a_validator_s_normalization_partial(
    staged: None,
) -> None:
    partial_ingestion("851", validator=BETA)

    (run,) = normalize(851, 851, validator_keys=[ALPHA])

    assert run.status == NormalizationStatus.SUCCESS


def test_a_rerun_that_completes_the_ingestion_makes_the_normalization_succeed_again(staged: None) -> None:
    partial_ingestion("851")
    assert normalize(851, 851)[0].status == NormalizationStatus.PARTIAL
    completed(
        IngestionRun.objects.create(
            chain_id=CHAIN,
            period=Period.objects.get(chain_id=CHAIN, period_identifier="851"),
            status=IngestionStatus.SUCCESS,
            items_total=21,
            items_skipped=20,
            items_succeeded=1,
        )
    )

    (run,) = normalize(851, 851)

    assert run.status == NormalizationStatus.SUCCESS


def test_the_admin_list_of_normalization_runs_shows_a_partial_period_and_why(staged: None) -> None:
    from django.test import Client

    from accounts.models import Role
    from tests import factories as f

    ingestion = partial_ingestion("851")
    normalize(850, 851)
    client = Client()
    client.force_login(f.UserFactory(username="ops-normalization", role=Role.OPS, is_staff=True))

    response = client.get("/admin/canonical/normalizationrun/", {"status__exact": "PARTIAL"})

    assert response.status_code == 200
    listing = response.content.decode()
    assert "Why not SUCCESS" in listing
    assert f"input ingestion run {ingestion.pk} was PARTIAL: 1 of 21 items failed" in listing
    assert listing.count('class="field-why_not_success"') == 1  # 851 only; 850 succeeded


def _rows_and_findings() -> dict[str, Any]:
    """Every canonical row's values (not its id or timestamps) and every finding, as written."""
    result: dict[str, Any] = {}
    for model in (CanonicalValidatorFees, CanonicalStakeReward):
        skip = {"id", "created_at", "updated_at", "normalized_at", "superseded_by", "source_payload"}
        names = [f.attname for f in model._meta.concrete_fields if f.name not in skip]
        result[model.__name__] = sorted(map(repr, model.objects.values_list(*names)))
    result["findings"] = sorted(
        ReconciliationFinding.objects.values_list("kind", "severity", "validator_key", "data_type", "message")
    )
    return result


@pytest.mark.django_db(transaction=True)
def test_validators_parsed_by_a_pool_of_processes_give_the_rows_and_findings_of_one_process(
    monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    monkeypatch.setenv("SOLANABEACH_API_KEY", "demo-key")
    load_registry()
    replay(first=850, last=851)
    expected: dict[str, Any] = {}

    class Rollback(Exception):
        pass

    try:
        with transaction.atomic():  # inside a transaction: parsed in this process
            assert [run.status for run in normalize(850, 851)] == [NormalizationStatus.SUCCESS] * 2
            expected = _rows_and_findings()
            raise Rollback
    except Rollback:
        pass
    assert not CanonicalStakeReward.objects.exists() and expected["CanonicalStakeReward"]

    settings.AURORA_NORMALIZATION_PROCESSES = 2
    monkeypatch.setattr(services, "MIN_VALIDATORS_PER_PROCESS", 1)
    pools: list[Any] = []
    real_pool = services.ParsingPool

    def counted(*args: Any, **kwargs: Any) -> Any:
        pools.append(real_pool(*args, **kwargs))
        return pools[-1]

    monkeypatch.setattr(services, "ParsingPool", counted)
    runs = normalize(850, 851)

    assert [run.status for run in runs] == [NormalizationStatus.SUCCESS] * 2
    assert [pool.processes for pool in pools] == [2, 2]  # both periods went through the processes
    assert all("parse (processes)" in run.timings for run in runs)
    assert _rows_and_findings() == expected
    again = normalize(850, 851)
    assert [run.rows_inserted for run in again] == [0, 0]
