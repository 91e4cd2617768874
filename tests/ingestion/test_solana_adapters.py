"""Solana adapters against the simulated cluster: every typed value matches the cluster's own figures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from demo.simulated.solana import SimulatedSolana
from ingestion.models import DataType
from ingestion.providers.base import (
    ChainSettings,
    PeriodInfo,
    ProviderAdapter,
    ProviderSettings,
    ValidatorRef,
)
from ingestion.providers.errors import ProviderBadResponse, ProviderError
from ingestion.providers.http import reset_provider_state
from ingestion.providers.registry import TransportMode, build_adapter

WORLD = SimulatedSolana()
CHAIN = ChainSettings(chain_id="solana-mainnet", finality_lag=1, parameters={"slots_per_epoch": 432_000})
SETTINGS = {
    "solana-rpc": ProviderSettings(
        name="solana-rpc",
        adapter="solana.rpc",
        base_url="https://api.mainnet-beta.solana.com",
        options={"archival_batch_size": 10, "inflation_reward_addresses": 100},
    ),
    "jito": ProviderSettings(
        name="jito", adapter="solana.jito", base_url="https://kobe.mainnet.jito.network"
    ),
    "stakewiz": ProviderSettings(
        name="stakewiz", adapter="solana.stakewiz", base_url="https://api.stakewiz.com"
    ),
    "solanabeach": ProviderSettings(
        name="solanabeach",
        adapter="solana.solanabeach",
        base_url="https://api.solanabeach.io/v1",
        api_key_env="SOLANABEACH_API_KEY",
        options={"api_key_required": True},
    ),
}
ALPHA, BETA, GAMMA = (v.vote_pubkey for v in WORLD.validators)


@pytest.fixture(autouse=True)
def _fresh_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SOLANABEACH_API_KEY", WORLD.solanabeach_api_key)
    reset_provider_state()
    yield
    reset_provider_state()


def adapter(name: str, world: SimulatedSolana = WORLD, handler: Any = None) -> ProviderAdapter:
    transport = httpx.MockTransport(handler or world.handler(name))
    return build_adapter(CHAIN, SETTINGS[name], transport=transport, sleep=lambda _s: None)


def period(epoch: int) -> PeriodInfo:
    return adapter("solana-rpc").list_periods(epoch, epoch).value[0]


def ref(vote: str) -> ValidatorRef:
    return ValidatorRef(vote, WORLD.validator(vote).node_pubkey)


def test_periods_have_the_epoch_s_slots_and_the_times_of_its_first_and_next_first_block() -> None:
    periods = adapter("solana-rpc").list_periods(852, 854).value
    assert [(p.identifier, p.is_final) for p in periods] == [("852", True), ("853", True), ("854", False)]
    p852, p853, _ = periods
    assert (p852.first_index, p852.last_index) == (852 * 432_000, 853 * 432_000 - 1)
    assert p852.end == p853.start
    assert 47 * 3600 < (p852.end - p852.start).total_seconds() < 49 * 3600  # 432,000 slots of ~400 ms


@pytest.mark.parametrize("vote", [ALPHA, BETA, GAMMA])
def test_rpc_fees_are_the_fee_rewards_of_the_validator_s_produced_leader_slots(vote: str) -> None:
    fees = adapter("solana-rpc").fetch_fees(period(851), ref(vote)).value
    assert fees.total_fees == WORLD.block_fees(vote, 851)
    assert fees.blocks_scheduled == len(WORLD.leader_slots(vote, 851))
    assert fees.blocks_produced == len(WORLD.produced_slots(vote, 851))
    skipped = [block for block in fees.blocks if not block.produced]
    assert {b.index for b in skipped} == set(WORLD.skipped_slots(vote, 851))
    assert all(b.amount == 0 and b.reason == "skipped" for b in skipped)


def test_rpc_fees_find_the_node_identity_when_it_is_not_registered() -> None:
    fetched = adapter("solana-rpc").fetch_fees(period(851), ValidatorRef(ALPHA))
    assert fetched.value.total_fees == WORLD.block_fees(ALPHA, 851)
    assert fetched.exchanges[0].request_key == "node-identity"


@pytest.mark.parametrize("vote", [ALPHA, BETA, GAMMA])
def test_rpc_stake_rewards_list_every_delegated_account_with_its_net_reward_and_commission(vote: str) -> None:
    rewards = adapter("solana-rpc").fetch_stake_rewards(period(852), ref(vote)).value
    truth = {account.pubkey: account for account in WORLD.stake_accounts(vote, 852)}
    assert rewards.vote_reward == WORLD.vote_reward(vote, 852)
    assert rewards.vote_commission_pct == WORLD.commission(vote, 852)
    assert {a.stake_account for a in rewards.stake_accounts} == set(truth)
    for account in rewards.stake_accounts:
        expected = truth[account.stake_account]
        assert (account.staker, account.withdrawer) == (expected.staker, expected.withdrawer)
        if expected.earning:
            assert (account.reward, account.commission_pct) == (expected.reward_net, expected.commission)
        else:
            assert account.reward is None
    # The vote account's reward is the exact total commission taken from the stakers' gross rewards.
    assert rewards.vote_reward == sum(a.reward_commission for a in truth.values())


def test_commission_in_force_is_the_one_paid_with_the_epoch_s_rewards_not_today_s() -> None:
    rpc = adapter("solana-rpc")
    before = rpc.fetch_meta(period(851), ref(BETA)).value
    after = rpc.fetch_meta(period(852), ref(BETA)).value
    assert (before.commission_bps, after.commission_bps) == (700, 800)


def test_jito_mev_is_the_tips_with_the_validator_s_share_at_its_mev_commission() -> None:
    jito = adapter("jito")
    mev = jito.fetch_mev(period(850), ref(ALPHA)).value
    validator = WORLD.validator(ALPHA)
    assert mev.total_tips == WORLD.mev_revenue(ALPHA, 850) > 0
    assert mev.commission_bps == validator.mev_commission_bps
    assert mev.tip_count == 0  # Kobe reports one amount per epoch
    not_on_jito = jito.fetch_mev(period(850), ref(GAMMA)).value
    assert (not_on_jito.total_tips, not_on_jito.running_mev_client) == (0, False)


def test_stakewiz_sol_floats_become_lamports_for_metadata_only() -> None:
    meta = adapter("stakewiz").fetch_meta(period(853), ref(ALPHA)).value
    lamports = WORLD.active_stake(ALPHA, WORLD.current_epoch)
    assert meta.active_stake is not None and abs(meta.active_stake - lamports) < 10**6  # float precision
    assert meta.commission_bps == WORLD.commission(ALPHA, WORLD.current_epoch) * 100


def test_solana_beach_fees_match_the_block_scan_and_need_the_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    fees = adapter("solanabeach").fetch_fees(period(852), ref(BETA)).value
    assert fees.total_fees == WORLD.block_fees(BETA, 852)
    monkeypatch.delenv("SOLANABEACH_API_KEY")
    with pytest.raises(ProviderError, match="SOLANABEACH_API_KEY is not set"):
        adapter("solanabeach")


def test_a_node_that_forgot_an_old_leader_schedule_is_a_clear_error() -> None:
    forgetful = SimulatedSolana(leader_schedule_history=1)
    rpc = adapter("solana-rpc", forgetful)
    with pytest.raises(ProviderError, match="no longer knows the leader schedule of epoch 850"):
        rpc.fetch_fees(rpc.list_periods(850, 850).value[0], ref(ALPHA))


def test_a_reward_for_another_epoch_is_refused() -> None:
    inner = WORLD.handler("solana-rpc")

    def shifted(request: httpx.Request) -> httpx.Response:
        response = inner(request)
        text = response.read().decode()
        return httpx.Response(response.status_code, content=text.replace('"epoch":852', '"epoch":851'))

    with pytest.raises(ProviderBadResponse, match="reward for epoch 851 where 852 was asked"):
        adapter("solana-rpc", handler=shifted).fetch_stake_rewards(period(852), ref(ALPHA))


def test_parsing_staged_exchanges_again_gives_the_same_values_in_any_order() -> None:
    rpc = adapter("solana-rpc")
    info = period(853)
    for data_type in (DataType.FEES, DataType.REWARDS, DataType.META):
        fetched = rpc.fetch(data_type, info, ref(GAMMA))
        assert rpc.parse(data_type, list(reversed(fetched.exchanges)), info, ref(GAMMA)) == fetched.value


def test_recorded_then_replayed_responses_give_the_same_values(tmp_path: Path) -> None:
    recorder = build_adapter(
        CHAIN,
        SETTINGS["solana-rpc"],
        mode=TransportMode.RECORD,
        recordings=tmp_path,
        transport=WORLD.transport("solana-rpc"),
    )
    info = period(850)
    live = recorder.fetch_stake_rewards(info, ref(ALPHA)).value
    replayer = build_adapter(CHAIN, SETTINGS["solana-rpc"], mode=TransportMode.REPLAY, recordings=tmp_path)
    assert replayer.fetch_stake_rewards(info, ref(ALPHA)).value == live
    assert (tmp_path / "solana-mainnet" / "solana-rpc" / "850" / f"{ALPHA}.jsonl").exists()
