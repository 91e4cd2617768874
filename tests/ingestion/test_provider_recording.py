"""Recording live answers to JSONL files and replaying them through the same `ProviderClient`.

The "live" provider is an `httpx.MockTransport`; `RecordingTransport` wraps it, and
`ReplayTransport` must then give the client the same answers without any network.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ingestion.providers.base import ProviderSettings
from ingestion.providers.errors import ProviderRpcError, RecordingMissing
from ingestion.providers.http import ProviderClient, RpcCall, RpcOutcome, reset_provider_state
from ingestion.providers.recording import RecordingTransport, ReplayTransport, scope_path

RPC_URL = "https://solana-rpc.example.test"
JITO_URL = "https://kobe.jito.example.test"
REWARDS = "/api/v1/validator_rewards"
VOTE = "CertusDeBmqN8ZawdkxK5kFGMwBXdudvWHYwtNgNhvLu"
SECRET = "sk-live-7Qm2ZpX9vR4tW8yB"
KEY_ENV = "AURORA_TEST_RECORDING_KEY"
IGNORED = frozenset({"api-key"})
SKIPPED_SLOT = 103
EPOCH_INFO = {"absoluteSlot": 367_200_000, "blockHeight": 345_000_000, "epoch": 850, "slotIndex": 0}
JITO_BODY = {
    "rewards": [
        {
            "vote_account": VOTE,
            "epoch": 850,
            "mev_revenue": 1_234_567_890,
            "mev_commission": 800,
            "num_stakers": 312,
        }
    ]
}


@pytest.fixture(autouse=True)
def _clean_provider_state() -> Iterator[None]:
    reset_provider_state()
    yield
    reset_provider_state()


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class Counting(httpx.BaseTransport):
    """Counts the requests that reach the wrapped transport."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.inner.handle_request(request)


def solana_node(request: httpx.Request) -> httpx.Response:
    """A Solana RPC node: getBlockTime per slot (one slot skipped), getEpochInfo; answers in reverse."""

    def answer(call: dict[str, Any]) -> dict[str, Any]:
        envelope: dict[str, Any] = {"jsonrpc": "2.0", "id": call["id"]}
        if call["method"] == "getEpochInfo":
            return {**envelope, "result": EPOCH_INFO}
        slot = call["params"][0]
        if slot == SKIPPED_SLOT:
            message = f"Slot {slot} was skipped, or missing in long-term storage"
            return {**envelope, "error": {"code": -32009, "message": message}}
        return {**envelope, "result": 1_750_000_000 + slot}

    sent = json.loads(request.content)
    if isinstance(sent, list):
        return httpx.Response(200, json=[answer(call) for call in reversed(sent)])
    return httpx.Response(200, json=answer(sent))


def jito_api(request: httpx.Request) -> httpx.Response:
    if request.url.params.get("epoch") == "850":
        return httpx.Response(200, json=JITO_BODY)
    return httpx.Response(200, json={"rewards": []})


def settings(name: str = "rpc-main", base_url: str = RPC_URL, **options: Any) -> ProviderSettings:
    return ProviderSettings(
        name=name, adapter="solana.rpc", base_url=base_url, api_key_env=KEY_ENV, options=options
    )


def make_client(
    transport: httpx.BaseTransport, provider: ProviderSettings | None = None, sleep: Sleeps | None = None
) -> ProviderClient:
    return ProviderClient(
        provider or settings(), transport=transport, sleep=Sleeps() if sleep is None else sleep
    )


def summary(outcomes: list[RpcOutcome]) -> list[tuple[Any, ...]]:
    return [
        (
            outcome.call,
            outcome.result,
            None if outcome.error is None else (type(outcome.error), outcome.error.reason),
        )
        for outcome in outcomes
    ]


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


CALLS = [RpcCall("getBlockTime", [slot]) for slot in range(100, 107)]


@pytest.fixture
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(KEY_ENV, SECRET)
    return SECRET


# ---- record, then replay -----------------------------------------------------------------------


def test_batches_replay_identically_in_any_batch_size(tmp_path: Path) -> None:
    node = Counting(httpx.MockTransport(solana_node))
    live = make_client(RecordingTransport(node, tmp_path))

    recorded, _ = live.rpc_batch(CALLS, scope="850", request_key="block-times", batch_size=3)
    epoch_info, _ = live.rpc("getEpochInfo", [], scope="head")

    assert len(node.requests) == 4  # 3 + 3 + 1 calls, and the single call
    assert recorded[SKIPPED_SLOT - 100].error is not None
    assert recorded[0].result == 1_750_000_100
    assert len(lines(tmp_path / "850.jsonl")) == len(CALLS)
    assert len(lines(tmp_path / "head.jsonl")) == 1

    replay_transport = Counting(ReplayTransport(tmp_path, provider="rpc-main"))
    replay = make_client(replay_transport)
    for size in (1, 2, 4, 7, 100):
        replayed, exchanges = replay.rpc_batch(CALLS, scope="850", request_key="block-times", batch_size=size)
        assert summary(replayed) == summary(recorded)
        assert len(exchanges) == -(-len(CALLS) // size)
        # Ids are re-attached in the order of the replayed request.
        assert [item["id"] for item in exchanges[0].body] == list(range(min(size, len(CALLS))))
    skipped = replayed[SKIPPED_SLOT - 100].error
    assert isinstance(skipped, ProviderRpcError)
    assert skipped.code == -32009

    replayed_info, exchange = replay.rpc("getEpochInfo", [], scope="head")
    assert replayed_info == epoch_info == EPOCH_INFO
    assert exchange.body == {"jsonrpc": "2.0", "id": 1, "result": EPOCH_INFO}
    assert len(node.requests) == 4  # replay never reached the live provider


def test_rest_get_with_query_is_recorded_and_replayed(tmp_path: Path) -> None:
    jito = settings("jito", JITO_URL)
    live = make_client(RecordingTransport(httpx.MockTransport(jito_api), tmp_path), jito)
    scope = f"850/{VOTE}"

    recorded = live.get(REWARDS, params={"vote_account": VOTE, "epoch": 850}, scope=scope)
    other = live.get(REWARDS, params={"vote_account": VOTE, "epoch": 851}, scope=scope)

    path = tmp_path / "850" / f"{VOTE}.jsonl"
    assert lines(path) == [
        {
            "request": {"path": REWARDS, "http": "GET", "query": {"epoch": "850", "vote_account": VOTE}},
            "status": 200,
            "response": JITO_BODY,
        },
        {
            "request": {"path": REWARDS, "http": "GET", "query": {"epoch": "851", "vote_account": VOTE}},
            "status": 200,
            "response": {"rewards": []},
        },
    ]

    replay = make_client(ReplayTransport(tmp_path, provider="jito"), jito)
    # Parameters in another order are the same request.
    replayed = replay.get(REWARDS, params={"epoch": 850, "vote_account": VOTE}, scope=scope)
    assert replayed.body == recorded.body == JITO_BODY
    assert replayed.status == 200
    assert replayed.request == recorded.request | {"query": {"epoch": "850", "vote_account": VOTE}}
    assert replay.get(REWARDS, params={"vote_account": VOTE, "epoch": 851}, scope=scope).body == other.body

    with pytest.raises(RecordingMissing) as caught:
        replay.get(REWARDS, params={"vote_account": VOTE, "epoch": 852}, scope=scope)
    assert caught.value.endpoint == f"GET {REWARDS}"


def test_only_successful_json_answers_are_recorded(tmp_path: Path) -> None:
    answers = iter(
        [
            httpx.Response(
                503, json={"jsonrpc": "2.0", "id": 1, "error": {"code": -32603, "message": "Internal error"}}
            ),
            httpx.Response(200, content=b'{"jsonrpc":"2.0","result":[{"epo'),
        ]
    )

    def flaky(request: httpx.Request) -> httpx.Response:
        return next(answers, None) or solana_node(request)

    sleeps = Sleeps()
    live = make_client(RecordingTransport(httpx.MockTransport(flaky), tmp_path), sleep=sleeps)

    result, _ = live.rpc("getEpochInfo", [], scope="head")

    assert result == EPOCH_INFO
    assert len(sleeps) == 2
    assert lines(tmp_path / "head.jsonl") == [
        {
            "request": {"path": "/", "rpc": "getEpochInfo", "params": []},
            "status": 200,
            "response": {"jsonrpc": "2.0", "result": EPOCH_INFO},
        }
    ]


def test_the_newest_recording_wins(tmp_path: Path) -> None:
    epochs = iter([849, 850])

    def node(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": 1, "result": {"epoch": next(epochs)}})

    live = make_client(RecordingTransport(httpx.MockTransport(node), tmp_path))
    live.rpc("getEpochInfo", [], scope="head")
    live.rpc("getEpochInfo", [], scope="head")

    replayed, _ = make_client(ReplayTransport(tmp_path, provider="rpc-main")).rpc(
        "getEpochInfo", [], scope="head"
    )
    assert replayed == {"epoch": 850}


# ---- what the files hold -----------------------------------------------------------------------


def test_files_hold_one_line_per_call_without_ids_or_api_key(tmp_path: Path, api_key: str) -> None:
    node = Counting(httpx.MockTransport(solana_node))
    rpc = settings(api_key_param="api-key")
    live = make_client(RecordingTransport(node, tmp_path, ignored_params=IGNORED), rpc)
    jito = settings("jito", JITO_URL, api_key_param="api-key")
    jito_live = make_client(
        RecordingTransport(httpx.MockTransport(jito_api), tmp_path, ignored_params=IGNORED), jito
    )

    recorded, _ = live.rpc_batch(CALLS, scope="850", request_key="block-times", batch_size=4)
    live.rpc("getEpochInfo", [], scope="850")
    jito_live.get(REWARDS, params={"vote_account": VOTE, "epoch": 850}, scope="850")

    assert all(request.url.params["api-key"] == api_key for request in node.requests)  # it was sent
    text = (tmp_path / "850.jsonl").read_text(encoding="utf-8")
    assert api_key not in text
    assert "api-key" not in text
    assert '"id"' not in text
    entries = lines(tmp_path / "850.jsonl")
    assert len(entries) == len(CALLS) + 2
    assert all(set(entry) == {"request", "status", "response"} for entry in entries)
    assert [entry["request"] for entry in entries[: len(CALLS)]] == [
        {"path": "/", "rpc": "getBlockTime", "params": [slot]} for slot in range(100, 107)
    ]
    assert entries[0]["response"] == {"jsonrpc": "2.0", "result": 1_750_000_100}
    assert entries[SKIPPED_SLOT - 100]["response"]["error"]["code"] == -32009
    assert entries[-1]["request"] == {
        "path": REWARDS,
        "http": "GET",
        "query": {"epoch": "850", "vote_account": VOTE},
    }

    # Replay sends the key too; it is ignored when matching.
    replayed, _ = make_client(
        ReplayTransport(tmp_path, provider="rpc-main", ignored_params=IGNORED), rpc
    ).rpc_batch(CALLS, scope="850", request_key="block-times", batch_size=5)
    assert summary(replayed) == summary(recorded)
    jito_replay = make_client(ReplayTransport(tmp_path, provider="jito", ignored_params=IGNORED), jito)
    assert (
        jito_replay.get(REWARDS, params={"vote_account": VOTE, "epoch": 850}, scope="850").body == JITO_BODY
    )


def test_replay_without_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, SECRET)
    live_settings = settings("jito", JITO_URL, api_key_param="api-key", api_key_required=True)
    live = make_client(
        RecordingTransport(httpx.MockTransport(jito_api), tmp_path, ignored_params=IGNORED), live_settings
    )
    live.get(REWARDS, params={"vote_account": VOTE, "epoch": 850}, scope="850")

    monkeypatch.delenv(KEY_ENV)
    replay = ProviderClient(
        live_settings,
        transport=ReplayTransport(tmp_path, provider="jito", ignored_params=IGNORED),
        sleep=Sleeps(),
        require_credentials=False,
    )
    assert replay.get(REWARDS, params={"vote_account": VOTE, "epoch": 850}, scope="850").body == JITO_BODY


# ---- missing recordings and unsafe scopes ------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda api: api.rpc("getEpochInfo", [], scope="head"),
        lambda api: api.rpc("getBlockTime", [101], scope="850"),
        lambda api: api.rpc_batch(
            [RpcCall("getBlockTime", [100]), RpcCall("getBlockTime", [999])], scope="850", request_key="t"
        ),
    ],
    ids=["no-file", "other-call", "one-call-of-a-batch"],
)
def test_a_missing_recording_is_an_error_and_not_retried(
    tmp_path: Path, call: Callable[[ProviderClient], Any]
) -> None:
    (tmp_path / "850.jsonl").write_text(
        json.dumps(
            {
                "request": {"path": "/", "rpc": "getBlockTime", "params": [100]},
                "status": 200,
                "response": {"jsonrpc": "2.0", "result": 1_750_000_100},
            }
        )
        + "\n",
        encoding="utf-8",
    )
    replay = Counting(ReplayTransport(tmp_path, provider="rpc-main"))
    sleeps = Sleeps()
    api = make_client(replay, settings(circuit_failure_threshold=2), sleeps)

    for attempt in range(1, 4):  # more than the circuit threshold: still the same error
        with pytest.raises(RecordingMissing) as caught:
            call(api)
        assert len(replay.requests) == attempt
    assert sleeps == []
    assert caught.value.provider == "rpc-main"
    assert "no recording of" in caught.value.reason


def test_missing_recording_names_the_call(tmp_path: Path) -> None:
    api = make_client(ReplayTransport(tmp_path, provider="rpc-main"))

    with pytest.raises(RecordingMissing) as caught:
        api.rpc("getBlockTime", [12345], scope="850")

    assert caught.value.endpoint == "getBlockTime"
    assert '"params":[12345]' in caught.value.reason
    assert str(tmp_path / "850.jsonl") in caught.value.reason


@pytest.mark.parametrize(
    "scope", ["../x", "850/../../x", "/etc/passwd", "", "850//x", "850/./x", "..", "a b", "..\\x", "850/"]
)
def test_unsafe_scopes_are_refused(tmp_path: Path, scope: str) -> None:
    with pytest.raises(ValueError, match="unsafe recording scope"):
        scope_path(tmp_path, scope)


def test_safe_scopes_stay_inside_the_directory(tmp_path: Path) -> None:
    assert scope_path(tmp_path, "head") == tmp_path / "head.jsonl"
    assert scope_path(tmp_path, f"850/{VOTE}") == tmp_path / "850" / f"{VOTE}.jsonl"


def test_an_unsafe_scope_is_refused_by_both_transports(tmp_path: Path) -> None:
    directory = tmp_path / "recordings"
    live = make_client(RecordingTransport(httpx.MockTransport(solana_node), directory))
    replay = make_client(ReplayTransport(directory, provider="rpc-main"))

    for api in (live, replay):
        with pytest.raises(ValueError, match="unsafe recording scope"):
            api.rpc("getEpochInfo", [], scope="../escape")

    assert not (tmp_path / "escape.jsonl").exists()
    assert list(tmp_path.rglob("*.jsonl")) == []
