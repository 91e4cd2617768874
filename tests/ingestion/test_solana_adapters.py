"""Solana adapters against the simulated cluster: every typed value matches the cluster's own figures."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from demo.simulated.solana import SimulatedSolana
from ingestion.models import DataType
from ingestion.providers.base import (
    ChainSettings,
    Exchange,
    PeriodInfo,
    ProviderAdapter,
    ProviderSettings,
    StakeRewards,
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


# ---- the shapes of the stake listing and of the inflation rewards ----------------------------------

Mutation = Callable[[Any, Any], None]  # (getProgramAccounts result, first getInflationReward result)


def _listing_entry(listing: Any, index: int = 0) -> Any:
    return listing[index]["account"]


def _delegation(listing: Any, index: int = 0) -> Any:
    return _listing_entry(listing, index)["data"]["parsed"]["info"]["stake"]["delegation"]


def _staged_rewards() -> tuple[ProviderAdapter, PeriodInfo, list[Exchange]]:
    rpc = adapter("solana-rpc")
    info = period(852)
    return rpc, info, rpc.fetch_stake_rewards(info, ref(ALPHA)).exchanges


def _reparse(mutate: Mutation) -> StakeRewards:
    """The staged REWARDS exchanges of ALPHA's epoch 852, changed by `mutate`, parsed again."""
    rpc, info, exchanges = _staged_rewards()
    changed = [replace(exchange, body=copy.deepcopy(exchange.body)) for exchange in exchanges]
    listing = next(e for e in changed if e.request_key == "stake-accounts").body["result"]
    rewards = next(e for e in changed if e.request_key == "inflation-rewards#0000").body[0]["result"]
    mutate(listing, rewards)
    value = rpc.parse(DataType.REWARDS, changed, info, ref(ALPHA))
    assert isinstance(value, StakeRewards)
    return value


def _set(where: Callable[[Any, Any], Any], key: str, value: Any) -> Mutation:
    def mutate(listing: Any, rewards: Any) -> None:
        where(listing, rewards)[key] = value

    return mutate


def _listing(listing: Any, _rewards: Any) -> Any:
    return listing[3]


def _account(listing: Any, _rewards: Any) -> Any:
    return _listing_entry(listing, 3)


def _authorized(listing: Any, _rewards: Any) -> Any:
    return _listing_entry(listing, 3)["data"]["parsed"]["info"]["meta"]["authorized"]


def _stake_delegation(listing: Any, _rewards: Any) -> Any:
    return _delegation(listing, 3)


def _reward(_listing: Any, rewards: Any) -> Any:
    return rewards[2]


DELEGATION = "3.account.data.parsed.info.stake.delegation"
BAD_LISTINGS = {
    "u64 text as a JSON number": (_set(_stake_delegation, "stake", 5_000), f"{DELEGATION}.stake"),
    "u64 text with a sign": (
        _set(_stake_delegation, "activationEpoch", "+5"),
        f"{DELEGATION}.activationEpoch",
    ),
    "u64 text with a final newline": (_set(_stake_delegation, "stake", "5\n"), f"{DELEGATION}.stake"),
    "u64 text of 21 digits": (
        _set(_stake_delegation, "deactivationEpoch", "1" * 21),
        f"{DELEGATION}.deactivationEpoch",
    ),
    "u64 text of non-ASCII digits": (_set(_stake_delegation, "stake", "١٢٣"), f"{DELEGATION}.stake"),
    "lamports as a bool": (_set(_account, "lamports", True), "3.account.lamports"),
    "lamports as a float": (_set(_account, "lamports", 5.0), "3.account.lamports"),
    "lamports as text": (_set(_account, "lamports", "5"), "3.account.lamports"),
    "negative lamports": (_set(_account, "lamports", -1), "3.account.lamports"),
    "lamports beyond u64": (_set(_account, "lamports", 2**64), "3.account.lamports"),
    "staker not base58": (
        _set(_authorized, "staker", "0" + "1" * 40),
        "3.account.data.parsed.info.meta.authorized.staker",
    ),
    "staker too short": (
        _set(_authorized, "staker", "1" * 31),
        "3.account.data.parsed.info.meta.authorized.staker",
    ),
    "voter not base58": (_set(_stake_delegation, "voter", "l" * 40), f"{DELEGATION}.voter"),
    "account pubkey too long": (_set(_listing, "pubkey", "1" * 45), "3.pubkey"),
    "another owner": (
        _set(_account, "owner", "Vote111111111111111111111111111111111111111"),
        "3.account.owner",
    ),
    "a missing field": (
        lambda listing, _r: _authorized(listing, _r).pop("withdrawer"),
        "3.account.data.parsed.info.meta.authorized.withdrawer",
    ),
}
BAD_REWARDS = {
    "amount as text": (_set(_reward, "amount", "5"), "2.amount"),
    "amount as a bool": (_set(_reward, "amount", False), "2.amount"),
    "epoch as a float": (_set(_reward, "epoch", 852.0), "2.epoch"),
    "post balance beyond u64": (_set(_reward, "postBalance", 2**64), "2.postBalance"),
    "commission over 100": (_set(_reward, "commission", 101), "2.commission"),
    "commission as a bool": (_set(_reward, "commission", True), "2.commission"),
    "a missing field": (lambda _l, rewards: rewards[2].pop("effectiveSlot"), "2.effectiveSlot"),
}


@pytest.mark.parametrize(("mutate", "where"), BAD_LISTINGS.values(), ids=BAD_LISTINGS.keys())
def test_a_malformed_stake_listing_is_refused_with_the_path_of_the_bad_field(
    mutate: Mutation, where: str
) -> None:
    with pytest.raises(ProviderBadResponse) as raised:
        _reparse(mutate)
    error = raised.value
    assert (error.provider, error.endpoint) == ("solana-rpc", "getProgramAccounts")
    assert error.reason.startswith(f"unexpected response shape at {where}: "), error.reason


@pytest.mark.parametrize(("mutate", "where"), BAD_REWARDS.values(), ids=BAD_REWARDS.keys())
def test_a_malformed_inflation_reward_is_refused_with_the_path_of_the_bad_field(
    mutate: Mutation, where: str
) -> None:
    with pytest.raises(ProviderBadResponse) as raised:
        _reparse(mutate)
    error = raised.value
    assert (error.provider, error.endpoint) == ("solana-rpc", "getInflationReward")
    assert error.reason.startswith(f"unexpected response shape at {where}: "), error.reason


def test_a_listing_that_is_not_a_list_is_refused() -> None:
    rpc, info, exchanges = _staged_rewards()
    listing = next(e for e in exchanges if e.request_key == "stake-accounts")
    changed = [replace(listing, body={**listing.body, "result": None}), *exchanges[1:]]
    with pytest.raises(ProviderBadResponse, match="at body: Input should be a valid list"):
        rpc.parse(DataType.REWARDS, changed, info, ref(ALPHA))


def test_a_delegated_u64_that_overflows_is_refused() -> None:
    with pytest.raises(ProviderBadResponse, match="a u64 field overflows"):
        _reparse(_set(_stake_delegation, "stake", str(2**64)))


def test_a_reward_for_the_wrong_epoch_is_refused_by_its_batch() -> None:
    with pytest.raises(ProviderBadResponse, match="reward for epoch 851 where 852 was asked") as raised:
        _reparse(_set(_reward, "epoch", 851))
    assert raised.value.endpoint == "getInflationReward"


def test_unknown_fields_are_ignored_and_optional_ones_may_be_absent_or_null() -> None:
    rpc, info, exchanges = _staged_rewards()
    expected = rpc.parse(DataType.REWARDS, exchanges, info, ref(ALPHA))

    def extra(listing: Any, rewards: Any) -> None:
        for entry in listing:
            entry["extra"] = {"nested": [1, 2]}
            account = entry["account"]
            account["extra"] = None
            account["data"]["extra"] = 1.5
            account["data"]["parsed"]["extra"] = "x"
            account["data"]["parsed"]["info"]["extra"] = True
            account["data"]["parsed"]["info"]["meta"]["authorized"]["extra"] = "0OIl"
            account["data"]["parsed"]["info"]["stake"]["delegation"]["extra"] = -1
        for reward in rewards:
            if reward is not None:
                reward["extra"] = [None]

    assert _reparse(extra) == expected

    def optional(listing: Any, rewards: Any) -> None:
        del listing[3]["account"]["data"]["parsed"]["info"]["stake"]  # initialized, not delegated
        listing[4]["account"]["data"]["parsed"]["info"]["stake"] = None
        rewards[1].pop("commission")
        rewards[2]["commission"] = None

    changed = _reparse(optional)
    dropped = {_pubkey_at(exchanges, 3), _pubkey_at(exchanges, 4)}
    assert {a.stake_account for a in changed.stake_accounts} == {
        a.stake_account for a in expected.stake_accounts
    } - dropped
    first_two = {a.stake_account for a in expected.stake_accounts[:2]} - dropped  # rewards[1] and [2]
    assert first_two
    assert all(a.commission_pct is None for a in changed.stake_accounts if a.stake_account in first_two)
    before = {a.stake_account: a.commission_pct for a in expected.stake_accounts}
    assert all(
        a.commission_pct == before[a.stake_account]
        for a in changed.stake_accounts
        if a.stake_account not in first_two
    )


def test_a_null_reward_stays_none_and_an_unbounded_deactivation_is_none() -> None:
    _, _, exchanges = _staged_rewards()

    def change(listing: Any, rewards: Any) -> None:
        rewards[1] = None
        _delegation(listing, 3)["deactivationEpoch"] = str(2**64 - 1)
        _delegation(listing, 4)["deactivationEpoch"] = "900"

    changed = {a.stake_account: a for a in _reparse(change).stake_accounts}
    first = next(iter(changed.values()))
    assert (first.reward, first.commission_pct, first.post_balance, first.effective_slot) == (None,) * 4
    assert changed[_pubkey_at(exchanges, 3)].deactivation_epoch is None
    assert changed[_pubkey_at(exchanges, 4)].deactivation_epoch == 900


def _pubkey_at(exchanges: list[Exchange], index: int) -> str:
    listing = next(e for e in exchanges if e.request_key == "stake-accounts").body["result"]
    return str(listing[index]["pubkey"])
