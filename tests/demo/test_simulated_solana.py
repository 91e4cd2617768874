"""The simulated Solana cluster: determinism, internal consistency and the providers' answer shapes.

Plain httpx clients on the simulator's MockTransports; no database.
"""

from __future__ import annotations

import base64
import struct
import time
from collections import Counter
from typing import Any

import httpx
import pytest

from demo.simulated.base58 import b58decode, b58encode
from demo.simulated.solana import (
    RENT_EXEMPT_RESERVE,
    SLOTS_PER_EPOCH,
    STAKE_PROGRAM_ID,
    SimulatedSolana,
    SimulatedValidator,
)

BLOCK_CONFIG = {
    "encoding": "json",
    "transactionDetails": "none",
    "rewards": True,
    "maxSupportedTransactionVersion": 0,
    "commitment": "finalized",
}
EPOCHS = range(850, 854)


@pytest.fixture(scope="module")
def sim() -> SimulatedSolana:
    return SimulatedSolana()


def client(sim: SimulatedSolana, provider: str, **kwargs: Any) -> httpx.Client:
    base = {
        "solana-rpc": "https://api.mainnet-beta.solana.com",
        "jito": "https://kobe.mainnet.jito.network",
        "stakewiz": "https://api.stakewiz.com",
        "solanabeach": "https://api.solanabeach.io/v1",
    }[provider]
    return httpx.Client(transport=sim.transport(provider), base_url=base, **kwargs)


def rpc(sim: SimulatedSolana, method: str, params: list[Any]) -> dict[str, Any]:
    with client(sim, "solana-rpc") as http:
        response = http.post("/", json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    assert body["jsonrpc"] == "2.0"
    assert body["id"] == 1
    assert ("result" in body) != ("error" in body)
    return body


def result(sim: SimulatedSolana, method: str, params: list[Any]) -> Any:
    body = rpc(sim, method, params)
    assert "error" not in body, body
    return body["result"]


def program_accounts(sim: SimulatedSolana, vote: str, **config: Any) -> list[dict[str, Any]]:
    params = {
        "encoding": "jsonParsed",
        "commitment": "finalized",
        "filters": [{"dataSize": 200}, {"memcmp": {"offset": 124, "bytes": vote}}],
        **config,
    }
    accounts: list[dict[str, Any]] = result(sim, "getProgramAccounts", [STAKE_PROGRAM_ID, params])
    return accounts


def inflation_rewards(sim: SimulatedSolana, addresses: list[str], epoch: int) -> list[Any]:
    rewards: list[Any] = result(
        sim, "getInflationReward", [addresses, {"epoch": epoch, "commitment": "finalized"}]
    )
    return rewards


# ---- determinism ----------------------------------------------------------------------------------


def _transcript(sim: SimulatedSolana) -> list[bytes]:
    vote, node = sim.validators[1].vote_pubkey, sim.validators[1].node_pubkey
    slot = sim.leader_slots(vote, 851)[0]
    batch = [
        {"jsonrpc": "2.0", "id": 0, "method": "getEpochInfo", "params": [{"commitment": "finalized"}]},
        {"jsonrpc": "2.0", "id": 1, "method": "getVoteAccounts", "params": [{"votePubkey": vote}]},
        {"jsonrpc": "2.0", "id": 2, "method": "getBlock", "params": [slot, BLOCK_CONFIG]},
        {"jsonrpc": "2.0", "id": 3, "method": "getLeaderSchedule", "params": [slot, {"identity": node}]},
    ]
    stake_filter = {
        "encoding": "jsonParsed",
        "filters": [{"dataSize": 200}, {"memcmp": {"offset": 124, "bytes": vote}}],
    }
    with client(sim, "solana-rpc") as http:
        bodies = [
            http.post("/", json=batch).content,
            http.post(
                "/",
                json={
                    "jsonrpc": "2.0",
                    "id": 9,
                    "method": "getProgramAccounts",
                    "params": [STAKE_PROGRAM_ID, stake_filter],
                },
            ).content,
        ]
    with client(sim, "jito") as http:
        bodies.append(
            http.get("/api/v1/validator_rewards", params={"vote_account": vote, "epoch": 852}).content
        )
    with client(sim, "stakewiz") as http:
        bodies.append(http.get(f"/validator/{vote}").content)
    with client(sim, "solanabeach", headers={"Authorization": "Bearer demo-key"}) as http:
        bodies.append(http.get(f"/validator/{node}/block-rewards-history", params={"limit": 100}).content)
    return bodies


def test_two_instances_answer_byte_for_byte_the_same() -> None:
    first, second = SimulatedSolana(), SimulatedSolana()
    assert first.validators == second.validators
    assert _transcript(first) == _transcript(second)
    other = SimulatedSolana(seed=8)
    assert other.validators[0].vote_pubkey != first.validators[0].vote_pubkey


def test_demo_world_shape(sim: SimulatedSolana) -> None:
    assert [v.stake_account_count for v in sim.validators] == [90, 140, 200]
    assert [v.mev_commission_bps for v in sim.validators] == [800, 1000, 500]
    assert [v.runs_jito for v in sim.validators].count(False) == 1
    beta = sim.validators[1].vote_pubkey
    assert [sim.commission(beta, e) for e in EPOCHS] == [7, 7, 8, 8]
    assert sim.current_epoch == 854
    for validator, sol in zip(sim.validators, (150_000, 250_000, 400_000), strict=True):
        pubkeys = (validator.vote_pubkey, validator.node_pubkey)
        assert all(43 <= len(key) <= 44 and len(b58decode(key)) == 32 for key in pubkeys)
        total = sum(account.stake for account in sim.stake_accounts(validator.vote_pubkey, 850))
        assert abs(total - sol * 10**9) < sol * 10**9 // 100


def test_base58_round_trip() -> None:
    assert b58encode(bytes(32)) == "1" * 32
    assert len(b58decode(STAKE_PROGRAM_ID)) == 32
    for data in (b"", b"\0", b"\0\0abc", bytes(range(64)), bytes([255]) * 32):
        assert b58decode(b58encode(data)) == data
    with pytest.raises(ValueError, match="base58"):
        b58decode("0OIl")


# ---- inflation rewards ----------------------------------------------------------------------------


@pytest.mark.parametrize("epoch", list(EPOCHS))
def test_vote_reward_is_the_sum_of_commission_parts(sim: SimulatedSolana, epoch: int) -> None:
    for validator in sim.validators:
        accounts = sim.stake_accounts(validator.vote_pubkey, epoch)
        earning = [a for a in accounts if a.earning]
        vote_reward = sim.vote_reward(validator.vote_pubkey, epoch)
        assert vote_reward == sum(a.reward_commission for a in accounts) > 0
        gross = sum(a.reward_gross for a in accounts)
        lost = gross - sum(a.reward_net for a in accounts) - vote_reward
        assert 0 <= lost <= len(earning)
        for account in earning:
            assert account.reward_commission == account.reward_gross * account.commission // 100
            assert account.reward_net == account.reward_gross * (100 - account.commission) // 100

        addresses = [validator.vote_pubkey, *(a.pubkey for a in accounts), "11111111111111111111111111111111"]
        rewards = inflation_rewards(sim, addresses, epoch)
        assert len(rewards) == len(addresses)
        assert rewards[-1] is None
        assert rewards[0] == {
            "epoch": epoch,
            "effectiveSlot": (epoch + 1) * SLOTS_PER_EPOCH,
            "amount": vote_reward,
            "postBalance": rewards[0]["postBalance"],
            "commission": validator.commission(epoch),
        }
        for account, reward in zip(accounts, rewards[1:-1], strict=True):
            if not account.earning:
                assert reward is None
                continue
            assert reward["amount"] == account.reward_net
            assert reward["commission"] == validator.commission(epoch)
            assert reward["postBalance"] == account.lamports + account.reward_net == account.post_balance
            assert (epoch + 1) * SLOTS_PER_EPOCH < reward["effectiveSlot"] == account.effective_slot
            assert reward["effectiveSlot"] < (epoch + 1) * SLOTS_PER_EPOCH + SLOTS_PER_EPOCH // 10


def test_rewards_of_an_unfinished_epoch_are_an_error(sim: SimulatedSolana) -> None:
    vote = sim.validators[0].vote_pubkey
    body = rpc(sim, "getInflationReward", [[vote], {"epoch": sim.current_epoch}])
    assert body["error"] == {
        "code": -32004,
        "message": f"Block not available for slot {855 * SLOTS_PER_EPOCH}",
    }
    # without an epoch, the previous one
    assert result(sim, "getInflationReward", [[vote]])[0]["epoch"] == sim.current_epoch - 1


@pytest.mark.parametrize("epoch", list(EPOCHS))
def test_stake_compounds_into_the_next_epoch(sim: SimulatedSolana, epoch: int) -> None:
    later = sim.at_epoch(epoch + 1)
    for validator in sim.validators:
        before = {a.pubkey: a for a in sim.stake_accounts(validator.vote_pubkey, epoch)}
        listed = program_accounts(later, validator.vote_pubkey)
        assert {entry["pubkey"] for entry in listed} >= set(before)
        for entry in listed:
            delegation = entry["account"]["data"]["parsed"]["info"]["stake"]["delegation"]
            account = before.get(entry["pubkey"])
            if account is None:  # delegated during epoch + 1
                assert delegation["activationEpoch"] == str(epoch + 1)
                continue
            assert int(delegation["stake"]) == account.stake + account.reward_net
            if account.earning:
                assert entry["account"]["lamports"] == account.post_balance


def test_program_accounts_shape_and_life_cycle(sim: SimulatedSolana) -> None:
    first = sim.first_epoch
    for validator in sim.validators:
        listed = program_accounts(sim, validator.vote_pubkey)
        assert len(listed) == validator.stake_account_count
        entry = listed[0]
        assert set(entry) == {"pubkey", "account"}
        account = entry["account"]
        assert account["owner"] == STAKE_PROGRAM_ID
        assert account["executable"] is False
        assert account["rentEpoch"] == 2**64 - 1
        assert account["space"] == 200
        assert account["data"]["program"] == "stake"
        assert account["data"]["space"] == 200
        assert account["data"]["parsed"]["type"] == "delegated"
        info = account["data"]["parsed"]["info"]
        assert info["meta"]["rentExemptReserve"] == str(RENT_EXEMPT_RESERVE)
        assert info["meta"]["lockup"] == {
            "custodian": "11111111111111111111111111111111",
            "epoch": 0,
            "unixTimestamp": 0,
        }
        delegations = [e["account"]["data"]["parsed"]["info"]["stake"]["delegation"] for e in listed]
        assert all(
            d["voter"] == validator.vote_pubkey and d["warmupCooldownRate"] == 0.25 for d in delegations
        )
        assert all(isinstance(d[k], str) for d in delegations for k in ("stake", "activationEpoch"))
        assert all(int(d["stake"]) >= 10**9 for d in delegations)

        deactivated = [
            e["pubkey"]
            for e, d in zip(listed, delegations, strict=True)
            if d["deactivationEpoch"] == str(first + 2)
        ]
        activated = [
            e["pubkey"]
            for e, d in zip(listed, delegations, strict=True)
            if d["activationEpoch"] == str(first + 1)
        ]
        assert deactivated
        assert activated
        assert sum(d["deactivationEpoch"] == "18446744073709551615" for d in delegations) == len(
            listed
        ) - len(deactivated)
        for epoch in EPOCHS:
            rewards = dict(
                zip(
                    deactivated + activated,
                    inflation_rewards(sim, deactivated + activated, epoch),
                    strict=True,
                )
            )
            assert all((rewards[key] is None) == (epoch >= first + 2) for key in deactivated)
            assert all((rewards[key] is None) == (epoch <= first + 1) for key in activated)
        # before the deactivation, the account is listed as not deactivating
        early = program_accounts(sim.at_epoch(first + 1), validator.vote_pubkey)
        early_delegations = {
            e["pubkey"]: e["account"]["data"]["parsed"]["info"]["stake"]["delegation"] for e in early
        }
        assert all(
            early_delegations[key]["deactivationEpoch"] == "18446744073709551615" for key in deactivated
        )
        assert len(program_accounts(sim.at_epoch(first), validator.vote_pubkey)) == len(listed) - len(
            activated
        )


def test_authorities(sim: SimulatedSolana) -> None:
    withdrawers: Counter[str] = Counter()
    for validator in sim.validators:
        accounts = sim.stake_accounts(validator.vote_pubkey, sim.current_epoch)
        operator = [a for a in accounts if a.withdrawer == sim.operator_withdraw_authority]
        assert len(operator) == 2
        assert sum(a.staker == a.withdrawer for a in accounts) > len(accounts) * 3 // 4
        withdrawers.update(a.withdrawer for a in accounts)
    total = sum(withdrawers.values())
    shared = sum(
        count for key, count in withdrawers.items() if count > 1 and key != sim.operator_withdraw_authority
    )
    assert total * 15 // 100 < shared < total * 45 // 100
    # memcmp on the withdrawer (offset 44) finds the operator's six accounts
    found = result(
        sim,
        "getProgramAccounts",
        [
            STAKE_PROGRAM_ID,
            {
                "encoding": "base64",
                "filters": [{"memcmp": {"offset": 44, "bytes": sim.operator_withdraw_authority}}],
            },
        ],
    )
    assert len(found) == 6


def test_program_accounts_in_base64_match_the_parsed_form(sim: SimulatedSolana) -> None:
    vote = sim.validators[0].vote_pubkey
    parsed = {e["pubkey"]: e for e in program_accounts(sim, vote)}
    binary = program_accounts(sim, vote, encoding="base64")
    assert len(binary) == len(parsed)
    for entry in binary:
        data, encoding = entry["account"]["data"]
        assert encoding == "base64"
        raw = base64.b64decode(data)
        assert len(raw) == 200
        info = parsed[entry["pubkey"]]["account"]["data"]["parsed"]["info"]
        assert struct.unpack_from("<I", raw, 0)[0] == 2
        assert b58encode(raw[12:44]) == info["meta"]["authorized"]["staker"]
        assert b58encode(raw[44:76]) == info["meta"]["authorized"]["withdrawer"]
        assert b58encode(raw[124:156]) == vote
        stake, activation, deactivation = struct.unpack_from("<QQQ", raw, 156)
        delegation = info["stake"]["delegation"]
        assert [str(stake), str(activation), str(deactivation)] == [
            delegation["stake"],
            delegation["activationEpoch"],
            delegation["deactivationEpoch"],
        ]
    # a filter the simulator cannot shortcut gives the same entries as the cached voter answer
    tag = {
        "memcmp": {
            "offset": 0,
            "bytes": base64.b64encode(struct.pack("<I", 2)).decode(),
            "encoding": "base64",
        }
    }
    generic = program_accounts(sim, vote, filters=[tag, {"memcmp": {"offset": 124, "bytes": vote}}])
    assert generic == list(parsed.values())
    context = result(
        sim,
        "getProgramAccounts",
        [
            STAKE_PROGRAM_ID,
            {
                "encoding": "jsonParsed",
                "withContext": True,
                "filters": [{"memcmp": {"offset": 124, "bytes": vote}}],
            },
        ],
    )
    assert context["context"]["slot"] == sim.finalized_slot
    assert context["value"] == generic
    body = rpc(sim, "getProgramAccounts", [STAKE_PROGRAM_ID, {"filters": [{"dataSize": 200}]}])
    assert body["error"]["code"] == -32600  # 200 bytes are too many for base58


# ---- vote accounts, epochs ------------------------------------------------------------------------


def test_vote_accounts_and_epoch_info(sim: SimulatedSolana) -> None:
    validator = sim.validators[1]
    accounts = result(
        sim, "getVoteAccounts", [{"votePubkey": validator.vote_pubkey, "commitment": "finalized"}]
    )
    assert accounts["delinquent"] == []
    (account,) = accounts["current"]
    assert account["votePubkey"] == validator.vote_pubkey
    assert account["nodePubkey"] == validator.node_pubkey
    assert account["commission"] == 8
    assert account["activatedStake"] == sim.active_stake(validator.vote_pubkey, sim.current_epoch)
    assert account["epochVoteAccount"] is True
    assert [entry[0] for entry in account["epochCredits"]] == list(range(850, 855))
    assert all(entry[2] <= entry[1] for entry in account["epochCredits"])
    everyone = result(sim, "getVoteAccounts", [])
    assert len(everyone["current"]) > len(sim.validators)

    info = result(sim, "getEpochInfo", [{"commitment": "finalized"}])
    assert info["epoch"] == sim.current_epoch
    assert info["absoluteSlot"] == sim.finalized_slot == result(sim, "getSlot", [{"commitment": "finalized"}])
    assert info["slotIndex"] > SLOTS_PER_EPOCH // 10
    assert info["absoluteSlot"] - info["slotIndex"] == sim.current_epoch * SLOTS_PER_EPOCH
    assert result(sim, "getSlot", [{"commitment": "confirmed"}]) > sim.finalized_slot
    assert result(sim, "getEpochSchedule", []) == {
        "firstNormalEpoch": 0,
        "firstNormalSlot": 0,
        "leaderScheduleSlotOffset": 432000,
        "slotsPerEpoch": 432000,
        "warmup": False,
    }
    first = result(sim, "getBlocksWithLimit", [851 * SLOTS_PER_EPOCH, 1, {"commitment": "finalized"}])
    assert first == [851 * SLOTS_PER_EPOCH]
    assert (
        result(sim, "getBlockTime", first) - result(sim, "getBlockTime", [850 * SLOTS_PER_EPOCH]) == 172_800
    )


# ---- leader schedule and block fees ---------------------------------------------------------------


def test_leader_schedule_and_blocks_add_up_to_block_fees(sim: SimulatedSolana) -> None:
    validator = sim.validators[0]
    node = validator.node_pubkey
    for epoch in EPOCHS:
        base = epoch * SLOTS_PER_EPOCH
        schedule = result(sim, "getLeaderSchedule", [base + 5, {"identity": node, "commitment": "finalized"}])
        indices = schedule[node]
        assert [base + i for i in indices] == sim.leader_slots(validator.vote_pubkey, epoch)
        assert len(indices) % 4 == 0
        assert all(
            indices[i] % 4 == 0 and indices[i + 3] == indices[i] + 3 for i in range(0, len(indices), 4)
        )
        batch = [
            {"jsonrpc": "2.0", "id": i, "method": "getBlock", "params": [base + index, BLOCK_CONFIG]}
            for i, index in enumerate(indices)
        ]
        with client(sim, "solana-rpc") as http:
            answers = {answer["id"]: answer for answer in http.post("/", json=batch).json()}
        fees, skipped = 0, []
        for i, index in enumerate(indices):
            answer = answers[i]
            if "error" in answer:
                assert answer["error"] == {
                    "code": -32009,
                    "message": f"Slot {base + index} was skipped, or missing in long-term storage",
                }
                skipped.append(base + index)
                continue
            block = answer["result"]
            assert set(block) == {
                "blockHeight",
                "blockTime",
                "blockhash",
                "parentSlot",
                "previousBlockhash",
                "rewards",
            }
            (reward,) = [r for r in block["rewards"] if r["rewardType"] == "Fee"]
            assert reward["pubkey"] == node
            assert reward["commission"] is None
            assert 2_500 * 1_500 + 2_000_000 <= reward["lamports"] <= 2_500 * 3_500 + 50_000_000
            fees += reward["lamports"]
        assert fees == sim.block_fees(validator.vote_pubkey, epoch)
        assert skipped == sim.skipped_slots(validator.vote_pubkey, epoch)
        assert len(skipped) < len(indices) // 10


def test_leader_schedules_do_not_overlap(sim: SimulatedSolana) -> None:
    slots = [slot for v in sim.validators for slot in sim.leader_slots(v.vote_pubkey, 852)]
    assert len(slots) == len(set(slots))
    # about stake / 400M SOL of the epoch
    assert 130 <= len(sim.leader_slots(sim.validators[0].vote_pubkey, 852)) <= 200


def test_other_slots_belong_to_other_validators(sim: SimulatedSolana) -> None:
    ours = {v.node_pubkey for v in sim.validators}
    slot = 852 * SLOTS_PER_EPOCH + 100_001
    while any(slot in sim.leader_slots(v.vote_pubkey, 852) for v in sim.validators):
        slot += 4
    block = result(sim, "getBlock", [slot, BLOCK_CONFIG])
    assert block["rewards"][0]["pubkey"] not in ours
    assert block["parentSlot"] < slot
    # an epoch's first block carries the previous epoch's vote rewards
    first = result(sim, "getBlock", [852 * SLOTS_PER_EPOCH, BLOCK_CONFIG])
    voting = {r["pubkey"]: r["lamports"] for r in first["rewards"] if r["rewardType"] == "Voting"}
    assert voting == {v.vote_pubkey: sim.vote_reward(v.vote_pubkey, 851) for v in sim.validators}


def test_old_leader_schedules_are_forgotten(sim: SimulatedSolana) -> None:
    short = SimulatedSolana(leader_schedule_history=2)
    node = short.validators[0].node_pubkey
    assert result(short, "getLeaderSchedule", [851 * SLOTS_PER_EPOCH, {"identity": node}]) is None
    assert result(short, "getLeaderSchedule", [852 * SLOTS_PER_EPOCH, {"identity": node}])
    assert result(short, "getLeaderSchedule", [None, {"identity": "11111111111111111111111111111111"}]) == {}


def test_solana_beach_fees_match_block_fees(sim: SimulatedSolana) -> None:
    validator = sim.validators[2]
    with client(sim, "solanabeach", headers={"Authorization": "Bearer demo-key"}) as http:
        meta = http.get(f"/validator/{validator.vote_pubkey}").json()
        history = http.get(
            f"/validator/{validator.node_pubkey}/block-rewards-history", params={"offset": 0, "limit": 100}
        ).json()
        page = http.get(
            f"/validator/{validator.node_pubkey}/block-rewards-history", params={"offset": 2, "limit": 2}
        ).json()
    assert meta["nodePubkey"] == validator.node_pubkey
    assert meta["commission"] == 10
    assert [entry["epoch"] for entry in history["history"]] == list(range(853, 846, -1))
    assert history["pagination"] == {"total": 7, "offset": 0, "limit": 100}
    for entry in history["history"]:
        assert entry["fees"] == sim.block_fees(validator.vote_pubkey, entry["epoch"])
        assert entry["blocks"] == len(sim.produced_slots(validator.vote_pubkey, entry["epoch"]))
    assert page["history"] == history["history"][2:4]


# ---- Jito and Stakewiz ----------------------------------------------------------------------------


def test_jito_validator_rewards_match_mev_revenue(sim: SimulatedSolana) -> None:
    with client(sim, "jito") as http:
        for validator in sim.validators:
            for epoch in EPOCHS:
                body = http.get(
                    "/api/v1/validator_rewards",
                    params={"vote_account": validator.vote_pubkey, "epoch": epoch},
                ).json()
                if not validator.runs_jito:
                    assert body == {"rewards": [], "total_count": 0}
                    assert sim.mev_revenue(validator.vote_pubkey, epoch) == 0
                    continue
                (row,) = body["rewards"]
                assert body["total_count"] == 1
                assert row["vote_account"] == validator.vote_pubkey
                assert row["epoch"] == epoch
                assert row["mev_revenue"] == sim.mev_revenue(validator.vote_pubkey, epoch)
                produced = len(sim.produced_slots(validator.vote_pubkey, epoch))
                assert 2_000_000 * produced <= row["mev_revenue"] <= 20_000_000 * produced
                assert row["mev_commission"] == validator.mev_commission_bps
                assert row["num_stakers"] == sum(
                    a.earning for a in sim.stake_accounts(validator.vote_pubkey, epoch)
                )
            current = http.get(
                "/api/v1/validator_rewards", params={"vote_account": validator.vote_pubkey, "epoch": 854}
            ).json()
            assert current == {"rewards": [], "total_count": 0}
        jito = sim.validators[0]
        history = http.get(f"/api/v1/validators/{jito.vote_pubkey}").json()
        assert history[0] == {
            "epoch": 854,
            "mev_commission_bps": 800,
            "mev_rewards": 0,
            "priority_fee_commission_bps": None,
            "priority_fee_rewards": None,
        }
        assert [row["mev_rewards"] for row in history[1:5]] == [
            sim.mev_revenue(jito.vote_pubkey, e) for e in (853, 852, 851, 850)
        ]
        listing = http.post("/api/v1/validators", json={"epoch": 852}).json()["validators"]
        by_vote = {row["vote_account"]: row for row in listing}
        assert by_vote[jito.vote_pubkey]["mev_rewards"] == sim.mev_revenue(jito.vote_pubkey, 852)
        assert by_vote[sim.validators[2].vote_pubkey]["running_jito"] is False
        leaves = http.get(
            "/api/v1/staker_rewards",
            params={"validator_vote_account": jito.vote_pubkey, "epoch": 852, "limit": 10000},
        ).json()["rewards"]
        (own,) = [leaf for leaf in leaves if leaf["claimant"] == jito.vote_pubkey]
        assert own["stake_authority"] == own["withdraw_authority"] == "11111111111111111111111111111111"
        assert own["amount"] == sim.mev_revenue(jito.vote_pubkey, 852) * 800 // 10_000
        assert sum(leaf["amount"] for leaf in leaves) <= sim.mev_revenue(jito.vote_pubkey, 852)
        missing = http.get("/api/v1/nothing-here")
        assert missing.status_code == 404
        assert missing.json() == {"error": "Not Found"}


def test_stakewiz_metadata(sim: SimulatedSolana) -> None:
    validator = sim.validators[0]
    with client(sim, "stakewiz") as http:
        body = http.get(f"/validator/{validator.vote_pubkey}").json()
        unknown = http.get("/validator/11111111111111111111111111111111")
    assert body["vote_identity"] == validator.vote_pubkey
    assert body["identity"] == validator.node_pubkey
    assert body["commission"] == 5
    assert body["is_jito"] is True
    assert body["jito_commission_bps"] == 800
    assert body["delinquent"] is False
    assert isinstance(body["activated_stake"], float)
    assert round(body["activated_stake"] * 10**9) == sim.active_stake(
        validator.vote_pubkey, sim.current_epoch
    )
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "Validator not found"}


# ---- JSON-RPC envelope and errors -----------------------------------------------------------------


def test_batches_are_answered_by_id(sim: SimulatedSolana) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": 7, "method": "getSlot", "params": [{"commitment": "finalized"}]},
        {"jsonrpc": "2.0", "id": 3, "method": "getEpochSchedule"},
        {"jsonrpc": "2.0", "id": 5, "method": "noSuchMethod", "params": []},
        {"jsonrpc": "2.0", "id": "text-id", "method": "getBlock", "params": ["not a slot"]},
    ]
    with client(sim, "solana-rpc") as http:
        answers = http.post("/", json=batch).json()
    assert [answer["id"] for answer in answers] == ["text-id", 5, 3, 7]  # reversed on purpose
    by_id = {answer["id"]: answer for answer in answers}
    assert by_id[7]["result"] == sim.finalized_slot
    assert by_id[3]["result"]["slotsPerEpoch"] == SLOTS_PER_EPOCH
    assert by_id[5]["error"] == {"code": -32601, "message": "Method not found"}
    assert by_id["text-id"]["error"]["code"] == -32602
    assert by_id["text-id"]["error"]["message"].startswith("Invalid params: ")


def test_rpc_errors(sim: SimulatedSolana) -> None:
    vote = sim.validators[0].vote_pubkey
    skipped = sim.skipped_slots(vote, 851)[0]
    assert rpc(sim, "getBlock", [skipped, BLOCK_CONFIG])["error"] == {
        "code": -32009,
        "message": f"Slot {skipped} was skipped, or missing in long-term storage",
    }
    assert rpc(sim, "getBlockTime", [skipped])["error"]["code"] == -32009
    produced = sim.produced_slots(vote, 851)[0]
    without_version = {k: v for k, v in BLOCK_CONFIG.items() if k != "maxSupportedTransactionVersion"}
    assert rpc(sim, "getBlock", [produced, without_version])["error"]["code"] == -32015
    future = sim.finalized_slot + 1
    assert rpc(sim, "getBlock", [future, BLOCK_CONFIG])["error"] == {
        "code": -32004,
        "message": f"Block not available for slot {future}",
    }
    assert (
        rpc(sim, "getBlock", [produced, {**BLOCK_CONFIG, "commitment": "processed"}])["error"]["code"]
        == -32602
    )
    assert rpc(sim, "getInflationReward", [["not-base58-0OIl"]])["error"] == {
        "code": -32602,
        "message": "Invalid param: Invalid",
    }
    assert rpc(sim, "getInflationReward", [])["error"]["code"] == -32602
    with client(sim, "solana-rpc") as http:
        parse_error = http.post("/", content=b"{not json", headers={"content-type": "application/json"})
        assert parse_error.status_code == 400
        assert parse_error.json() == {
            "jsonrpc": "2.0",
            "error": {"code": -32700, "message": "Parse error"},
            "id": None,
        }
        assert http.get("/").status_code == 405
        assert http.post("/", json=[]).json()["error"]["code"] == -32600


def test_solana_beach_needs_the_key(sim: SimulatedSolana) -> None:
    vote = sim.validators[0].vote_pubkey
    with client(sim, "solanabeach") as http:
        unauthorized = http.get(f"/validator/{vote}")
    with client(sim, "solanabeach", headers={"Authorization": "Bearer wrong"}) as http:
        wrong = http.get(f"/validator/{vote}")
    assert unauthorized.status_code == wrong.status_code == 401
    assert unauthorized.json() == {"err": "Unauthorized"}
    with client(sim, "solanabeach", headers={"Authorization": "Bearer demo-key"}) as http:
        unknown = http.get("/validator/11111111111111111111111111111111")
        too_many = http.get(
            f"/validator/{sim.validators[0].node_pubkey}/block-rewards-history", params={"limit": 101}
        )
    assert unknown.status_code == 404
    assert too_many.status_code == 400


def test_unknown_provider_and_bad_specs() -> None:
    sim = SimulatedSolana()
    with pytest.raises(ValueError, match="unknown provider"):
        sim.transport("etherscan")
    with pytest.raises(ValueError, match="not a simulated validator"):
        sim.vote_reward("11111111111111111111111111111111", 850)
    bad = SimulatedValidator(
        vote_pubkey="not a key",
        node_pubkey=sim.validators[0].node_pubkey,
        name="Bad",
        stake_account_count=3,
        total_stake_lamports=10**12,
        commission_by_epoch={0: 5},
        mev_commission_bps=0,
        runs_jito=False,
    )
    with pytest.raises(ValueError, match="base58"):
        SimulatedSolana(validators=[bad])


# ---- the benchmark world --------------------------------------------------------------------------


def test_generated_world_answers_quickly() -> None:
    big = SimulatedSolana.generated(validators=50, stake_accounts_per_validator=2000)
    assert len(big.validators) == 50
    vote = big.validators[17].vote_pubkey
    started = time.perf_counter()
    listed = program_accounts(big, vote)
    cold = time.perf_counter() - started
    started = time.perf_counter()
    program_accounts(big, vote)
    warm = time.perf_counter() - started
    assert len(listed) == 2000
    addresses = [entry["pubkey"] for entry in listed[:100]]
    batch = [
        {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "getInflationReward",
            "params": [addresses, {"epoch": 850, "commitment": "finalized"}],
        }
    ]
    handler = big.handler("solana-rpc")
    request = httpx.Request("POST", "https://rpc.invalid/", json=batch)
    handler(request)
    started = time.perf_counter()
    response = handler(request)
    rewards_time = time.perf_counter() - started
    (answer,) = response.json()
    truth = {a.pubkey: a for a in big.stake_accounts(vote, 850)}
    for address, reward in zip(addresses, answer["result"], strict=True):
        account = truth.get(address)
        assert (reward["amount"] if reward else 0) == (account.reward_net if account else 0)
    print(  # noqa: T201 - benchmark figures for the reader, no timing asserts
        f"\n50x2000 world: getProgramAccounts(2000) cold {cold * 1000:.0f} ms, warm {warm * 1000:.0f} ms; "
        f"getInflationReward(100) {rewards_time * 1000:.2f} ms in the handler"
    )
