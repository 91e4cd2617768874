"""Ethereum through the orchestrator: the shipped recordings replayed into staging, idempotency,
window identifiers, and the staged payloads parsed back (as normalization will) to the simulated
network's exact amounts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from django.core.management import CommandError, call_command

from chains.models import Chain, Period, Provider
from demo.simulated.ethereum import FLASHBOTS, SimulatedEthereum
from ingestion.models import DataType, IngestionRun, IngestionStatus, StagingPayload
from ingestion.providers.base import ChainSettings, Exchange, PeriodInfo, ProviderSettings, ValidatorRef
from ingestion.providers.ethereum.values import MISSED, RELAY_DELIVERED
from ingestion.providers.http import reset_provider_state
from ingestion.providers.registry import build_parser
from ingestion.services import IngestOptions, ingest_range
from tests.ethereum_demo import BY_NAME, CHAIN, PERIOD_LENGTH, PERIODS, VALIDATORS, load_registry, replay
from tests.solana_demo import delete_runs, delete_staged

WORLD = SimulatedEthereum()
PROVIDERS = ("beacon-api", "ethereum-execution-rpc", "mev-relays")
# Per validator and window: FEES (execution RPC), MEV (relays), REWARDS and META (Beacon API).
ITEMS_PER_VALIDATOR = 4
ALPHA, BETA, GAMMA, DELTA = (BY_NAME[f"Aurora ETH {name}"] for name in ("Alpha", "Beta", "Gamma", "Delta"))


@pytest.fixture(autouse=True)
def _clean_provider_state() -> Iterator[None]:
    reset_provider_state()
    yield
    reset_provider_state()


@pytest.fixture
def ethereum(db: None) -> None:
    load_registry()


def staging_rows() -> set[tuple[Any, ...]]:
    return set(
        StagingPayload.objects.filter(chain_id=CHAIN).values_list(
            "period__period_identifier",
            "validator_key",
            "provider__provider_name",
            "data_type",
            "request_key",
            "response_hash",
        )
    )


def ingest_command(first: int, last: int) -> None:
    call_command(
        "ingest",
        "--chain",
        CHAIN,
        "--from-period",
        str(first),
        "--to-period",
        str(last),
        "--provider",
        "replay",
    )


def parsed(period: str, key: str, provider: str, data_type: DataType) -> Any:
    """The typed value from the staged payloads, the way normalization reads them (bodies only)."""
    chain = Chain.objects.get(pk=CHAIN)
    model = Provider.objects.get(provider_name=provider)
    row = Period.objects.get(chain=chain, period_identifier=period)
    info = PeriodInfo(
        period, row.first_index or 0, row.last_index or 0, row.period_start, row.period_end, True
    )
    exchanges = [
        Exchange(request_key, request, 200, body, fetched, "")
        for request_key, request, body, fetched in StagingPayload.objects.filter(
            period=row, validator_key=key, provider=model, data_type=data_type
        )
        .order_by("-request_key")
        .values_list("request_key", "request", "raw_payload", "fetch_timestamp")
    ]
    assert exchanges, (period, key, provider, data_type)
    parser = build_parser(ChainSettings.from_model(chain), ProviderSettings.from_model(model))
    return parser.parse(data_type, exchanges, info, ValidatorRef(key))


def simulated(
    world: SimulatedEthereum, **handlers: Callable[[httpx.Request], httpx.Response]
) -> IngestOptions:
    """Live mode against the simulated network; `handlers` replace a provider's answers."""
    transports = {
        name: httpx.MockTransport(handlers.get(name.replace("-", "_"), world.handler())) for name in PROVIDERS
    }
    return IngestOptions(transports=transports, sleep=lambda _s: None)


# ---- the replayed recordings ---------------------------------------------------------------------


def test_ingest_command_stages_4_validators_x_2_windows_and_a_second_run_adds_nothing(ethereum: None) -> None:
    ingest_command(*PERIODS)

    runs = list(IngestionRun.objects.filter(chain_id=CHAIN).order_by("period__period_identifier"))
    assert [run.period.period_identifier for run in runs if run.period] == ["395000", "395004"]
    assert {(run.status, run.items_succeeded, run.items_failed) for run in runs} == {
        (IngestionStatus.SUCCESS, 4 * ITEMS_PER_VALIDATOR, 0)
    }
    items = set(
        StagingPayload.objects.values_list(
            "period__period_identifier", "validator_key", "provider__provider_name", "data_type"
        )
    )
    assert len(items) == 2 * 4 * ITEMS_PER_VALIDATOR
    assert {key for _, key, _, _ in items} == set(VALIDATORS)
    assert {(provider, data_type) for _, _, provider, data_type in items} == {
        ("ethereum-execution-rpc", "FEES"),
        ("mev-relays", "MEV"),
        ("beacon-api", "REWARDS"),
        ("beacon-api", "META"),
    }
    first = staging_rows()
    assert len(first) == StagingPayload.objects.count() == sum(run.records_staged for run in runs)

    ingest_command(*PERIODS)

    assert staging_rows() == first
    again = IngestionRun.objects.exclude(pk__in=[run.pk for run in runs])
    assert {(run.status, run.items_skipped, run.records_staged) for run in again} == {
        (IngestionStatus.SUCCESS, 4 * ITEMS_PER_VALIDATOR, 0)
    }


def test_periods_are_windows_of_epochs_named_by_their_first_epoch_with_slot_times(ethereum: None) -> None:
    replay()

    periods = {p.period_identifier: p for p in Period.objects.filter(chain_id=CHAIN)}
    assert sorted(periods) == ["395000", "395004"]
    first, second = periods["395000"], periods["395004"]
    assert (first.first_index, first.last_index, second.first_index, second.last_index) == (
        395_000,
        395_003,
        395_004,
        395_007,
    )
    # genesis 1606824023 + slot 12,640,000 x 12 s
    assert first.period_start == datetime(2025, 9, 22, 1, 20, 23, tzinfo=UTC)
    assert first.period_end == second.period_start
    assert (first.period_end - first.period_start).total_seconds() == PERIOD_LENGTH * 32 * 12
    assert all(p.is_finalized and p.finalized_at for p in periods.values())
    # The replay used the recording's window length; the chain keeps its configured one.
    assert Chain.objects.get(pk=CHAIN).period_length_epochs == 225


def test_a_period_identifier_inside_a_window_is_refused_naming_the_windows(ethereum: None) -> None:
    with pytest.raises(
        CommandError, match=r"395001 is not an Ethereum period.*window 395000.*next one is 395004"
    ):
        ingest_command(395_001, 395_004)
    with pytest.raises(CommandError, match="395006 is not an Ethereum period"):
        ingest_command(395_000, 395_006)
    assert not IngestionRun.objects.exists()
    assert not Period.objects.filter(chain_id=CHAIN).exists()


def test_one_window_can_be_ingested_alone(ethereum: None) -> None:
    runs = replay(first=395_004, last=395_004)
    assert [(run.period.period_identifier, run.status) for run in runs if run.period] == [
        ("395004", IngestionStatus.SUCCESS)
    ]


# ---- the staged payloads parse back to the network's amounts --------------------------------------------


def test_execution_fees_are_the_priority_fees_of_locally_built_blocks_only(ethereum: None) -> None:
    replay()

    alpha = parsed("395000", ALPHA, "ethereum-execution-rpc", DataType.FEES)
    [local] = WORLD.scripted_slot("Aurora ETH Alpha", "local")
    assert [(b.index, b.source, b.produced) for b in alpha.blocks] == [(local, "local", True)]
    assert alpha.total_fees == alpha.blocks[0].amount == WORLD.priority_fees(local) > 0
    assert alpha.blocks[0].fee_recipient == WORLD.by_name["Aurora ETH Alpha"].fee_recipient
    assert alpha.validator_index == 1_204_311

    beta = parsed("395000", BETA, "ethereum-execution-rpc", DataType.FEES)
    assert [(b.source, b.amount, b.reason, b.relays) for b in beta.blocks] == [
        ("relay", 0, RELAY_DELIVERED, ("boost-relay.flashbots.net", "relay.ultrasound.money"))
    ]
    assert (beta.total_fees, beta.blocks_scheduled, beta.blocks_produced) == (0, 1, 1)

    gamma = parsed("395000", GAMMA, "ethereum-execution-rpc", DataType.FEES)
    assert [(b.source, b.amount, b.produced, b.reason) for b in gamma.blocks] == [
        ("missed", 0, False, MISSED)
    ]
    assert (gamma.blocks_scheduled, gamma.blocks_produced) == (1, 0)

    delta = parsed("395000", DELTA, "ethereum-execution-rpc", DataType.FEES)
    assert (delta.total_fees, delta.blocks) == (0, ())


def test_mev_is_the_canonical_relay_deliveries_deduplicated_by_block_hash(ethereum: None) -> None:
    replay()

    beta = parsed("395000", BETA, "mev-relays", DataType.MEV)
    assert (beta.total_tips, beta.commission_bps, beta.tip_count) == (48_213_907_461_253_381, 10_000, 1)
    canonical, orphan = sorted(beta.deliveries, key=lambda d: not d.canonical)
    assert canonical.relays == ("boost-relay.flashbots.net", "relay.ultrasound.money")
    assert (orphan.relays, orphan.canonical, orphan.value) == (("titanrelay.xyz",), False, 47 * 10**15)
    assert orphan.reason == f"not included: the slot's block is {canonical.block_hash}"

    gamma = parsed("395000", GAMMA, "mev-relays", DataType.MEV)
    assert (gamma.total_tips, gamma.running_mev_client) == (0, False)
    assert [(d.relays, d.canonical, d.reason) for d in gamma.deliveries] == [
        (("aestus.live",), False, "not included: the slot has no block")
    ]

    alpha = parsed("395004", ALPHA, "mev-relays", DataType.MEV)
    assert (alpha.total_tips, alpha.commission_bps, alpha.running_mev_client) == (
        31_337_123_456_789_012,
        10_000,
        True,
    )


def test_no_block_is_counted_both_as_fees_and_as_mev(ethereum: None) -> None:
    replay()

    for period in ("395000", "395004"):
        for key in VALIDATORS:
            fees = parsed(period, key, "ethereum-execution-rpc", DataType.FEES)
            mev = parsed(period, key, "mev-relays", DataType.MEV)
            relay_blocks = {b.block_hash for b in fees.blocks if b.source == "relay"}
            local_blocks = {b.block_hash for b in fees.blocks if b.source == "local"}
            assert relay_blocks == {d.block_hash for d in mev.canonical_deliveries}
            assert not local_blocks & relay_blocks
            assert all(b.amount == 0 for b in fees.blocks if b.source != "local")


def test_consensus_rewards_carry_penalties_sync_duties_and_the_withdrawal_address(ethereum: None) -> None:
    replay()

    gamma = parsed("395000", GAMMA, "beacon-api", DataType.REWARDS)
    [penalised] = [a for a in gamma.attestations if a.total < 0]
    assert penalised.epoch == 395_001
    assert (penalised.head, penalised.target < 0, penalised.source < 0) == (0, True, True)
    assert gamma.penalties == -(penalised.target + penalised.source) > 0
    assert gamma.earned - gamma.penalties == gamma.total
    assert [(p.produced, p.total, p.reason) for p in gamma.proposals] == [(False, 0, MISSED)]
    assert gamma.withdrawal_address == WORLD.by_name["Aurora ETH Gamma"].withdrawal_address
    assert gamma.withdrawal_credentials.startswith("0x02")

    delta = parsed("395000", DELTA, "beacon-api", DataType.REWARDS)
    assert delta.in_sync_committee and len(delta.sync_committee) == PERIOD_LENGTH * 32
    missed = [s for s in delta.sync_committee if not s.produced]
    assert [(s.slot, s.reward, s.reason) for s in missed] == [(395_002 * 32 + 6, 0, MISSED)]
    assert [s.slot for s in delta.sync_committee if s.reward < 0] == [395_001 * 32 + 20]
    assert delta.sync_committee_total == sum(
        WORLD.sync_reward(905_116, s.slot) * 10**9 for s in delta.sync_committee if s.produced
    )
    assert delta.withdrawal_address is None  # 0x00 credentials: no execution address yet

    alpha = parsed("395000", ALPHA, "beacon-api", DataType.REWARDS)
    assert not alpha.in_sync_committee and alpha.sync_committee == ()
    [proposal] = alpha.proposals
    attestations, sync_aggregate = WORLD.block_reward(proposal.slot)
    assert (proposal.attestations, proposal.sync_aggregate) == (attestations * 10**9, sync_aggregate * 10**9)


def test_metadata_balances_move_by_exactly_the_window_s_consensus_income(ethereum: None) -> None:
    replay()

    for period in ("395000", "395004"):
        for key in VALIDATORS:
            meta = parsed(period, key, "beacon-api", DataType.META)
            rewards = parsed(period, key, "beacon-api", DataType.REWARDS)
            assert meta.balance_end - meta.balance_start == rewards.total
            assert (meta.validator_index, meta.withdrawal_address) == (
                rewards.validator_index,
                rewards.withdrawal_address,
            )
            assert meta.commission_bps == 0 and meta.status == "active_ongoing"
            assert meta.active_stake == meta.effective_balance == rewards.effective_balance


# ---- live against the simulated network ------------------------------------------------------------


def test_the_recordings_are_what_the_adapters_fetch_from_the_simulated_network_today(ethereum: None) -> None:
    """Fails when the adapters or the simulation change without recording again
    (`manage.py record_ethereum_simulation`)."""
    replay()
    recorded = staging_rows()
    delete_staged(StagingPayload.objects.all())
    delete_runs(IngestionRun.objects.all())
    chain = Chain.objects.get(pk=CHAIN)
    chain.period_length_epochs = PERIOD_LENGTH  # live ingestion uses the chain's own length
    chain.save(update_fields=["period_length_epochs", "updated_at"])

    runs = ingest_range(chain_id=CHAIN, first=PERIODS[0], last=PERIODS[-1], options=simulated(WORLD))

    assert {(run.status, run.items_succeeded) for run in runs} == {(IngestionStatus.SUCCESS, 16)}
    assert staging_rows() == recorded


def test_a_failing_relay_fails_only_the_items_that_need_it_and_a_rerun_completes_them(ethereum: None) -> None:
    chain = Chain.objects.get(pk=CHAIN)
    chain.period_length_epochs = PERIOD_LENGTH
    chain.save(update_fields=["period_length_epochs", "updated_at"])
    healthy = WORLD.handler()

    def flashbots_down(request: httpx.Request) -> httpx.Response:
        if request.url.host == FLASHBOTS:
            return httpx.Response(503, json={"code": 503, "message": "maintenance"})
        return healthy(request)

    [run] = ingest_range(
        chain_id=CHAIN,
        first=395_000,
        last=395_000,
        options=simulated(WORLD, mev_relays=flashbots_down, ethereum_execution_rpc=flashbots_down),
    )
    # Every MEV item asks every relay; FEES items ask relays only about produced blocks (Alpha, Beta).
    failed = {(f["validator"], f["data_type"]) for f in run.failures}
    assert failed == {(key, "MEV") for key in VALIDATORS} | {(ALPHA, "FEES"), (BETA, "FEES")}
    assert {f["provider"] for f in run.failures} == {"mev-relays:boost-relay.flashbots.net"}
    assert (run.status, run.items_succeeded, run.items_failed) == (IngestionStatus.PARTIAL, 10, 6)

    reset_provider_state()
    [rerun] = ingest_range(chain_id=CHAIN, first=395_000, last=395_000, options=simulated(WORLD))
    assert (rerun.status, rerun.items_skipped, rerun.items_succeeded) == (IngestionStatus.SUCCESS, 10, 6)
