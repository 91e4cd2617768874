"""`ProviderClient`: retries, backoff, Retry-After, rate limit, circuit breaker, JSON-RPC, API keys.

HTTP is faked only at the transport (`httpx.MockTransport`), with bodies shaped like the real
providers' answers; `sleep` is a recorder, so nothing here really waits (except the circuit
breaker's 50 ms cool-down, which pybreaker measures on the wall clock).
"""

from __future__ import annotations

import email.utils
import functools
import json
import random
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from ingestion.providers import http as http_module
from ingestion.providers.base import ProviderSettings
from ingestion.providers.errors import (
    ProviderBadResponse,
    ProviderConnectionError,
    ProviderError,
    ProviderHttpError,
    ProviderNotConfigured,
    ProviderRateLimited,
    ProviderRpcError,
    ProviderTimeout,
    ProviderUnavailable,
)
from ingestion.providers.http import ProviderClient, RateLimiter, RpcCall, reset_provider_state

RPC_URL = "https://solana-rpc.example.test"
JITO_URL = "https://kobe.jito.example.test"
REWARDS = "/api/v1/validator_rewards"
VOTE = "CertusDeBmqN8ZawdkxK5kFGMwBXdudvWHYwtNgNhvLu"
SECRET = "sk-live-7Qm2ZpX9vR4tW8yB"
KEY_ENV = "AURORA_TEST_PROVIDER_KEY"

Step = Callable[[httpx.Request], httpx.Response]


@pytest.fixture(autouse=True)
def _clean_provider_state() -> Iterator[None]:
    reset_provider_state()
    yield
    reset_provider_state()


# ---- fakes -------------------------------------------------------------------------------------


class Sleeps(list[float]):
    """A `sleep` that only records the delays it was asked for."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class Server:
    """A scripted provider: each request gets the next step; the last step repeats."""

    def __init__(self, *steps: Step) -> None:
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        return step(request)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    @property
    def calls(self) -> int:
        return len(self.requests)

    def bodies(self) -> list[Any]:
        return [json.loads(request.content) for request in self.requests]


def rpc_ok(result: Any) -> Step:
    def step(request: httpx.Request) -> httpx.Response:
        sent = json.loads(request.content)
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": sent["id"], "result": result})

    return step


def rpc_error(code: int, message: str, *, status: int = 200) -> Step:
    def step(request: httpx.Request) -> httpx.Response:
        sent = json.loads(request.content)
        answer_id = sent.get("id") if isinstance(sent, dict) else None
        return httpx.Response(
            status, json={"jsonrpc": "2.0", "id": answer_id, "error": {"code": code, "message": message}}
        )

    return step


def rpc_batch_answer(answer: Callable[[dict[str, Any]], dict[str, Any]], *, reverse: bool = False) -> Step:
    """Answers each call of a batch with `answer(call)` (+ the call's id), optionally in reverse order."""

    def step(request: httpx.Request) -> httpx.Response:
        items = [{"jsonrpc": "2.0", "id": call["id"], **answer(call)} for call in json.loads(request.content)]
        return httpx.Response(200, json=items[::-1] if reverse else items)

    return step


def respond(status: int, **kwargs: Any) -> Step:
    return lambda request: httpx.Response(status, **kwargs)


def raises(error_type: type[httpx.TransportError], message: str) -> Step:
    def step(request: httpx.Request) -> httpx.Response:
        raise error_type(message, request=request)

    return step


BAD_GATEWAY_HTML = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n"
)
SERVICE_UNAVAILABLE = respond(503, text="Service Unavailable", headers={"Content-Type": "text/plain"})
BAD_GATEWAY = respond(502, text=BAD_GATEWAY_HTML, headers={"Content-Type": "text/html"})
TOO_MANY_REQUESTS = respond(
    429,
    headers={"Retry-After": "3"},
    json={
        "jsonrpc": "2.0",
        "id": 1,
        "error": {"code": 429, "message": "Too many requests for a specific RPC call"},
    },
)
TOO_MANY_REQUESTS_NO_HINT = respond(
    429, json={"jsonrpc": "2.0", "id": 1, "error": {"code": 429, "message": "Too many requests"}}
)
TRUNCATED = respond(
    200, content=b'{"jsonrpc":"2.0","result":[{"epo', headers={"Content-Type": "application/json"}
)
HTML_OK = respond(
    200,
    content=b"<!DOCTYPE html><html><body>Scheduled maintenance</body></html>",
    headers={"Content-Type": "text/html; charset=utf-8"},
)
READ_TIMEOUT = raises(httpx.ReadTimeout, "The read operation timed out")
CONNECT_ERROR = raises(httpx.ConnectError, "[Errno 111] Connection refused")
SLOT_SKIPPED_CODE = -32009
SLOT_SKIPPED_MESSAGE = "Slot 123 was skipped, or missing in long-term storage"
SLOT_SKIPPED = {"code": SLOT_SKIPPED_CODE, "message": SLOT_SKIPPED_MESSAGE}
EPOCH_INFO = {
    "absoluteSlot": 166598,
    "blockHeight": 166500,
    "epoch": 27,
    "slotIndex": 2790,
    "slotsInEpoch": 8192,
    "transactionCount": 22661093,
}
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


def provider(
    name: str = "rpc-test",
    *,
    base_url: str = RPC_URL,
    rate: int | None = None,
    key_env: str | None = None,
    **options: Any,
) -> ProviderSettings:
    return ProviderSettings(
        name=name,
        adapter="solana.rpc",
        base_url=base_url,
        api_key_env=key_env,
        rate_limit_per_minute=rate,
        timeout_seconds=7,
        options=options,
    )


def client(
    server: Server, settings: ProviderSettings | None = None, sleep: Sleeps | None = None
) -> ProviderClient:
    return ProviderClient(
        settings or provider(), transport=server.transport, sleep=Sleeps() if sleep is None else sleep
    )


# ---- retries -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        SERVICE_UNAVAILABLE,
        BAD_GATEWAY,
        READ_TIMEOUT,
        CONNECT_ERROR,
        TOO_MANY_REQUESTS_NO_HINT,
        TRUNCATED,
        rpc_error(-32005, "Node is behind by 42 slots"),
        rpc_error(-32004, "Block not available for slot 123"),
        rpc_error(-32014, "Block status not yet available for slot 123"),
        rpc_error(-32016, "Minimum context slot has not been reached"),
        rpc_error(-32029, "Too many requests"),
        rpc_error(-32603, "Rate limit exceeded, slow down"),
    ],
    ids=[
        "503",
        "502-html",
        "read-timeout",
        "connect-error",
        "429",
        "truncated-json",
        "rpc-node-behind",
        "rpc-block-not-available",
        "rpc-block-status",
        "rpc-min-context-slot",
        "rpc-rate-limit-code",
        "rpc-rate-limit-message",
    ],
)
def test_transient_failures_are_retried_until_success(failure: Step) -> None:
    server = Server(failure, failure, rpc_ok(EPOCH_INFO))
    sleeps = Sleeps()

    result, exchange = client(server, sleep=sleeps).rpc("getEpochInfo", [], scope="head")

    assert result == EPOCH_INFO
    assert server.calls == 3
    assert len(sleeps) == 2
    assert exchange.status == 200
    assert exchange.body == {"jsonrpc": "2.0", "id": 1, "result": EPOCH_INFO}


def test_backoff_is_exponential_with_full_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    bounds: list[tuple[float, float]] = []

    def uniform(low: float, high: float) -> float:
        bounds.append((low, high))
        return high * 0.75

    monkeypatch.setattr(random, "uniform", uniform)
    server = Server(
        SERVICE_UNAVAILABLE, SERVICE_UNAVAILABLE, SERVICE_UNAVAILABLE, SERVICE_UNAVAILABLE, rpc_ok(1)
    )
    sleeps = Sleeps()

    client(server, sleep=sleeps).rpc("getSlot", [], scope="head")

    # Full jitter: uniformly from 0 up to multiplier x 2^(attempt-1).
    assert bounds == [(0, 0.5), (0, 1.0), (0, 2.0), (0, 4.0)]
    assert sleeps == [0.375, 0.75, 1.5, 3.0]
    assert server.calls == 5


def test_backoff_options_set_the_first_window_and_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(random, "uniform", lambda low, high: high)
    server = Server(SERVICE_UNAVAILABLE)
    sleeps = Sleeps()
    settings = provider(max_attempts=6, backoff_seconds=0.25, backoff_max_seconds=1.5)

    with pytest.raises(ProviderHttpError):
        client(server, settings, sleeps).rpc("getSlot", [], scope="head")

    assert sleeps == [0.25, 0.5, 1.0, 1.5, 1.5]
    assert server.calls == 6


def test_real_jitter_stays_inside_the_exponential_window() -> None:
    seen: list[list[float]] = []
    for _ in range(20):
        reset_provider_state()
        server = Server(*[READ_TIMEOUT] * 4, rpc_ok(1))
        sleeps = Sleeps()
        client(server, sleep=sleeps).rpc("getSlot", [], scope="head")
        assert len(sleeps) == 4
        for attempt, delay in enumerate(sleeps):
            assert 0 <= delay <= 0.5 * 2**attempt
        seen.append(list(sleeps))
    # Jittered, not fixed: the delays differ from run to run and are not pinned to the upper bound.
    assert len({tuple(run) for run in seen}) == len(seen)
    assert any(run[3] < 2.0 for run in seen)
    assert any(run[3] > 2.0 for run in seen)


def test_retry_after_seconds_is_used_exactly() -> None:
    server = Server(TOO_MANY_REQUESTS, TOO_MANY_REQUESTS, rpc_ok(EPOCH_INFO))
    sleeps = Sleeps()

    result, _ = client(server, sleep=sleeps).rpc("getEpochInfo", [], scope="head")

    assert result == EPOCH_INFO
    assert sleeps == [3.0, 3.0]
    assert server.calls == 3


def test_retry_after_http_date_is_used() -> None:
    when = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    server = Server(respond(429, headers={"Retry-After": when}, json={"error": "slow down"}), rpc_ok(5))
    sleeps = Sleeps()

    result, _ = client(server, sleep=sleeps).rpc("getSlot", [], scope="head")

    assert result == 5
    assert len(sleeps) == 1
    assert 27 <= sleeps[0] <= 30


@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_a_long_retry_after_gives_up_at_once(form: str) -> None:
    # The date is made when the test runs (not when it is collected, maybe minutes earlier).
    ten_minutes = email.utils.format_datetime(datetime.now(UTC) + timedelta(minutes=10), usegmt=True)
    retry_after = "600" if form == "seconds" else ten_minutes
    server = Server(respond(429, headers={"Retry-After": retry_after}, json={"error": "daily quota"}))
    sleeps = Sleeps()

    with pytest.raises(ProviderRateLimited) as caught:
        client(server, sleep=sleeps).rpc("getSlot", [], scope="head")

    assert server.calls == 1
    assert sleeps == []
    assert caught.value.retry_after is not None
    assert caught.value.retry_after > 500
    assert caught.value.provider == "rpc-test"
    assert caught.value.endpoint == "getSlot"


@pytest.mark.parametrize(
    ("failure", "error_type", "reason"),
    [
        (SERVICE_UNAVAILABLE, ProviderHttpError, "HTTP 503"),
        (BAD_GATEWAY, ProviderHttpError, "HTTP 502: body is not JSON (text/html"),
        (READ_TIMEOUT, ProviderTimeout, "timed out after 7 s"),
        (CONNECT_ERROR, ProviderConnectionError, "ConnectError: [Errno 111] Connection refused"),
        (TOO_MANY_REQUESTS, ProviderRateLimited, "HTTP 429 Too Many Requests"),
        (TRUNCATED, ProviderBadResponse, "body is not JSON (application/json"),
        (rpc_error(-32005, "Node is behind by 42 slots"), ProviderRpcError, "-32005: Node is behind"),
    ],
    ids=["503", "502-html", "timeout", "connect", "429", "truncated", "rpc-node-behind"],
)
def test_gives_up_after_max_attempts_with_a_typed_error(
    failure: Step, error_type: type[ProviderError], reason: str
) -> None:
    server = Server(failure)
    sleeps = Sleeps()
    settings = provider("helius", max_attempts=3)

    with pytest.raises(error_type) as caught:
        client(server, settings, sleeps).rpc("getEpochInfo", [], scope="head")

    error = caught.value
    assert type(error) is error_type
    assert server.calls == 3
    assert len(sleeps) == 2
    assert error.provider == "helius"
    assert error.endpoint == "getEpochInfo"
    assert reason in error.reason
    assert str(error).startswith("helius getEpochInfo: ")
    assert error.as_dict()["provider"] == "helius"


def test_rest_error_names_method_and_path() -> None:
    server = Server(SERVICE_UNAVAILABLE)
    settings = provider("jito", base_url=JITO_URL, max_attempts=2)

    with pytest.raises(ProviderHttpError) as caught:
        client(server, settings).get(REWARDS, params={"vote_account": VOTE, "epoch": 850}, scope="850")

    assert caught.value.endpoint == f"GET {REWARDS}"
    assert caught.value.status == 503
    assert server.calls == 2


@pytest.mark.parametrize(
    ("status", "body", "detail"),
    [
        (404, {"error": "no rewards found for vote account"}, "HTTP 404: no rewards found"),
        (400, {"message": "epoch must be a positive integer"}, "HTTP 400: epoch must be"),
        (401, {"err": "unauthorized"}, "HTTP 401: unauthorized"),
    ],
)
def test_client_errors_are_not_retried(status: int, body: dict[str, str], detail: str) -> None:
    server = Server(respond(status, json=body), respond(200, json=JITO_BODY))
    sleeps = Sleeps()
    settings = provider("jito", base_url=JITO_URL)

    with pytest.raises(ProviderHttpError) as caught:
        client(server, settings, sleeps).get(
            REWARDS, params={"vote_account": VOTE, "epoch": 850}, scope="850"
        )

    assert server.calls == 1
    assert sleeps == []
    assert caught.value.status == status
    assert caught.value.retryable is False
    assert caught.value.reason.startswith(detail)


def test_json_rpc_data_error_is_not_retried() -> None:
    server = Server(rpc_error(SLOT_SKIPPED_CODE, SLOT_SKIPPED_MESSAGE), rpc_ok({"blockTime": 1}))
    sleeps = Sleeps()

    with pytest.raises(ProviderRpcError) as caught:
        client(server, sleep=sleeps).rpc("getBlock", [123], scope="850")

    assert server.calls == 1
    assert sleeps == []
    assert caught.value.code == -32009
    assert caught.value.message == SLOT_SKIPPED_MESSAGE
    assert caught.value.endpoint == "getBlock"


def test_html_page_with_status_200_is_a_bad_response() -> None:
    server = Server(HTML_OK)
    settings = provider(max_attempts=2)

    with pytest.raises(ProviderBadResponse) as caught:
        client(server, settings).rpc("getSlot", [], scope="head")

    assert "body is not JSON (text/html" in caught.value.reason
    assert caught.value.endpoint == "getSlot"


def test_json_that_is_not_json_rpc_is_a_bad_response_without_retry() -> None:
    server = Server(respond(200, json={"status": "ok"}))
    sleeps = Sleeps()

    with pytest.raises(ProviderBadResponse) as caught:
        client(server, sleep=sleeps).rpc("getSlot", [], scope="head")

    assert "not a JSON-RPC 2.0 response" in caught.value.reason
    assert server.calls == 1
    assert sleeps == []


# ---- rate limit --------------------------------------------------------------------------------


class Clock:
    """A monotonic clock that only moves when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(http_module, "RateLimiter", functools.partial(RateLimiter, clock=clock))
    return clock


def test_rate_limit_spaces_calls_evenly(clock: Clock) -> None:
    server = Server(respond(200, json=JITO_BODY))
    settings = provider("jito", base_url=JITO_URL, rate=120)
    api = ProviderClient(settings, transport=server.transport, sleep=clock.sleep)

    for _ in range(4):
        api.get(REWARDS, params={"epoch": 850}, scope="850")

    assert clock.sleeps == [0.5, 0.5, 0.5]
    assert server.calls == 4

    clock.now += 10  # idle: the next call is free again
    api.get(REWARDS, params={"epoch": 851}, scope="851")
    assert clock.sleeps == [0.5, 0.5, 0.5]


def test_rate_limit_is_shared_per_provider(clock: Clock) -> None:
    server = Server(rpc_ok(1))
    first = ProviderClient(provider("rpc-a", rate=30), transport=server.transport, sleep=clock.sleep)
    second = ProviderClient(provider("rpc-a", rate=30), transport=server.transport, sleep=clock.sleep)
    other = ProviderClient(provider("rpc-b", rate=30), transport=server.transport, sleep=clock.sleep)
    unlimited = ProviderClient(
        provider("rpc-a", rate=30), transport=server.transport, sleep=clock.sleep, rate_limited=False
    )

    first.rpc("getSlot", [], scope="head")
    other.rpc("getSlot", [], scope="head")
    assert clock.sleeps == []
    unlimited.rpc("getSlot", [], scope="head")
    assert clock.sleeps == []
    second.rpc("getSlot", [], scope="head")
    assert clock.sleeps == [2.0]


def test_rate_limit_uses_the_injected_sleep_with_the_real_clock() -> None:
    server = Server(rpc_ok(1))
    sleeps = Sleeps()
    api = client(server, provider(rate=60), sleeps)

    api.rpc("getSlot", [], scope="head")
    api.rpc("getSlot", [], scope="head")
    api.rpc("getSlot", [], scope="head")

    # The fake sleep does not move the clock, so each call reserves the next 1 s slot.
    assert len(sleeps) == 2
    assert 0.5 < sleeps[0] <= 1.0
    assert 1.5 < sleeps[1] <= 2.0


def test_rate_limiter_reserves_slots() -> None:
    now = [0.0]
    limiter = RateLimiter(60, clock=lambda: now[0])
    assert limiter.interval == 1.0
    assert [limiter.wait_time() for _ in range(3)] == [0.0, 1.0, 2.0]
    now[0] = 2.5
    assert limiter.wait_time() == 0.5
    now[0] = 10.0
    assert limiter.wait_time() == 0.0


# ---- circuit breaker ---------------------------------------------------------------------------


def breaker_settings(name: str = "rpc-flaky", **options: Any) -> ProviderSettings:
    defaults = {"circuit_failure_threshold": 3, "circuit_reset_seconds": 0.05, "max_attempts": 2}
    return provider(name, **{**defaults, **options})


def test_circuit_opens_fails_fast_then_half_opens() -> None:
    server = Server(SERVICE_UNAVAILABLE)
    sleeps = Sleeps()
    api = client(server, breaker_settings(), sleeps)

    for _ in range(3):
        with pytest.raises(ProviderHttpError):
            api.rpc("getSlot", [], scope="head")
    assert server.calls == 6  # three failing calls, each retried once

    with pytest.raises(ProviderUnavailable) as caught:
        api.rpc("getSlot", [], scope="head")
    assert server.calls == 6  # failed fast: the transport was not touched
    assert caught.value.provider == "rpc-flaky"
    assert caught.value.endpoint == "getSlot"
    assert "circuit open" in caught.value.reason

    # Another client of the same provider shares the open circuit.
    with pytest.raises(ProviderUnavailable):
        client(server, breaker_settings()).get("/health", scope="head")
    assert server.calls == 6

    time.sleep(0.06)
    server.steps = [rpc_ok(42)]
    result, _ = api.rpc("getSlot", [], scope="head")  # the trial call goes through and closes it
    assert result == 42
    assert server.calls == 7

    server.steps = [SERVICE_UNAVAILABLE]
    for _ in range(2):
        with pytest.raises(ProviderHttpError):
            api.rpc("getSlot", [], scope="head")
    assert server.calls == 11  # closed again: the failure count started over


def test_a_failing_trial_call_reopens_the_circuit() -> None:
    server = Server(READ_TIMEOUT)
    api = client(server, breaker_settings(max_attempts=1))
    for _ in range(3):
        with pytest.raises(ProviderTimeout):
            api.rpc("getSlot", [], scope="head")
    with pytest.raises(ProviderUnavailable):
        api.rpc("getSlot", [], scope="head")

    time.sleep(0.06)
    with pytest.raises(ProviderTimeout):
        api.rpc("getSlot", [], scope="head")  # half-open: one trial call
    assert server.calls == 4
    with pytest.raises(ProviderUnavailable):
        api.rpc("getSlot", [], scope="head")
    assert server.calls == 4


def test_circuit_is_per_provider_and_reset_clears_it() -> None:
    server = Server(SERVICE_UNAVAILABLE)
    api = client(server, breaker_settings("rpc-a", max_attempts=1))
    for _ in range(3):
        with pytest.raises(ProviderHttpError):
            api.rpc("getSlot", [], scope="head")
    with pytest.raises(ProviderUnavailable):
        api.rpc("getSlot", [], scope="head")

    other = client(server, breaker_settings("rpc-b", max_attempts=1))
    with pytest.raises(ProviderHttpError):
        other.rpc("getSlot", [], scope="head")
    assert server.calls == 4

    reset_provider_state()
    fresh = client(server, breaker_settings("rpc-a", max_attempts=1))
    with pytest.raises(ProviderHttpError):
        fresh.rpc("getSlot", [], scope="head")
    assert server.calls == 5


@pytest.mark.parametrize(
    "answer",
    [
        respond(404, json={"error": "Not Found"}),
        respond(
            400, json={"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "Invalid request"}}
        ),
        rpc_error(SLOT_SKIPPED_CODE, SLOT_SKIPPED_MESSAGE),
        rpc_error(-32602, "Invalid param: WrongSize"),
        respond(200, json={"status": "ok"}),
    ],
    ids=["404", "400", "rpc-slot-skipped", "rpc-invalid-param", "not-json-rpc"],
)
def test_request_and_data_errors_do_not_open_the_circuit(answer: Step) -> None:
    server = Server(answer)
    api = client(server, breaker_settings())

    for _ in range(6):
        with pytest.raises(ProviderError) as caught:
            api.rpc("getBlock", [123], scope="850")
        assert not isinstance(caught.value, ProviderUnavailable)
    assert server.calls == 6

    server.steps = [rpc_ok({"blockTime": 1_700_000_000})]
    result, _ = api.rpc("getBlock", [123], scope="850")
    assert result == {"blockTime": 1_700_000_000}


# ---- JSON-RPC batches --------------------------------------------------------------------------


def block_time(call: dict[str, Any]) -> dict[str, Any]:
    return {"result": 1_700_000_000 + call["params"][0]}


def test_batches_are_chunked_and_answers_matched_by_id() -> None:
    server = Server(rpc_batch_answer(block_time, reverse=True))
    calls = [RpcCall("getBlockTime", [slot]) for slot in range(100, 105)]

    outcomes, exchanges = client(server).rpc_batch(
        calls, scope="850", request_key="block-times", batch_size=2
    )

    assert [outcome.call for outcome in outcomes] == calls
    assert [outcome.result for outcome in outcomes] == [1_700_000_000 + slot for slot in range(100, 105)]
    assert all(outcome.error is None for outcome in outcomes)
    assert server.bodies() == [
        [
            {"jsonrpc": "2.0", "id": 0, "method": "getBlockTime", "params": [100]},
            {"jsonrpc": "2.0", "id": 1, "method": "getBlockTime", "params": [101]},
        ],
        [
            {"jsonrpc": "2.0", "id": 0, "method": "getBlockTime", "params": [102]},
            {"jsonrpc": "2.0", "id": 1, "method": "getBlockTime", "params": [103]},
        ],
        [{"jsonrpc": "2.0", "id": 0, "method": "getBlockTime", "params": [104]}],
    ]
    assert [exchange.request_key for exchange in exchanges] == [
        "block-times#0000",
        "block-times#0001",
        "block-times#0002",
    ]
    assert [exchange.body[0]["id"] for exchange in exchanges] == [1, 1, 0]  # kept exactly as received


def test_batch_size_defaults_to_the_provider_option() -> None:
    server = Server(rpc_batch_answer(block_time))
    calls = [RpcCall("getBlockTime", [slot]) for slot in range(7)]

    outcomes, exchanges = client(server, provider(max_batch_size=3)).rpc_batch(
        calls, scope="850", request_key="block-times"
    )

    assert [len(body) for body in server.bodies()] == [3, 3, 1]
    assert len(exchanges) == 3
    assert [outcome.result for outcome in outcomes] == [1_700_000_000 + slot for slot in range(7)]


def test_per_call_errors_in_a_batch_are_returned_not_raised() -> None:
    def answer(call: dict[str, Any]) -> dict[str, Any]:
        if call["params"][0] == 123:
            return {"error": SLOT_SKIPPED}
        return {"result": {"blockTime": 1_700_000_000, "rewards": []}}

    server = Server(rpc_batch_answer(answer, reverse=True))
    sleeps = Sleeps()
    calls = [RpcCall("getBlock", [slot, {"rewards": True}]) for slot in (122, 123, 124)]

    outcomes, _ = client(server, sleep=sleeps).rpc_batch(calls, scope="850", request_key="blocks")

    assert server.calls == 1
    assert sleeps == []
    assert outcomes[0].result == {"blockTime": 1_700_000_000, "rewards": []}
    assert outcomes[2].result == {"blockTime": 1_700_000_000, "rewards": []}
    error = outcomes[1].error
    assert isinstance(error, ProviderRpcError)
    assert error.code == -32009
    assert error.endpoint == "getBlock"
    assert outcomes[1].result is None


@pytest.mark.parametrize(
    "limited",
    [
        rpc_error(-32429, "rate limit exceeded"),
        rpc_error(-32029, "Too many requests for a specific RPC call"),
        rpc_batch_answer(lambda call: {"error": {"code": -32029, "message": "Too many requests"}}),
    ],
    ids=["whole-batch-32429", "whole-batch-32029", "inside-batch"],
)
def test_a_rate_limited_batch_is_retried(limited: Step) -> None:
    server = Server(limited, rpc_batch_answer(block_time))
    sleeps = Sleeps()
    calls = [RpcCall("getBlockTime", [slot]) for slot in (1, 2)]

    outcomes, exchanges = client(server, sleep=sleeps).rpc_batch(calls, scope="850", request_key="t")

    assert server.calls == 2
    assert len(sleeps) == 1
    assert [outcome.result for outcome in outcomes] == [1_700_000_001, 1_700_000_002]
    assert len(exchanges) == 1


def test_a_batch_answer_without_a_call_is_a_bad_response() -> None:
    server = Server(respond(200, json=[{"jsonrpc": "2.0", "id": 0, "result": 1}]))

    with pytest.raises(ProviderBadResponse) as caught:
        client(server).rpc_batch(
            [RpcCall("getBlockTime", [1]), RpcCall("getBlockTime", [2])], scope="850", request_key="t"
        )

    assert "no answer for call 1" in caught.value.reason
    assert caught.value.endpoint == "getBlockTime batch"


# ---- API keys ----------------------------------------------------------------------------------


@pytest.fixture
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(KEY_ENV, SECRET)
    return SECRET


def test_api_key_as_bearer_header(api_key: str) -> None:
    server = Server(rpc_ok(1))

    _, exchange = client(server, provider(key_env=KEY_ENV)).rpc("getSlot", [], scope="head")

    assert server.requests[0].headers["Authorization"] == f"Bearer {api_key}"
    assert api_key not in str(server.requests[0].url)
    assert api_key not in json.dumps(exchange.request)
    assert exchange.request == {
        "method": "POST",
        "url": f"{RPC_URL}/",
        "body": {"jsonrpc": "2.0", "id": 1, "method": "getSlot", "params": []},
    }


def test_api_key_in_a_custom_header(api_key: str) -> None:
    server = Server(respond(200, json=JITO_BODY))
    settings = provider("jito", base_url=JITO_URL, key_env=KEY_ENV, api_key_header="X-API-Key")

    exchange = client(server, settings).get(REWARDS, params={"vote_account": VOTE}, scope="850")

    assert server.requests[0].headers["X-API-Key"] == api_key
    assert "Authorization" not in server.requests[0].headers
    assert api_key not in json.dumps(exchange.request)


def test_api_key_as_query_parameter(api_key: str) -> None:
    server = Server(respond(200, json=JITO_BODY))
    settings = provider("jito", base_url=JITO_URL, key_env=KEY_ENV, api_key_param="api-key")

    exchange = client(server, settings).get(
        REWARDS, params={"vote_account": VOTE, "epoch": 850, "limit": None}, scope="850"
    )

    sent = server.requests[0]
    assert dict(sent.url.params) == {"vote_account": VOTE, "epoch": "850", "api-key": api_key}
    assert "Authorization" not in sent.headers
    assert exchange.request == {
        "method": "GET",
        "url": f"{JITO_URL}{REWARDS}",
        "query": {"vote_account": VOTE, "epoch": "850"},
    }
    assert api_key not in json.dumps(exchange.request)
    assert exchange.body == JITO_BODY


def test_no_key_configured_sends_no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    server = Server(rpc_ok(1))

    client(server, provider(key_env=KEY_ENV)).rpc("getSlot", [], scope="head")

    assert "Authorization" not in server.requests[0].headers


@pytest.mark.parametrize(
    ("answer", "call"),
    [
        (
            respond(401, json={"error": f"invalid api key {SECRET}"}),
            lambda api: api.get(REWARDS, params={"epoch": 850}, scope="850"),
        ),
        (
            rpc_error(-32602, f"Invalid params: api-key={SECRET} is not allowed for getBlock"),
            lambda api: api.rpc("getBlock", [1], scope="850"),
        ),
        (
            rpc_error(-32429, f"rate limit exceeded for api key {SECRET}"),
            lambda api: api.rpc("getBlock", [1], scope="850"),
        ),
        (
            raises(httpx.ConnectError, f"cannot connect to {RPC_URL}/?api-key={SECRET}"),
            lambda api: api.rpc("getBlock", [1], scope="850"),
        ),
        (
            respond(503, json={"message": f"upstream failed for {SECRET}"}),
            lambda api: api.rpc("getBlock", [1], scope="850"),
        ),
    ],
    ids=["http-401", "rpc-error", "rpc-rate-limit", "connect-error", "http-503"],
)
def test_api_key_is_redacted_from_errors(
    api_key: str, answer: Step, call: Callable[[ProviderClient], Any]
) -> None:
    server = Server(answer)
    api = client(server, provider(key_env=KEY_ENV, api_key_param="api-key", max_attempts=2))

    with pytest.raises(ProviderError) as caught:
        call(api)

    error = caught.value
    assert server.requests[0].url.params["api-key"] == api_key  # the server did see it
    assert api_key not in str(error)
    assert api_key not in error.reason
    assert api_key not in json.dumps(error.as_dict())
    assert api_key not in repr(error.args)
    assert "***" in error.reason


def test_api_key_is_redacted_from_per_call_batch_errors(api_key: str) -> None:
    server = Server(
        rpc_batch_answer(lambda call: {"error": {"code": -32602, "message": f"bad key {SECRET}"}})
    )
    api = client(server, provider(key_env=KEY_ENV, api_key_param="api-key"))

    outcomes, exchanges = api.rpc_batch([RpcCall("getBlock", [1])], scope="850", request_key="b")

    assert outcomes[0].error is not None
    assert api_key not in str(outcomes[0].error)
    assert api_key not in json.dumps(exchanges[0].request)


def test_required_api_key_missing_is_not_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    server = Server(rpc_ok(1))
    settings = provider("helius", key_env=KEY_ENV, api_key_required=True)

    with pytest.raises(ProviderNotConfigured) as caught:
        client(server, settings)

    assert caught.value.provider == "helius"
    assert KEY_ENV in caught.value.reason
    assert server.calls == 0

    # Blank counts as missing; replay does not need credentials.
    monkeypatch.setenv(KEY_ENV, "   ")
    with pytest.raises(ProviderNotConfigured):
        client(server, settings)
    ProviderClient(settings, transport=server.transport, sleep=Sleeps(), require_credentials=False)
