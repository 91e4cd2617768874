"""Ethereum adapters against answers shaped exactly like the providers' (MockTransport): window
arithmetic and finality, priority-fee math, missed slots, relay de-duplication and the canonical
check, receipts without eth_getBlockReceipts, record and replay. No database."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings

from chains.registry import load_registry
from demo.simulated.ethereum import SimulatedEthereum
from ingestion.models import DataType
from ingestion.providers.base import (
    ChainSettings,
    Exchange,
    PeriodInfo,
    ProviderAdapter,
    ProviderSettings,
    ValidatorRef,
)
from ingestion.providers.errors import ProviderBadResponse, ProviderNotConfigured
from ingestion.providers.ethereum.values import MISSED, RELAY_DELIVERED, withdrawal_address
from ingestion.providers.ethereum.windows import BeaconTime, PeriodRangeError, Windows
from ingestion.providers.http import reset_provider_state
from ingestion.providers.registry import TransportMode, build_adapter, build_parser
from ingestion.services import IngestionError

WORLD = SimulatedEthereum()
PARAMETERS = {"slots_per_epoch": 32, "seconds_per_slot": 12, "genesis_time": 1606824023}
CHAIN = ChainSettings("ethereum-mainnet", finality_lag=1, parameters=PARAMETERS, period_length_epochs=4)
_REGISTRY = load_registry(settings.AURORA_CHAINS_FILE, settings.AURORA_PROVIDERS_FILE)
SETTINGS = {name: ProviderSettings.from_spec(name, spec) for name, spec in _REGISTRY.providers.items()}
ALPHA, BETA, GAMMA, DELTA = (v.pubkey for v in WORLD.validators)
RELAY_HOSTS = [
    "boost-relay.flashbots.net",
    "bloxroute.max-profit.blxrbdn.com",
    "bloxroute.regulated.blxrbdn.com",
    "relay.ultrasound.money",
    "aestus.live",
    "agnostic-relay.net",
    "titanrelay.xyz",
]


@pytest.fixture(autouse=True)
def _fresh_state() -> Iterator[None]:
    reset_provider_state()
    yield
    reset_provider_state()


def adapter(
    name: str,
    handler: Callable[[httpx.Request], httpx.Response] | None = None,
    chain: ChainSettings = CHAIN,
    **options: Any,
) -> ProviderAdapter:
    provider = SETTINGS[name]
    if options:
        provider = replace(provider, options={**provider.options, **options})
    transport = httpx.MockTransport(handler or WORLD.handler())
    return build_adapter(chain, provider, transport=transport, sleep=lambda _s: None, companions=SETTINGS)


def window(first: int) -> PeriodInfo:
    return Windows(4, 1, BeaconTime()).info(first, finalized_epoch=first + 100)


# ---- windows and finality ------------------------------------------------------------------------


def test_windows_of_225_epochs_are_utc_days_from_12_00_23_named_by_their_first_epoch() -> None:
    windows = Windows(225, 1, BeaconTime())
    assert windows.identifiers(394_875, 395_325) == [394_875, 395_100, 395_325]
    day = windows.info(394_875, finalized_epoch=None)
    assert (day.first_index, day.last_index, day.is_final) == (394_875, 395_099, False)
    assert day.start == datetime(2025, 9, 21, 12, 0, 23, tzinfo=UTC)
    assert (day.end - day.start).total_seconds() == 86_400
    assert windows.info(395_100, None).start == day.end
    assert windows.start_of(395_000) == 394_875


@pytest.mark.parametrize("identifier", [395_001, 395_003, -4])
def test_an_identifier_that_is_not_a_window_start_is_refused_with_its_window(identifier: int) -> None:
    with pytest.raises(PeriodRangeError, match=f"{identifier} is not an Ethereum period"):
        Windows(4, 1, BeaconTime()).identifiers(identifier, 395_008)
    with pytest.raises(PeriodRangeError, match="empty range"):
        Windows(4, 1, BeaconTime()).identifiers(395_008, 395_004)


@pytest.mark.parametrize(
    ("finalized", "lag", "final", "latest"),
    [
        (395_007, 0, False, 395_000),  # the window's last epoch is not behind the finalized one yet
        (395_008, 0, True, 395_004),
        (395_011, 1, False, 395_000),  # one more window of margin
        (395_012, 1, True, 395_004),
        (395_015, 2, False, 395_000),
        (395_016, 2, True, 395_004),
        (7, 1, False, None),
    ],
)
def test_a_window_is_final_once_the_finalized_epoch_passes_its_end_plus_lag_windows(
    finalized: int, lag: int, final: bool, latest: int | None
) -> None:
    windows = Windows(4, lag, BeaconTime())
    assert windows.is_final(395_004, finalized) is final
    assert windows.latest_final(finalized) == latest


def test_the_head_and_the_periods_come_from_the_beacon_head_and_its_finality_checkpoints() -> None:
    beacon = adapter("beacon-api")
    head = beacon.chain_head()
    assert (head.value.current_period, head.value.latest_final_period) == (395_012, 395_004)
    assert [e.request_key for e in head.exchanges] == ["head-header", "finality-checkpoints"]
    periods = beacon.list_periods(395_000, 395_008).value
    assert [(p.identifier, p.first_index, p.last_index, p.is_final) for p in periods] == [
        ("395000", 395_000, 395_003, True),
        ("395004", 395_004, 395_007, True),
        ("395008", 395_008, 395_011, False),
    ]
    with pytest.raises(IngestionError, match="ethereum-mainnet: 395002 is not an Ethereum period"):
        beacon.list_periods(395_002, 395_008)


def test_a_finalized_epoch_ahead_of_the_head_is_a_bad_answer() -> None:
    inner = WORLD.handler()

    def ahead(request: httpx.Request) -> httpx.Response:
        response = inner(request)
        if request.url.path.endswith("finality_checkpoints"):
            body = json.loads(response.read())
            body["data"]["finalized"]["epoch"] = "999999"
            return httpx.Response(200, json=body)
        return response

    with pytest.raises(ProviderBadResponse, match="ahead of the head"):
        adapter("beacon-api", ahead).chain_head()


# ---- a block built locally: priority fees to the wei --------------------------------------------------

PUBKEY = "0x" + "a1" * 48
INDEX = 412_345
EPOCH = 395_000
SLOT = EPOCH * 32 + 7
NUMBER = 21_987_654
BLOCK_HASH = "0x9f3e2a7c1b0d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b"
RECIPIENT = "0xde49f145fda9988c79fc35526f7eaed46725a2a7"
BASE_FEE = 0x6E86B1CA  # 1,854,321,098 wei
# (gasUsed, effectiveGasPrice): the two receipts of providers.md's sample, then a whale's transaction
RECEIPTS = [(0x5208, 0xE5BC45CA), (0x2C8B1, 0x747C92CA), (2_000_000, BASE_FEE + 10**13)]
EXPECTED_FEES = 60_244_900_000_000 + 2_000_000 * 10**13  # = 20,000,060,244,900,000,000 wei


def root(n: int) -> str:
    return "0x" + f"{n:064x}"


class Shaped:
    """Providers answering one proposer duty at SLOT exactly in their documented shapes; each
    answer can be replaced (`rest[(host, path, slot-or-epoch)]`, `rpc[method]`)."""

    def __init__(self) -> None:
        self.header: list[dict[str, Any]] = [self._header()]
        self.block_status = 200
        self.relay_rows: dict[str, list[dict[str, Any]]] = {}
        self.rpc: dict[str, Callable[[list[Any]], Any]] = {
            "eth_getBlockByNumber": lambda params: self.execution_block(),
            "eth_getBlockReceipts": lambda params: self.receipts(),
        }
        self.requests: list[httpx.Request] = []

    def _header(self) -> dict[str, Any]:
        message = {
            "slot": str(SLOT),
            "proposer_index": str(INDEX),
            "parent_root": root(1),
            "state_root": root(2),
            "body_root": root(3),
        }
        return {
            "root": root(4),
            "canonical": True,
            "header": {"message": message, "signature": "0x" + "b8" * 96},
        }

    def duties(self, epoch: int) -> dict[str, Any]:
        data = [
            {
                "pubkey": PUBKEY if slot == SLOT else "0x" + f"{slot:096x}",
                "validator_index": str(INDEX if slot == SLOT else 1000 + slot % 5000),
                "slot": str(slot),
            }
            for slot in range(epoch * 32, epoch * 32 + 32)
        ]
        return {"dependent_root": root(5), "execution_optimistic": False, "data": data}

    def beacon_block(self) -> dict[str, Any]:
        payload = {
            "parent_hash": root(6),
            "fee_recipient": RECIPIENT,
            "state_root": root(7),
            "receipts_root": root(8),
            "logs_bloom": "0x" + "00" * 256,
            "prev_randao": root(9),
            "block_number": str(NUMBER),
            "gas_limit": "36000000",
            "gas_used": str(sum(gas for gas, _ in RECEIPTS)),
            "timestamp": str(1606824023 + SLOT * 12),
            "extra_data": "0x",
            "base_fee_per_gas": str(BASE_FEE),
            "block_hash": BLOCK_HASH,
            "transactions": ["0x02f8" + "00" * 20 for _ in RECEIPTS],
            "withdrawals": [],
            "blob_gas_used": "0",
            "excess_blob_gas": "0",
        }
        message = {
            "slot": str(SLOT),
            "proposer_index": str(INDEX),
            "parent_root": root(1),
            "state_root": root(2),
            "body": {"execution_payload": payload},
        }
        return {
            "version": "electra",
            "execution_optimistic": False,
            "finalized": True,
            "data": {"message": message, "signature": "0x" + "b8" * 96},
        }

    def execution_block(self) -> dict[str, Any]:
        transactions = [
            {"hash": root(100 + i), "transactionIndex": hex(i), "type": "0x2", "gasPrice": hex(price)}
            for i, (_, price) in enumerate(RECEIPTS)
        ]
        return {
            "number": hex(NUMBER),
            "hash": BLOCK_HASH,
            "miner": RECIPIENT,
            "gasUsed": hex(sum(gas for gas, _ in RECEIPTS)),
            "gasLimit": hex(36_000_000),
            "baseFeePerGas": hex(BASE_FEE),
            "timestamp": hex(1606824023 + SLOT * 12),
            "transactions": transactions,
        }

    def receipts(self) -> list[dict[str, Any]]:
        cumulative = 0
        receipts = []
        for i, (gas, price) in enumerate(RECEIPTS):
            cumulative += gas
            receipts.append(
                {
                    "transactionHash": root(100 + i),
                    "transactionIndex": hex(i),
                    "blockHash": BLOCK_HASH,
                    "blockNumber": hex(NUMBER),
                    "cumulativeGasUsed": hex(cumulative),
                    "gasUsed": hex(gas),
                    "effectiveGasPrice": hex(price),
                    "status": "0x1",
                    "type": "0x2",
                    "logs": [],
                }
            )
        return receipts

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path, host = request.url.path, request.url.host
        if request.url.port == 8545:
            call = json.loads(request.content)
            method = self.rpc.get(call["method"])
            if method is None:
                error = {
                    "code": -32601,
                    "message": f"the method {call['method']} does not exist/is not available",
                }
                return httpx.Response(200, json={"jsonrpc": "2.0", "id": call["id"], "error": error})
            return httpx.Response(
                200, json={"jsonrpc": "2.0", "id": call["id"], "result": method(call["params"])}
            )
        if host in RELAY_HOSTS:
            slot = int(request.url.params["slot"])
            return httpx.Response(
                200, json=[r for r in self.relay_rows.get(host, []) if r["slot"] == str(slot)]
            )
        if path.startswith("/eth/v1/validator/duties/proposer/"):
            return httpx.Response(200, json=self.duties(int(path.rsplit("/", 1)[1])))
        if path == "/eth/v1/beacon/headers":
            data = self.header if request.url.params["slot"] == str(SLOT) else []
            return httpx.Response(200, json={"execution_optimistic": False, "finalized": True, "data": data})
        if path == f"/eth/v2/beacon/blocks/{SLOT}":
            if self.block_status == 404:
                return httpx.Response(404, json={"code": 404, "message": "Block not found"})
            return httpx.Response(200, json=self.beacon_block())
        return httpx.Response(404, json={"code": 404, "message": f"not shaped: {path}"})


def bid_trace(value: int, block_hash: str = BLOCK_HASH, pubkey: str = PUBKEY) -> dict[str, Any]:
    return {
        "slot": str(SLOT),
        "parent_hash": root(6),
        "block_hash": block_hash,
        "builder_pubkey": "0x" + "4941" * 24,
        "proposer_pubkey": pubkey,
        "proposer_fee_recipient": "0xbca3a0aac36098b2cc2bd818319478da6bd0c621",
        "gas_limit": "36000000",
        "gas_used": "14523001",
        "value": str(value),
        "num_tx": "187",
        "block_number": str(NUMBER),
    }


def test_a_locally_built_block_earns_the_exact_priority_fees_beyond_64_bits() -> None:
    network = Shaped()
    execution = adapter("ethereum-execution-rpc", network)
    fetched = execution.fetch_fees(window(EPOCH), ValidatorRef(PUBKEY))
    fees = fetched.value
    assert fees.total_fees == EXPECTED_FEES == 20_000_060_244_900_000_000 > 2**64
    [block] = fees.blocks
    assert (block.index, block.source, block.amount, block.produced) == (SLOT, "local", EXPECTED_FEES, True)
    assert (block.block_number, block.block_hash, block.fee_recipient) == (NUMBER, BLOCK_HASH, RECIPIENT)
    assert (block.base_fee_per_gas, block.transaction_count) == (BASE_FEE, 3)
    assert (fees.blocks_scheduled, fees.blocks_produced, fees.validator_index) == (1, 1, INDEX)
    keys = {exchange.request_key for exchange in fetched.exchanges}
    assert {f"beacon/proposer-duties/{EPOCH + i}" for i in range(4)} <= keys
    assert {f"beacon/header/{SLOT}", f"beacon/block/{SLOT}", f"block/{NUMBER}", f"receipts/{NUMBER}"} <= keys
    assert {f"relay/{host}/slot/{SLOT}" for host in RELAY_HOSTS} <= keys
    # Parsing the staged exchanges again, in any order, gives the same value; JSON keeps the digits.
    staged = [replace(e, body=json.loads(json.dumps(e.body))) for e in reversed(fetched.exchanges)]
    parser = build_parser(CHAIN, SETTINGS["ethereum-execution-rpc"])
    assert parser.parse(DataType.FEES, staged, window(EPOCH), ValidatorRef(PUBKEY)) == fees


def test_a_block_a_relay_delivered_earns_no_fees_and_its_receipts_are_not_fetched() -> None:
    network = Shaped()
    network.relay_rows["relay.ultrasound.money"] = [bid_trace(48_213_907_461_253_381)]
    network.relay_rows["titanrelay.xyz"] = [bid_trace(1, block_hash=root(77))]  # delivered, not included
    fetched = adapter("ethereum-execution-rpc", network).fetch_fees(window(EPOCH), ValidatorRef(PUBKEY))
    [block] = fetched.value.blocks
    assert (block.source, block.amount, block.reason, block.relays) == (
        "relay",
        0,
        RELAY_DELIVERED,
        ("relay.ultrasound.money",),
    )
    assert not any(request.url.port == 8545 for request in network.requests)


def test_a_payload_relays_delivered_for_a_block_never_included_leaves_the_local_block_s_fees() -> None:
    network = Shaped()
    network.relay_rows["titanrelay.xyz"] = [bid_trace(5 * 10**16, block_hash=root(77))]
    fees = adapter("ethereum-execution-rpc", network).fetch_fees(window(EPOCH), ValidatorRef(PUBKEY)).value
    assert (fees.blocks[0].source, fees.total_fees) == ("local", EXPECTED_FEES)


def test_without_relays_configured_every_produced_block_is_local() -> None:
    network = Shaped()
    network.relay_rows["relay.ultrasound.money"] = [bid_trace(10**17)]
    execution = adapter("ethereum-execution-rpc", network, relay_provider=None)
    assert execution.fetch_fees(window(EPOCH), ValidatorRef(PUBKEY)).value.total_fees == EXPECTED_FEES
    assert not any(request.url.host in RELAY_HOSTS for request in network.requests)


def test_an_execution_block_that_is_not_the_beacon_block_s_payload_is_refused() -> None:
    network = Shaped()
    network.rpc["eth_getBlockByNumber"] = lambda params: {
        **network.execution_block(),
        "miner": "0x" + "11" * 20,
    }
    with pytest.raises(ProviderBadResponse, match="fee recipient"):
        adapter("ethereum-execution-rpc", network).fetch_fees(window(EPOCH), ValidatorRef(PUBKEY))
    network = Shaped()
    network.rpc["eth_getBlockReceipts"] = lambda params: network.receipts()[:2]
    with pytest.raises(ProviderBadResponse, match="the receipts are not its transactions'"):
        adapter("ethereum-execution-rpc", network).fetch_fees(window(EPOCH), ValidatorRef(PUBKEY))


def test_a_node_without_eth_get_block_receipts_is_asked_for_each_transaction_s_receipt() -> None:
    world = SimulatedEthereum(block_receipts=False)
    [slot] = world.scripted_slot("Aurora ETH Alpha", "local")
    fetched = adapter("ethereum-execution-rpc", world.handler()).fetch_fees(
        window(395_000), ValidatorRef(ALPHA)
    )
    assert fetched.value.total_fees == world.priority_fees(slot) > 0
    number = world.block_number(slot)
    assert f"receipts/{number}#0000" in {exchange.request_key for exchange in fetched.exchanges}


# ---- missed slots --------------------------------------------------------------------------------------


def test_a_slot_without_a_block_is_zero_with_a_reason_not_an_error() -> None:
    network = Shaped()
    network.header = []  # headers?slot= answers an empty list
    fees = adapter("ethereum-execution-rpc", network).fetch_fees(window(EPOCH), ValidatorRef(PUBKEY)).value
    assert [(b.index, b.amount, b.produced, b.source, b.reason) for b in fees.blocks] == [
        (SLOT, 0, False, "missed", MISSED)
    ]
    assert (fees.blocks_scheduled, fees.blocks_produced, fees.total_fees) == (1, 0, 0)


def test_a_404_from_the_block_endpoint_is_kept_as_a_missed_slot_and_parses_again_from_staging() -> None:
    network = Shaped()
    network.block_status = 404
    fetched = adapter("ethereum-execution-rpc", network).fetch_fees(window(EPOCH), ValidatorRef(PUBKEY))
    assert [(b.source, b.reason) for b in fetched.value.blocks] == [("missed", MISSED)]
    kept = next(e for e in fetched.exchanges if e.request_key == f"beacon/block/{SLOT}")
    assert (kept.status, kept.body["code"]) == (404, 404)
    # Staging keeps bodies only: parsed back with status 200, the body still says "no block".
    staged = [replace(e, status=200) for e in fetched.exchanges]
    parser = build_parser(CHAIN, SETTINGS["ethereum-execution-rpc"])
    assert parser.parse(DataType.FEES, staged, window(EPOCH), ValidatorRef(PUBKEY)) == fetched.value


def test_the_missed_slot_of_the_simulated_network_costs_its_proposer_and_the_sync_committee() -> None:
    [missed] = WORLD.scripted_slot("Aurora ETH Gamma", "missed")
    beacon = adapter("beacon-api")
    gamma = beacon.fetch_stake_rewards(window(395_000), ValidatorRef(GAMMA)).value
    assert [(p.slot, p.produced, p.total, p.reason) for p in gamma.proposals] == [(missed, False, 0, MISSED)]
    delta = beacon.fetch_stake_rewards(window(395_000), ValidatorRef(DELTA)).value
    assert [(s.slot, s.reward, s.reason) for s in delta.sync_committee if not s.produced] == [
        (missed, 0, MISSED)
    ]


# ---- relays: pages, de-duplication, canonical check ------------------------------------------------------


def test_relay_payloads_are_deduplicated_by_block_hash_and_only_canonical_ones_count() -> None:
    relays = adapter("mev-relays")
    mev = relays.fetch_mev(window(395_000), ValidatorRef(BETA)).value
    [slot] = WORLD.scripted_slot("Aurora ETH Beta", "relay")
    assert [(d.slot, d.relays, d.canonical) for d in mev.deliveries] == [
        (slot, ("boost-relay.flashbots.net", "relay.ultrasound.money"), True),
        (slot, ("titanrelay.xyz",), False),
    ]
    assert mev.deliveries[0].block_hash == WORLD.block_hash(slot)
    assert (mev.total_tips, mev.tip_count) == (48_213_907_461_253_381, 1)
    assert (mev.commission_bps, mev.running_mev_client) == (10_000, True)
    assert relays.fetch_mev(window(395_000), ValidatorRef(DELTA)).value.deliveries == ()


def shaped_relay(
    pages: dict[str, list[dict[str, Any]]], seen: list[dict[str, str]]
) -> Callable[[httpx.Request], httpx.Response]:
    """Relays answering proposer_payload_delivered by proposer with cursor and limit; the beacon
    node says SLOT holds BLOCK_HASH."""
    network = Shaped()

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.host in RELAY_HOSTS:
            query = dict(request.url.params)
            seen.append({"relay": request.url.host, **query})
            cursor, limit = int(query["cursor"]), int(query["limit"])
            rows = [r for r in pages.get(request.url.host, []) if int(r["slot"]) <= cursor]
            return httpx.Response(200, json=sorted(rows, key=lambda r: -int(r["slot"]))[:limit])
        return network(request)

    return handle


def test_relay_values_that_disagree_keep_the_lowest_and_every_relay_s_figure() -> None:
    rows = {"boost-relay.flashbots.net": [bid_trace(100)], "aestus.live": [bid_trace(90)]}
    mev = adapter("mev-relays", shaped_relay(rows, [])).fetch_mev(window(EPOCH), ValidatorRef(PUBKEY)).value
    [delivery] = mev.deliveries
    assert (delivery.value, delivery.canonical, mev.total_tips) == (90, True, 90)
    assert delivery.relay_values == (("aestus.live", 90), ("boost-relay.flashbots.net", 100))


def test_a_relay_answer_about_another_proposer_is_refused() -> None:
    rows = {"aestus.live": [bid_trace(100, pubkey="0x" + "ee" * 48)]}
    with pytest.raises(ProviderBadResponse, match=r"aestus\.live answered with a payload of another"):
        adapter("mev-relays", shaped_relay(rows, [])).fetch_mev(window(EPOCH), ValidatorRef(PUBKEY))


def test_relay_pages_follow_the_cursor_until_the_window_s_first_slot_is_passed() -> None:
    first_slot, last_slot = EPOCH * 32, (EPOCH + 4) * 32 - 1
    slots = [last_slot - 3, last_slot - 40, last_slot - 41, first_slot + 2, first_slot - 5, first_slot - 90]
    rows = [{**bid_trace(10**15), "slot": str(slot), "block_hash": root(slot)} for slot in slots]
    seen: list[dict[str, str]] = []
    relays = adapter(
        "mev-relays",
        shaped_relay({"aestus.live": rows}, seen),
        relays=[{"url": "https://aestus.live", "page_limit": 2}],
    )
    mev = relays.fetch_mev(window(EPOCH), ValidatorRef(PUBKEY)).value
    assert [int(query["cursor"]) for query in seen] == [last_slot, last_slot - 41, first_slot + 1]
    assert {query["proposer_pubkey"] for query in seen} == {PUBKEY}
    assert sorted(d.slot for d in mev.deliveries) == sorted(slots[:4])  # rows before the window are dropped
    assert not any(d.canonical for d in mev.deliveries)  # the beacon node has no block in those slots


# ---- consensus rewards and metadata --------------------------------------------------------------------


def test_attestation_penalties_are_negative_and_rewards_are_wei() -> None:
    gamma = adapter("beacon-api").fetch_stake_rewards(window(395_000), ValidatorRef(GAMMA)).value
    head, target, source = WORLD.attestation(1_388_007, 395_001)
    [penalty] = [a for a in gamma.attestations if a.epoch == 395_001]
    assert (penalty.head, penalty.target, penalty.source) == (0, target * 10**9, source * 10**9)
    assert target < 0 and source < 0 and head == 0
    assert [a.epoch for a in gamma.attestations] == [395_000, 395_001, 395_002, 395_003]
    assert gamma.penalties == -(penalty.target + penalty.source)
    assert gamma.effective_balance == 64 * 10**18


def test_the_older_attestation_rewards_shape_parses_the_same() -> None:
    beacon = adapter("beacon-api")
    fetched = beacon.fetch_stake_rewards(window(395_000), ValidatorRef(ALPHA))

    def older(exchange: Exchange) -> Exchange:
        if not exchange.request_key.startswith("attestation-rewards/"):
            return exchange
        body = dict(exchange.body)
        data = body.pop("data")
        return replace(
            exchange,
            body={**body, "ideal_rewards": data["ideal_rewards"], "total_rewards": data["total_rewards"]},
        )

    assert (
        beacon.parse(
            DataType.REWARDS, [older(e) for e in fetched.exchanges], window(395_000), ValidatorRef(ALPHA)
        )
        == fetched.value
    )


def test_metadata_reads_the_validator_before_and_at_the_end_of_the_window() -> None:
    meta = adapter("beacon-api").fetch_meta(window(395_000), ValidatorRef(ALPHA))
    assert [(e.request_key, e.request["url"]) for e in meta.exchanges] == [
        ("validator-start", f"http://127.0.0.1:5052/eth/v1/beacon/states/{395_000 * 32 - 1}/validators"),
        ("validator", f"http://127.0.0.1:5052/eth/v1/beacon/states/{395_004 * 32 - 1}/validators"),
    ]
    value = meta.value
    alpha = WORLD.by_name["Aurora ETH Alpha"]
    assert (value.validator_index, value.balance_start) == (alpha.index, alpha.balance_gwei * 10**9)
    assert value.withdrawal_address == alpha.withdrawal_address
    assert value.active_stake == 32 * 10**18


@pytest.mark.parametrize(
    ("credentials", "address"),
    [
        ("0x00" + "ab" * 31, None),
        (
            "0x010000000000000000000000bca3a0aac36098b2cc2bd818319478da6bd0c621",
            "0xbca3a0aac36098b2cc2bd818319478da6bd0c621",
        ),
        (
            "0x020000000000000000000000BCA3A0AAC36098B2CC2BD818319478DA6BD0C621",
            "0xbca3a0aac36098b2cc2bd818319478da6bd0c621",
        ),
    ],
)
def test_the_withdrawal_address_is_that_of_0x01_and_0x02_credentials(
    credentials: str, address: str | None
) -> None:
    assert withdrawal_address(credentials) == address


def test_an_optimistic_answer_is_refused() -> None:
    inner = WORLD.handler()

    def optimistic(request: httpx.Request) -> httpx.Response:
        response = inner(request)
        if request.url.path.endswith("/validators"):
            return httpx.Response(200, json={**json.loads(response.read()), "execution_optimistic": True})
        return response

    with pytest.raises(ProviderBadResponse, match="optimistically"):
        adapter("beacon-api", optimistic).fetch_meta(window(395_000), ValidatorRef(ALPHA))


def test_a_validator_key_must_be_a_bls_public_key() -> None:
    with pytest.raises(ProviderNotConfigured, match="not an Ethereum validator public key"):
        adapter("beacon-api").fetch_meta(
            window(395_000), ValidatorRef("9zhAX2JW8uJ9ias5CGuhPKCF6PmWWfbWsUKKjCyYyBDN")
        )


# ---- building, parsing, recording -----------------------------------------------------------------------


def test_a_parsing_only_adapter_parses_staged_answers_and_refuses_to_fetch() -> None:
    fetched = adapter("mev-relays").fetch_mev(window(395_000), ValidatorRef(BETA))
    parser = build_parser(CHAIN, SETTINGS["mev-relays"])
    assert parser.parse(DataType.MEV, fetched.exchanges, window(395_000), ValidatorRef(BETA)) == fetched.value
    with pytest.raises(ProviderNotConfigured, match="not connected"):
        parser.fetch_mev(window(395_000), ValidatorRef(BETA))


def test_every_relay_has_its_own_client_named_after_it() -> None:
    relays = adapter("mev-relays")
    assert SETTINGS["mev-relays"].base_url is None  # the relays are listed in options, not one URL
    names = [relay.client.settings.name for relay in relays.relays]  # type: ignore[attr-defined]
    assert names == [f"mev-relays:{host}" for host in RELAY_HOSTS]


def test_recorded_then_replayed_with_the_recording_s_window_length(tmp_path: Path) -> None:
    providers = ("beacon-api", "ethereum-execution-rpc", "mev-relays")
    live: dict[str, Any] = {}
    for name in providers:
        recorder = build_adapter(
            CHAIN,
            SETTINGS[name],
            mode=TransportMode.RECORD,
            recordings=tmp_path,
            transport=WORLD.transport(),
            sleep=lambda _s: None,
            companions=SETTINGS,
        )
        if name == "beacon-api":
            recorder.list_periods(395_000, 395_000)
        data_type = {
            "beacon-api": DataType.REWARDS,
            "ethereum-execution-rpc": DataType.FEES,
            "mev-relays": DataType.MEV,
        }[name]
        live[name] = recorder.fetch(data_type, window(395_000), ValidatorRef(BETA)).value
    configured = replace(CHAIN, period_length_epochs=225)

    def replayer(name: str) -> ProviderAdapter:
        return build_adapter(
            configured, SETTINGS[name], mode=TransportMode.REPLAY, recordings=tmp_path, companions=SETTINGS
        )

    with pytest.raises(IngestionError, match="windows of 225 epochs"):
        replayer("beacon-api").list_periods(395_000, 395_000)  # no recording.json: the configured length
    (tmp_path / "ethereum-mainnet" / "recording.json").write_text(
        json.dumps({"chain": {"period_length_epochs": 4}})
    )
    [period] = replayer("beacon-api").list_periods(395_000, 395_000).value
    assert (period.first_index, period.last_index, period.is_final) == (395_000, 395_003, True)
    assert replayer("beacon-api").fetch_stake_rewards(period, ValidatorRef(BETA)).value == live["beacon-api"]
    assert (
        replayer("ethereum-execution-rpc").fetch_fees(period, ValidatorRef(BETA)).value
        == live["ethereum-execution-rpc"]
    )
    assert replayer("mev-relays").fetch_mev(period, ValidatorRef(BETA)).value == live["mev-relays"]
    # Each relay's answers are recorded under its own scope, so equal queries to two relays never collide.
    assert (tmp_path / "ethereum-mainnet" / "mev-relays" / "395000" / "relay.ultrasound.money.jsonl").exists()
