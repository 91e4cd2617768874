"""Bad provider data never crashes a run or writes half an item.

Each test ingests epoch 852 from the simulated cluster with one provider's answers spoiled the
way real providers spoil them (missing or mistyped fields, nulls, truncated JSON, HTML error
pages, 429 storms, timeouts, a provider that is down), then checks the run's final status, the
failures it recorded, and that staging holds whole items only: a failed item has no rows at all,
a staged item has exactly the rows (request keys and payloads) of a clean run.

Rate limits are switched off here so every sleep the run asks for is a retry wait; the injected
sleep only records, nothing sleeps for real.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings
from django.db import transaction

from chains.models import Period, Provider
from demo.simulated.solana import SimulatedSolana
from ingestion.models import DataType, IngestionRun, IngestionStatus, StagingPayload
from ingestion.providers.base import ProviderAdapter
from ingestion.providers.http import reset_provider_state
from ingestion.providers.registry import TransportMode
from ingestion.services import IngestOptions, ingest_range
from tests.ingestion.test_ingestion import (  # noqa: F401  (fixtures used by name)
    ITEMS_PER_VALIDATOR,
    _clean_provider_state,
    simulated,
    staging_rows,
)
from tests.solana_demo import CHAIN, VALIDATORS, delete_staged

EPOCH = 852
ITEMS = 3 * ITEMS_PER_VALIDATOR
MAX_ATTEMPTS = 5  # ProviderClient's default `max_attempts`
ALPHA, BETA, GAMMA = VALIDATORS  # Gamma does not run Jito: Kobe has no rows for it
JITO_VALIDATORS = (ALPHA, BETA)
VALIDATOR_REWARDS = "GET /api/v1/validator_rewards"

Handler = Callable[[httpx.Request], httpx.Response]
ItemKey = tuple[str, str, str]  # (validator, provider, data type)
Rows = frozenset[tuple[str, str]]  # (request key, response hash)
Expected = dict[ItemKey, tuple[str, str, str]]  # item -> (kind, endpoint, reason substring)

_clean_runs: dict[str, dict[ItemKey, Rows]] = {}


@pytest.fixture(autouse=True)
def _no_rate_limits(registry: None) -> None:
    Provider.objects.update(rate_limit_per_minute=None)


# ---- helpers -------------------------------------------------------------------------------------


def configure(provider: str, **options: Any) -> None:
    """Merge options into a provider's row (ProviderSettings.from_model reads them)."""
    row = Provider.objects.get(provider_name=provider)
    Provider.objects.filter(pk=row.pk).update(options={**(row.options or {}), **options})


def staged_items() -> dict[ItemKey, Rows]:
    rows: dict[ItemKey, set[tuple[str, str]]] = defaultdict(set)
    for validator, provider, data_type, key, digest in StagingPayload.objects.filter(
        period__period_identifier=str(EPOCH)
    ).values_list("validator_key", "provider__provider_name", "data_type", "request_key", "response_hash"):
        rows[(validator, provider, data_type)].add((key, digest))
    return {item: frozenset(keys) for item, keys in rows.items()}


class _Rollback(Exception):
    pass


def clean_items(configuration: str = "default") -> dict[ItemKey, Rows]:
    """What a clean run of the epoch stages, per item, under the current provider configuration
    (computed once per configuration name, inside a rolled-back savepoint)."""
    if configuration not in _clean_runs:
        try:
            with transaction.atomic():
                (run,) = ingest(SimulatedSolana())
                assert run.status == IngestionStatus.SUCCESS, run.error_message
                _clean_runs[configuration] = staged_items()
                raise _Rollback
        except _Rollback:
            pass
        reset_provider_state()
    items = _clean_runs[configuration]
    assert len(items) == ITEMS and all(items.values())
    return items


def ingest(
    world: SimulatedSolana, *, sleeps: list[float] | None = None, **handlers: Handler
) -> list[IngestionRun]:
    options: IngestOptions = simulated(world, **handlers)
    options.sleep = sleeps.append if sleeps is not None else (lambda _s: None)
    return ingest_range(chain_id=CHAIN, first=EPOCH, last=EPOCH, options=options)


def assert_run(run: IngestionRun, status: str, expected: Expected, clean: dict[ItemKey, Rows]) -> None:
    """Status, the recorded failures (exactly the expected items), the error message, and staging
    holding whole items only."""
    assert run.period is not None and run.period.period_identifier == str(EPOCH)
    assert run.status == status, run.error_message
    failed = {(f["validator"], f["provider"], f["data_type"]): f for f in run.failures}
    assert len(failed) == len(run.failures) == run.items_failed
    assert set(failed) == set(expected)
    for item, (kind, endpoint, reason) in expected.items():
        failure = failed[item]
        assert (failure["kind"], failure.get("endpoint", "")) == (kind, endpoint), failure
        assert reason in failure["reason"], failure
    assert run.items_total == ITEMS
    assert run.items_succeeded + run.items_skipped + run.items_failed == ITEMS
    if expected:
        first = run.failures[0]
        assert run.error_message is not None
        assert run.error_message.startswith(
            f"{len(expected)} of {ITEMS} items failed; first: "
            f"{first['validator']} {first['provider']} {first['data_type']}: {first.get('endpoint', '')}"
        )
    else:
        assert not run.error_message
    staged = staged_items()
    assert set(staged) <= set(clean)
    for item, rows in clean.items():
        if item in expected:
            assert item not in staged, f"failed item {item} left rows: {sorted(staged[item])}"
        else:
            assert staged.get(item) == rows, f"{item} is not whole"
    assert StagingPayload.objects.count() == sum(len(rows) for rows in staged.values())


def items(validators: tuple[str, ...] | list[str], provider: str, data_type: DataType) -> list[ItemKey]:
    return [(validator, provider, str(data_type)) for validator in validators]


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        status,
        content=json.dumps(body).encode(),
        headers={"content-type": "application/json; charset=utf-8", **(headers or {})},
    )


def rewritten(handler: Handler, change: Callable[[Any], None]) -> Handler:
    """The simulator's answer, parsed, changed in place and sent back as JSON."""

    def answer(request: httpx.Request) -> httpx.Response:
        response = handler(request)
        body = json.loads(response.content)
        change(body)
        return json_response(response.status_code, body)

    return answer


def rpc_calls(request: httpx.Request) -> list[dict[str, Any]]:
    body = json.loads(request.content)
    return body if isinstance(body, list) else [body]


NGINX_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


# ---- missing, mistyped and null fields -----------------------------------------------------------


def test_jito_rows_without_mev_revenue_fail_the_mev_items_and_stage_everything_else() -> None:
    clean = clean_items()
    world = SimulatedSolana()

    def drop_revenue(body: Any) -> None:
        for row in body["rewards"]:
            del row["mev_revenue"]

    (run,) = ingest(world, jito=rewritten(world.handler("jito"), drop_revenue))

    reason = "unexpected response shape at rewards.0.mev_revenue: Field required"
    expected = dict.fromkeys(
        items(JITO_VALIDATORS, "jito", DataType.MEV), ("bad_response", VALIDATOR_REWARDS, reason)
    )
    assert_run(run, IngestionStatus.PARTIAL, expected, clean)
    # Gamma runs no Jito: its (empty) Kobe answer has no row to miss a field, and is staged.
    assert staged_items()[(GAMMA, "jito", "MEV")] == clean[(GAMMA, "jito", "MEV")]
    assert not StagingPayload.objects.filter(
        data_type=DataType.MEV, validator_key__in=JITO_VALIDATORS
    ).exists()
    assert (run.items_succeeded, run.items_failed) == (ITEMS - 2, 2)


@pytest.mark.parametrize(
    ("mistyped", "problem"),
    [
        (str, "Input should be a valid integer"),
        (float, "Input should be a valid integer"),
    ],
    ids=["string", "float"],
)
def test_a_mistyped_stake_reward_amount_fails_that_validator_s_whole_rewards_item(
    mistyped: Callable[[int], Any], problem: str
) -> None:
    # Small batches: Beta's 141 addresses go out as 15 calls in 8 HTTP requests, most of them fine.
    configure("solana-rpc", inflation_reward_addresses=10, archival_batch_size=2)
    clean = clean_items("small reward batches")
    world = SimulatedSolana()
    accounts = [account for account in world.stake_accounts(BETA, EPOCH) if account.earning]
    target = accounts[len(accounts) * 3 // 4].pubkey
    rpc = world.handler("solana-rpc")
    spoiled: list[Any] = []

    def spoil_amount(request: httpx.Request) -> httpx.Response:
        response = rpc(request)
        calls = {call["id"]: call for call in rpc_calls(request)}
        if not any(call["method"] == "getInflationReward" for call in calls.values()):
            return response
        answers = json.loads(response.content)
        for answer in answers if isinstance(answers, list) else [answers]:
            addresses = calls[answer["id"]]["params"][0]
            if target in addresses:
                value = answer["result"][addresses.index(target)]
                value["amount"] = mistyped(value["amount"])
                spoiled.append(value["amount"])
        return json_response(response.status_code, answers)

    (run,) = ingest(world, solana_rpc=spoil_amount)

    assert len(spoiled) == 1 and type(spoiled[0]) is mistyped  # one answer in one later batch
    reward_batches = [key for key, _ in clean[(BETA, "solana-rpc", "REWARDS")] if key.startswith("inflation")]
    assert len(reward_batches) == 8
    expected = {
        (BETA, "solana-rpc", "REWARDS"): ("bad_response", "getInflationReward", f"amount: {problem}"),
    }
    assert_run(run, IngestionStatus.PARTIAL, expected, clean)
    # Neither the stake-accounts listing nor the batches that were fine are kept for Beta.
    assert not StagingPayload.objects.filter(validator_key=BETA, data_type=DataType.REWARDS).exists()
    assert StagingPayload.objects.filter(validator_key=BETA).count() > 0


@pytest.mark.parametrize(
    ("provider", "field", "failing", "endpoint", "reason"),
    [
        (
            "stakewiz",
            "commission",
            VALIDATORS,
            "GET /validator/{vote}",
            "unexpected response shape at commission: Input should be a valid number",
        ),
        (
            "jito",
            "mev_commission",
            JITO_VALIDATORS,
            VALIDATOR_REWARDS,
            "unexpected response shape at rewards.0.mev_commission: Input should be a valid integer",
        ),
    ],
    ids=["stakewiz-commission", "jito-mev_commission"],
)
def test_null_where_a_number_belongs_fails_the_item(
    provider: str, field: str, failing: list[str], endpoint: str, reason: str
) -> None:
    clean = clean_items()
    world = SimulatedSolana()

    def null(body: Any) -> None:
        for row in body["rewards"] if provider == "jito" else [body]:
            row[field] = None

    options = simulated(world, **{provider: rewritten(world.handler(provider), null)})
    options.sleep = lambda _s: None
    (run,) = ingest_range(chain_id=CHAIN, first=EPOCH, last=EPOCH, options=options)

    data_type = DataType.META if provider == "stakewiz" else DataType.MEV
    expected = dict.fromkeys(items(failing, provider, data_type), ("bad_response", endpoint, reason))
    assert_run(run, IngestionStatus.PARTIAL, expected, clean)


# ---- broken bodies and error pages ---------------------------------------------------------------


def test_a_get_block_batch_cut_mid_json_fails_the_rpc_fees_item_after_retries() -> None:
    clean = clean_items()
    world = SimulatedSolana()
    slot = world.produced_slots(ALPHA, EPOCH)[0]
    rpc = world.handler("solana-rpc")
    truncated: list[bytes] = []

    def cut(request: httpx.Request) -> httpx.Response:
        response = rpc(request)
        if any(call["method"] == "getBlock" and call["params"][0] == slot for call in rpc_calls(request)):
            truncated.append(response.content[: len(response.content) // 2])
            return httpx.Response(200, content=truncated[-1], headers={"content-type": "application/json"})
        return response

    sleeps: list[float] = []
    (run,) = ingest(world, sleeps=sleeps, solana_rpc=cut)

    assert len(truncated) == MAX_ATTEMPTS  # retried: a cut body is usually transient
    assert len(sleeps) == MAX_ATTEMPTS - 1
    expected = {
        (ALPHA, "solana-rpc", "FEES"): (
            "bad_response",
            "getBlock batch",
            f"body is not JSON (application/json, {len(truncated[0])} bytes: Unterminated string",
        ),
    }
    assert_run(run, IngestionStatus.PARTIAL, expected, clean)
    assert staged_items()[(ALPHA, "solanabeach", "FEES")] == clean[(ALPHA, "solanabeach", "FEES")]


def test_html_502_pages_from_solana_beach_fail_its_items_as_http_errors_after_retries() -> None:
    clean = clean_items()
    configure("solanabeach", circuit_failure_threshold=100)  # every item tries on its own
    calls: list[str] = []

    def bad_gateway(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(502, content=NGINX_502.encode(), headers={"content-type": "text/html"})

    sleeps: list[float] = []
    (run,) = ingest(SimulatedSolana(), sleeps=sleeps, solanabeach=bad_gateway)

    failing = items(VALIDATORS, "solanabeach", DataType.META) + items(
        VALIDATORS, "solanabeach", DataType.FEES
    )
    reason = f"HTTP 502: body is not JSON (text/html, {len(NGINX_502)} bytes: Expecting value"
    # Both items start with the validator lookup; its path is the endpoint.
    expected = {
        (validator, provider, data_type): ("http", f"GET /validator/{validator}", reason)
        for validator, provider, data_type in failing
    }
    assert_run(run, IngestionStatus.PARTIAL, expected, clean)
    assert len(calls) == len(failing) * MAX_ATTEMPTS
    assert len(sleeps) == len(failing) * (MAX_ATTEMPTS - 1)
    assert all(0 <= pause <= 30 for pause in sleeps)  # backoff, capped at backoff_max_seconds


def test_a_200_html_page_instead_of_json_is_a_bad_response() -> None:
    clean = clean_items()

    def challenge(_request: httpx.Request) -> httpx.Response:
        page = "<!DOCTYPE html><html><head><title>Just a moment...</title></head><body></body></html>"
        return httpx.Response(
            200, content=page.encode(), headers={"content-type": "text/html; charset=UTF-8"}
        )

    (run,) = ingest(SimulatedSolana(), stakewiz=challenge)

    expected = {
        (validator, "stakewiz", "META"): (
            "bad_response",
            f"GET /validator/{validator}",
            "body is not JSON (text/html",
        )
        for validator in VALIDATORS
    }
    assert_run(run, IngestionStatus.PARTIAL, expected, clean)


def test_json_rpc_errors_fail_the_item_with_the_node_s_code_and_message() -> None:
    clean = clean_items()
    world = SimulatedSolana()
    rpc = world.handler("solana-rpc")
    slot = world.produced_slots(GAMMA, EPOCH)[0]
    excluded = "Stake11111111111111111111111111111111111111 excluded from account secondary indexes"
    program_account_calls: list[int] = []

    def node_errors(request: httpx.Request) -> httpx.Response:
        calls = rpc_calls(request)
        if calls[0]["method"] == "getProgramAccounts":  # a whole-request error: a data answer, final
            program_account_calls.append(1)
            error = {"code": -32010, "message": f"{excluded}; this RPC method unavailable for key"}
            return json_response(200, {"jsonrpc": "2.0", "error": error, "id": calls[0]["id"]})
        response = rpc(request)
        if not any(call["method"] == "getBlock" and call["params"][0] == slot for call in calls):
            return response
        answers = json.loads(response.content)  # one call's error inside an otherwise good batch
        for answer in answers:
            if calls[answer["id"]]["params"][0] == slot:
                del answer["result"]
                answer["error"] = {"code": -32004, "message": f"Block not available for slot {slot}"}
        return json_response(200, answers)

    (run,) = ingest(world, solana_rpc=node_errors)

    expected: Expected = dict.fromkeys(
        items(VALIDATORS, "solana-rpc", DataType.REWARDS),
        ("rpc", "getProgramAccounts", f"JSON-RPC error -32010: {excluded}"),
    )
    expected[(GAMMA, "solana-rpc", "FEES")] = (
        "rpc",
        "getBlock",
        f"JSON-RPC error -32004: Block not available for slot {slot}",
    )
    assert_run(run, IngestionStatus.PARTIAL, expected, clean)
    assert len(program_account_calls) == len(VALIDATORS)  # not retried


def spoiled(world: SimulatedSolana, spoil: Callable[[str], str]) -> Callable[[httpx.Request], httpx.Response]:
    stakewiz = world.handler("stakewiz")

    def handler(request: httpx.Request) -> httpx.Response:
        text = stakewiz(request).text
        assert spoil(text) != text
        return httpx.Response(200, content=spoil(text).encode(), headers={"content-type": "application/json"})

    return handler


def test_nan_is_not_json_even_though_python_would_read_it() -> None:
    clean = clean_items()
    world = SimulatedSolana()
    nan = spoiled(world, lambda text: text.replace('"uptime":100.0', '"uptime":NaN'))

    (run,) = ingest(world, stakewiz=nan)

    expected = {
        item: ("bad_response", f"GET /validator/{item[0]}", "NaN is not JSON")
        for item in items(VALIDATORS, "stakewiz", DataType.META)
    }
    assert_run(run, IngestionStatus.PARTIAL, expected, clean)


@pytest.mark.parametrize(
    ("spoil", "detail"),
    [
        (lambda text: text.replace('"mod":false', '"mod":"\\u0000"'), "\\u0000 cannot be converted to text"),
        (lambda text: text.replace('"mod":false', '"mod":"\\ud800"'), "surrogate"),
    ],
    ids=["NUL", "lone-surrogate"],
)
def test_a_payload_postgresql_cannot_store_fails_its_item_whole(
    spoil: Callable[[str], str], detail: str
) -> None:
    # Valid JSON, and valid for the adapter (the field is not one it reads), but not for jsonb.
    clean = clean_items()
    world = SimulatedSolana()

    (run,) = ingest(world, stakewiz=spoiled(world, spoil))

    expected = dict.fromkeys(items(VALIDATORS, "stakewiz", DataType.META), ("storage", "staging", detail))
    assert_run(run, IngestionStatus.PARTIAL, expected, clean)
    assert all(f["reason"].startswith("could not be staged: ") for f in run.failures)


# ---- rate limits and timeouts --------------------------------------------------------------------


def test_a_short_429_storm_is_waited_out_with_retry_after() -> None:
    clean = clean_items()
    world = SimulatedSolana()
    jito = world.handler("jito")
    calls: list[int] = []

    def storm(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) <= 3:
            return json_response(429, {"error": "Too Many Requests"}, {"retry-after": "2"})
        return jito(request)

    sleeps: list[float] = []
    (run,) = ingest(world, sleeps=sleeps, jito=storm)

    assert_run(run, IngestionStatus.SUCCESS, {}, clean)
    assert sleeps == [2.0, 2.0, 2.0]
    assert len(calls) == 3 + len(VALIDATORS)


def test_a_429_storm_that_never_ends_fails_the_mev_items_as_rate_limited() -> None:
    clean = clean_items()
    configure("jito", circuit_failure_threshold=100)
    calls: list[int] = []

    def storm(_request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return json_response(429, {"error": "Too Many Requests"}, {"retry-after": "2"})

    sleeps: list[float] = []
    (run,) = ingest(SimulatedSolana(), sleeps=sleeps, jito=storm)

    expected = dict.fromkeys(
        items(VALIDATORS, "jito", DataType.MEV),
        ("rate_limited", VALIDATOR_REWARDS, "HTTP 429 Too Many Requests"),
    )
    assert_run(run, IngestionStatus.PARTIAL, expected, clean)
    assert len(calls) == len(VALIDATORS) * MAX_ATTEMPTS
    assert sleeps == [2.0] * (len(VALIDATORS) * (MAX_ATTEMPTS - 1))


def test_a_retry_after_longer_than_a_run_should_wait_gives_up_at_once() -> None:
    clean = clean_items()
    calls: list[int] = []

    def closed_for_an_hour(_request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return json_response(429, {"error": "Too Many Requests"}, {"retry-after": "3600"})

    sleeps: list[float] = []
    (run,) = ingest(SimulatedSolana(), sleeps=sleeps, jito=closed_for_an_hour)

    expected = dict.fromkeys(
        items(VALIDATORS, "jito", DataType.MEV), ("rate_limited", VALIDATOR_REWARDS, "HTTP 429")
    )
    assert_run(run, IngestionStatus.PARTIAL, expected, clean)
    assert len(calls) == len(VALIDATORS)
    assert sleeps == []


def test_stakewiz_timeouts_fail_its_items_as_timeouts() -> None:
    clean = clean_items()
    configure("stakewiz", circuit_failure_threshold=100)
    calls: list[int] = []

    def hang(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise httpx.ReadTimeout("The read operation timed out", request=request)

    sleeps: list[float] = []
    (run,) = ingest(SimulatedSolana(), sleeps=sleeps, stakewiz=hang)

    expected = {
        (validator, "stakewiz", "META"): ("timeout", f"GET /validator/{validator}", "timed out after 30 s")
        for validator in VALIDATORS
    }
    assert_run(run, IngestionStatus.PARTIAL, expected, clean)
    assert len(calls) == len(VALIDATORS) * MAX_ATTEMPTS
    assert len(sleeps) == len(VALIDATORS) * (MAX_ATTEMPTS - 1)


# ---- providers that are down ---------------------------------------------------------------------


def test_a_provider_down_for_the_whole_run_trips_its_circuit_and_later_items_fail_fast() -> None:
    clean = clean_items()
    configure("solanabeach", circuit_failure_threshold=2)
    calls: list[str] = []

    def down(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    sleeps: list[float] = []
    (run,) = ingest(SimulatedSolana(), sleeps=sleeps, solanabeach=down)

    beach = [item for item in clean if item[1] == "solanabeach"]
    assert len(beach) == 2 * len(VALIDATORS)
    recorded = [(f["validator"], f["provider"], f["data_type"]) for f in run.failures]
    assert sorted(recorded) == sorted(beach)
    kinds = [f["kind"] for f in run.failures]
    assert kinds == ["connection"] * 2 + ["unavailable"] * (len(beach) - 2)
    expected: Expected = {}
    for failure in run.failures:
        item = (failure["validator"], failure["provider"], failure["data_type"])
        endpoint = f"GET /validator/{failure['validator']}"
        if failure["kind"] == "connection":
            expected[item] = ("connection", endpoint, "ConnectError: [Errno 111] Connection refused")
        else:
            expected[item] = ("unavailable", endpoint, "circuit open after repeated failures; retry in 60 s")
    assert_run(run, IngestionStatus.PARTIAL, expected, clean)
    assert len(calls) == 2 * MAX_ATTEMPTS  # nothing after the circuit opened
    assert len(sleeps) == 2 * (MAX_ATTEMPTS - 1)


def test_the_period_source_down_gives_one_failed_run_without_a_period_and_stages_nothing() -> None:
    calls: Counter[str] = Counter()

    def down(request: httpx.Request) -> httpx.Response:
        calls[request.url.host] += 1
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    def counted(provider: str) -> Handler:
        handler = SimulatedSolana().handler(provider)

        def call(request: httpx.Request) -> httpx.Response:
            calls[provider] += 1
            return handler(request)

        return call

    runs = ingest(
        SimulatedSolana(),
        solana_rpc=down,
        jito=counted("jito"),
        stakewiz=counted("stakewiz"),
        solanabeach=counted("solanabeach"),
    )

    assert len(runs) == 1
    (run,) = runs
    run.refresh_from_db()
    assert run.status == IngestionStatus.FAILED
    assert run.period is None
    assert run.completed_at is not None
    assert run.error_message is not None
    assert run.error_message.startswith(
        f"periods {EPOCH}-{EPOCH} could not be listed: solana-rpc getEpochSchedule: ConnectError"
    )
    assert run.failures == [
        {
            "kind": "connection",
            "provider": "solana-rpc",
            "endpoint": "getEpochSchedule",
            "reason": "ConnectError: [Errno 111] Connection refused",
        }
    ]
    assert calls == {"api.mainnet-beta.solana.com": MAX_ATTEMPTS}
    assert not StagingPayload.objects.exists()
    assert not Period.objects.filter(chain_id=CHAIN).exists()
    assert IngestionRun.objects.count() == 1


def test_a_period_where_every_provider_answers_500_is_failed_with_a_summary() -> None:
    clean = clean_items()
    for provider in ("solana-rpc", "jito", "stakewiz", "solanabeach"):
        configure(provider, circuit_failure_threshold=100)
    world = SimulatedSolana()
    rpc = world.handler("solana-rpc")

    def broken(request: httpx.Request) -> httpx.Response:
        return json_response(500, {"error": "Internal Server Error"})

    def broken_after_listing(request: httpx.Request) -> httpx.Response:
        # The epoch is listed (scopes "head" and "852"); every per-validator call fails.
        if "/" in str(request.extensions.get("aurora.scope", "")):
            return broken(request)
        return rpc(request)

    (run,) = ingest(world, solana_rpc=broken_after_listing, jito=broken, stakewiz=broken, solanabeach=broken)

    assert len(run.failures) == ITEMS
    expected = {
        (f["validator"], f["provider"], f["data_type"]): (
            "http",
            f["endpoint"],
            "HTTP 500: Internal Server Error",
        )
        for f in run.failures
    }
    assert set(expected) == set(clean)
    assert_run(run, IngestionStatus.FAILED, expected, clean)
    assert run.error_message is not None
    assert run.error_message.startswith(f"{ITEMS} of {ITEMS} items failed; first: ")
    assert (run.items_succeeded, run.items_skipped, run.items_failed) == (0, 0, ITEMS)
    assert run.records_staged == 0
    assert not StagingPayload.objects.exists()


# ---- recovery ------------------------------------------------------------------------------------


def test_a_rerun_after_the_faults_are_gone_stages_only_the_missing_items_and_matches_a_clean_run() -> None:
    clean = clean_items()
    world = SimulatedSolana()
    slot = world.produced_slots(BETA, EPOCH)[0]
    rpc = world.handler("solana-rpc")

    def drop_revenue(body: Any) -> None:
        for row in body["rewards"]:
            del row["mev_revenue"]

    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("The read operation timed out", request=request)

    def cut(request: httpx.Request) -> httpx.Response:
        response = rpc(request)
        if any(call["method"] == "getBlock" and call["params"][0] == slot for call in rpc_calls(request)):
            return httpx.Response(
                200, content=response.content[:100], headers={"content-type": "application/json"}
            )
        return response

    (faulty,) = ingest(
        world, jito=rewritten(world.handler("jito"), drop_revenue), stakewiz=hang, solana_rpc=cut
    )
    failed = {(f["validator"], f["provider"], f["data_type"]): f["kind"] for f in faulty.failures}
    assert failed == {
        **dict.fromkeys(items(JITO_VALIDATORS, "jito", DataType.MEV), "bad_response"),
        **dict.fromkeys(items(VALIDATORS, "stakewiz", DataType.META), "timeout"),
        (BETA, "solana-rpc", "FEES"): "bad_response",
    }
    assert faulty.status == IngestionStatus.PARTIAL
    after_faults = StagingPayload.objects.count()

    sleeps: list[float] = []
    (rerun,) = ingest(SimulatedSolana(), sleeps=sleeps)

    assert_run(rerun, IngestionStatus.SUCCESS, {}, clean)
    assert (rerun.items_skipped, rerun.items_succeeded) == (ITEMS - len(failed), len(failed))
    assert rerun.records_staged == StagingPayload.objects.count() - after_faults
    assert rerun.records_staged == sum(len(clean[item]) for item in failed)
    assert sleeps == []
    rows = staging_rows()
    delete_staged(StagingPayload.objects.all())
    (fresh,) = ingest(SimulatedSolana())
    assert fresh.status == IngestionStatus.SUCCESS
    assert staging_rows() == rows


# ---- damaged recordings and unexpected errors -----------------------------------------------------


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    """A copy of the shipped recordings, free to damage."""
    shutil.copytree(Path(settings.AURORA_RECORDINGS_DIR) / CHAIN, tmp_path / CHAIN)
    return tmp_path


def replay_epoch(recordings: Path) -> IngestionRun:
    options = IngestOptions(mode=TransportMode.REPLAY, recordings=recordings, sleep=lambda _s: None)
    (run,) = ingest_range(chain_id=CHAIN, first=EPOCH, last=EPOCH, options=options)
    return run


@pytest.mark.parametrize(
    ("damaged", "reason"),
    [
        (b'{"request": {"http": "GET", "path": "/validator/', "line 1: not JSON ("),
        (b'{"request": "\xff\xfe"}', "line 1: not UTF-8 (byte 0xff at column 14)"),
        (b'["not", "a", "call"]', "line 1: not a recorded call"),
    ],
    ids=["truncated-json", "not-utf8", "wrong-shape"],
)
def test_an_undecodable_recording_line_fails_its_item_and_the_run_is_partial(
    recordings: Path, damaged: bytes, reason: str
) -> None:
    path = recordings / CHAIN / "stakewiz" / str(EPOCH) / f"{ALPHA}.jsonl"
    path.write_bytes(damaged + b"\n")

    run = replay_epoch(recordings)

    assert run.status == IngestionStatus.PARTIAL, run.error_message
    (failure,) = run.failures
    assert (failure["validator"], failure["provider"], failure["data_type"]) == (ALPHA, "stakewiz", "META")
    assert (failure["kind"], failure["endpoint"]) == ("bad_response", f"GET /validator/{ALPHA}")
    assert f"unreadable recording {path} ({reason}" in failure["reason"], failure
    assert run.items_failed == 1 and run.items_succeeded == ITEMS - 1
    assert not StagingPayload.objects.filter(
        run=run, validator_key=ALPHA, provider__provider_name="stakewiz"
    ).exists()


def test_a_damaged_line_next_to_the_recorded_call_does_not_hide_it(recordings: Path) -> None:
    path = recordings / CHAIN / "stakewiz" / str(EPOCH) / f"{ALPHA}.jsonl"
    path.write_bytes(b"\xff garbage\n" + path.read_bytes())

    run = replay_epoch(recordings)

    assert run.status == IngestionStatus.SUCCESS, run.error_message


def test_a_recording_where_nothing_decodes_fails_the_run_instead_of_leaving_it_running(
    recordings: Path,
) -> None:
    for path in (recordings / CHAIN / "stakewiz" / str(EPOCH)).glob("*.jsonl"):
        path.write_bytes(b"not json\n")
    options = IngestOptions(mode=TransportMode.REPLAY, recordings=recordings, sleep=lambda _s: None)

    (run,) = ingest_range(
        chain_id=CHAIN, first=EPOCH, last=EPOCH, provider_names=["stakewiz"], options=options
    )

    assert run.status == IngestionStatus.FAILED, run.error_message
    assert run.items_failed == run.items_total == len(VALIDATORS) and run.completed_at is not None
    assert {failure["kind"] for failure in run.failures} == {"bad_response"}
    assert not IngestionRun.objects.filter(status=IngestionStatus.RUNNING).exists()


def test_a_live_body_that_is_not_utf8_fails_its_item_as_a_bad_response() -> None:
    clean = clean_items()

    def garbled(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, content=b'{"name": "\xff\xfe"}', headers={"content-type": "application/json"}
        )

    (run,) = ingest(SimulatedSolana(), stakewiz=garbled)

    expected = {
        (validator, "stakewiz", "META"): ("bad_response", f"GET /validator/{validator}", "body is not JSON")
        for validator in VALIDATORS
    }
    assert_run(run, IngestionStatus.PARTIAL, expected, clean)


def test_an_unexpected_error_mid_run_ends_the_run_failed_with_the_error(
    recordings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetch = ProviderAdapter.fetch
    calls: list[DataType] = []

    def fetch_then_break(self: ProviderAdapter, data_type: DataType, *args: Any) -> Any:
        calls.append(data_type)
        if len(calls) == 4:
            raise RuntimeError("disk on fire")
        return fetch(self, data_type, *args)

    monkeypatch.setattr(ProviderAdapter, "fetch", fetch_then_break)

    with pytest.raises(RuntimeError, match="disk on fire"):
        replay_epoch(recordings)

    (run,) = IngestionRun.objects.filter(period__period_identifier=str(EPOCH))
    assert run.status == IngestionStatus.FAILED and run.completed_at is not None
    assert run.error_message is not None
    assert run.error_message.startswith("the run stopped after ")
    assert run.error_message.endswith(f" of {ITEMS} items: RuntimeError: disk on fire")
