"""Operator tools: `check_providers` (and its run when a Celery worker starts), `check_integrity` and
`validate_agreements`.

Provider HTTP is faked at the transport (respx), with bodies taken from the shipped recordings, so
the adapters' own client, API key handling, timeouts and response models are what is exercised.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from canonical.models import NormalizationStatus
from chains.models import Chain, ChainProviderMapping, Provider, ProviderRole, ValidatorIdentity
from commissions.models import AgreementStatus, RevenueComponent, Statement
from commissions.services.agreements import RuleSpec, agreement_create, agreement_set_status
from ingestion.models import DataType, IngestionStatus
from ingestion.providers.http import reset_provider_state
from operations import providers_check
from operations.agreement_checks import validate_active_agreements
from operations.integrity import FindingKind, check_integrity
from operations.providers_check import ProbeStatus, check_providers, log_provider_problems
from tests import factories as f

pytestmark = pytest.mark.django_db

CHAIN = "solana-mainnet"
RECORDINGS = Path(settings.AURORA_RECORDINGS_DIR) / CHAIN
FINALIZED_SLOT = 368_972_200


@pytest.fixture(autouse=True)
def _clean_provider_state() -> Iterator[None]:
    reset_provider_state()  # circuit breakers and rate limiters are per process
    yield
    reset_provider_state()


# ---- a fake of the four Solana providers, answering with recorded bodies --------------------------


def recorded(provider: str, epoch: int = 853) -> dict[str, Any]:
    """{request path (and vote_account for Jito): response body} from the shipped recordings."""
    bodies: dict[str, Any] = {}
    for path in sorted((RECORDINGS / provider / str(epoch)).glob("*.jsonl")):
        for line in path.read_text().splitlines():
            exchange = json.loads(line)
            request = exchange["request"]
            vote = request.get("query", {}).get("vote_account", "")
            bodies[request["path"] + (f"?{vote}" if vote else "")] = exchange["response"]
    return bodies


class Providers:
    """Answers like the providers in providers.yaml; `fail[host]` replaces a host's answer."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.fail: dict[str, Callable[[httpx.Request], httpx.Response]] = {}
        self.stakewiz, self.beach, self.jito = recorded("stakewiz"), recorded("solanabeach"), recorded("jito")

    def hits(self, host: str) -> list[httpx.Request]:
        return [request for request in self.requests if request.url.host == host]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        host, path = request.url.host, request.url.path
        if host in self.fail:
            return self.fail[host](request)
        if host == "api.mainnet-beta.solana.com":
            results = {"getHealth": "ok", "getSlot": FINALIZED_SLOT}
            calls = json.loads(request.content)
            return httpx.Response(
                200, json=[{"jsonrpc": "2.0", "id": c["id"], "result": results[c["method"]]} for c in calls]
            )
        if host == "kobe.mainnet.jito.network" and path == "/api/v1/validator_rewards":
            vote = request.url.params.get("vote_account")
            key = f"{path}?{vote}" if vote else next(k for k in self.jito if self.jito[k]["rewards"])
            return httpx.Response(200, json=self.jito[key])
        if host == "api.stakewiz.com" and path in self.stakewiz:
            return httpx.Response(200, json=self.stakewiz[path])
        if host == "api.solanabeach.io" and path in self.beach:
            if request.headers.get("authorization") != "Bearer demo-key":
                return httpx.Response(401, json={"error": "invalid API key"})
            return httpx.Response(200, json=self.beach[path])
        return httpx.Response(404, json={"error": "not found"})


@pytest.fixture
def providers(registry: None) -> Iterator[Providers]:
    fake = Providers()
    with respx.mock(assert_all_called=False) as router:
        router.route().mock(side_effect=fake)
        yield fake


def run(command: str, *args: str) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command(command, *args, stdout=out)
    except CommandError as error:
        return 1, f"{out.getvalue()}\n{error}"
    return 0, out.getvalue()


# ---- check_providers ----------------------------------------------------------------------------


def test_every_provider_of_the_active_chains_answers_one_cheap_call(providers: Providers) -> None:
    results = check_providers()

    assert [(r.chain_id, r.provider, r.status) for r in results] == [
        (CHAIN, "jito", ProbeStatus.OK),
        (CHAIN, "solana-rpc", ProbeStatus.OK),
        (CHAIN, "solanabeach", ProbeStatus.OK),
        (CHAIN, "stakewiz", ProbeStatus.OK),
    ]
    by_name = {r.provider: r for r in results}
    assert by_name["solana-rpc"].detail == f"healthy; finalized slot {FINALIZED_SLOT:,}"
    assert set(by_name["solana-rpc"].roles) == {"FEES", "META", "REWARDS", "RPC"}
    # The first registered validator (by key) does not run Jito: the recorded answer has no rows.
    assert by_name["jito"].detail == "answered; no reward rows"
    assert by_name["stakewiz"].detail == "answered for 4SPzNLNz…"
    assert all(r.latency_ms is not None and r.latency_ms >= 0 for r in results)
    # One request per provider; nothing for the inactive Ethereum chain's local nodes.
    assert sorted(r.url.host for r in providers.requests) == [
        "api.mainnet-beta.solana.com",
        "api.solanabeach.io",
        "api.stakewiz.com",
        "kobe.mainnet.jito.network",
    ]
    (rpc,) = providers.hits("api.mainnet-beta.solana.com")
    assert [call["method"] for call in json.loads(rpc.content)] == ["getHealth", "getSlot"]
    (jito,) = providers.hits("kobe.mainnet.jito.network")
    assert dict(jito.url.params) == {
        "limit": "1",
        "vote_account": "4SPzNLNzhYJJJ3rhwpisPSJQQ7prwwTg2q3ayz6Rb9xT",
    }
    (beach,) = providers.hits("api.solanabeach.io")
    assert beach.headers["authorization"] == "Bearer demo-key"
    assert beach.headers["user-agent"] == "aurora-ingestion"  # the adapters' client, not a raw request

    code, out = run("check_providers")

    assert code == 0
    header, _, *rows = out.splitlines()[:6]
    assert header.split()[:5] == ["chain", "provider", "roles", "status", "latency"]
    assert [row.split()[1] for row in rows] == ["jito", "solana-rpc", "solanabeach", "stakewiz"]
    assert all(" ok " in row and " ms " in row for row in rows)
    assert "all 4 provider(s) usable" in out


def test_an_unreachable_broken_or_unconfigured_provider_fails_the_check(
    providers: Providers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOLANABEACH_API_KEY")
    providers.fail["api.mainnet-beta.solana.com"] = lambda r: httpx.Response(
        503, json={"error": "overloaded"}
    )
    providers.fail["api.stakewiz.com"] = lambda r: httpx.Response(
        200, text="<html>maintenance</html>", headers={"content-type": "text/html"}
    )

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    providers.fail["kobe.mainnet.jito.network"] = refused

    code, out = run("check_providers")

    assert code == 1
    rows = {line.split()[1]: line for line in out.splitlines()[2:6]}
    assert " failed " in rows["solana-rpc"] and "HTTP 503: overloaded" in rows["solana-rpc"]
    assert " failed " in rows["stakewiz"] and "body is not JSON (text/html" in rows["stakewiz"]
    assert " failed " in rows["jito"] and "ConnectError: connection refused" in rows["jito"]
    assert " not configured " in rows["solanabeach"]
    assert "environment variable SOLANABEACH_API_KEY is not set" in rows["solanabeach"]
    assert "4 of 4 provider(s) cannot be used: jito (solana-mainnet), solana-rpc (solana-mainnet)" in out
    # One attempt by default, though a 503 is worth retrying in ingestion; no call without the key.
    assert len(providers.hits("api.mainnet-beta.solana.com")) == 1
    assert providers.hits("api.solanabeach.io") == []

    code, _ = run("check_providers", "--attempts", "2", "--chain", CHAIN)

    assert code == 1
    assert len(providers.hits("api.mainnet-beta.solana.com")) == 3


def test_the_probe_timeout_is_capped_and_reported(providers: Providers) -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    providers.fail["api.stakewiz.com"] = slow

    results = {r.provider: r for r in check_providers(timeout=2.5)}

    assert results["stakewiz"].status == ProbeStatus.FAILED
    assert results["stakewiz"].detail.endswith("timed out after 2.5 s")
    (request,) = providers.hits("api.stakewiz.com")
    assert request.extensions["timeout"]["read"] == 2.5  # min(--timeout, the provider's 30 s)
    assert results["solana-rpc"].status == ProbeStatus.OK


def test_chains_providers_and_validators_that_cannot_be_probed(providers: Providers) -> None:
    chain = Chain.objects.get(pk=CHAIN)
    ChainProviderMapping.objects.create(
        chain=chain,
        provider=Provider.objects.get(provider_name="replay"),
        provider_role=ProviderRole.RPC,
        priority=5,
    )
    custom = f.ProviderFactory(
        provider_name="in-house", adapter="acme.custom", base_url="https://acme.example.com"
    )
    f.ChainProviderMappingFactory(
        chain=chain, provider=custom, provider_role=ProviderRole.REWARDS, priority=5
    )
    Provider.objects.filter(provider_name="solanabeach").update(is_enabled=False)
    ValidatorIdentity.objects.filter(chain=chain).update(is_active=False)

    results = {r.provider: r for r in check_providers(chain_ids=[CHAIN])}

    assert {name: (r.status, r.detail) for name, r in results.items() if name != "solana-rpc"} == {
        "in-house": (ProbeStatus.NOT_CONFIGURED, "no adapter named 'acme.custom'"),
        "jito": (ProbeStatus.OK, "answered; latest epoch 853"),
        "replay": (ProbeStatus.SKIPPED, "recorded responses; no network"),
        "solanabeach": (ProbeStatus.SKIPPED, "disabled in providers.yaml"),
        "stakewiz": (ProbeStatus.SKIPPED, "no registered validator to ask about (register_validators)"),
    }
    (jito,) = providers.hits("kobe.mainnet.jito.network")
    assert "vote_account" not in jito.url.params
    assert run("check_providers", "--chain", "nope") == (1, "\nunknown chain 'nope'")
    assert run("check_providers", "--chain", "ethereum-mainnet") == (1, "\nethereum-mainnet is not active")


def recorded_delivery() -> Any:
    """A relay's proposer_payload_delivered answer with one row, from the Ethereum recordings."""
    relays = Path(settings.AURORA_RECORDINGS_DIR) / "ethereum-mainnet" / "mev-relays"
    for path in sorted(relays.glob("*/*.jsonl")):
        for line in path.read_text().splitlines():
            response = json.loads(line)["response"]
            if isinstance(response, list) and response:
                return response[:1]
    raise AssertionError("no relay delivery in the recordings")


RELAY_HOSTS = {
    "boost-relay.flashbots.net",
    "bloxroute.max-profit.blxrbdn.com",
    "bloxroute.regulated.blxrbdn.com",
    "relay.ultrasound.money",
    "aestus.live",
    "agnostic-relay.net",
    "titanrelay.xyz",
}


def test_ethereum_nodes_and_relays_are_probed_when_the_chain_is_active(providers: Providers) -> None:
    Chain.objects.filter(pk="ethereum-mainnet").update(is_active=True)
    delivery = recorded_delivery()
    syncing = {
        "data": {"head_slot": "12640300", "sync_distance": "0", "is_syncing": False, "is_optimistic": False}
    }
    seen: list[httpx.Request] = []

    def ethereum(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.port == 5052 and request.url.path == "/eth/v1/node/syncing":
            return httpx.Response(200, json=syncing)
        if request.url.port == 8545:
            results = {"eth_syncing": False, "eth_blockNumber": hex(23_412_385)}
            calls = json.loads(request.content)
            return httpx.Response(
                200, json=[{"jsonrpc": "2.0", "id": c["id"], "result": results[c["method"]]} for c in calls]
            )
        if request.url.host in RELAY_HOSTS and request.url.path.endswith("/proposer_payload_delivered"):
            if request.url.host == "titanrelay.xyz":
                return httpx.Response(500, json={"code": 500, "message": "internal error"})
            return httpx.Response(200, json=delivery)
        return httpx.Response(404, json={"error": "not found"})

    for host in ("127.0.0.1", *RELAY_HOSTS):
        providers.fail[host] = ethereum

    results = {r.provider: r for r in check_providers(chain_ids=["ethereum-mainnet"])}

    assert {name: (r.status, r.detail) for name, r in results.items()} == {
        "beacon-api": (ProbeStatus.OK, "synced; head slot 12,640,300"),
        "ethereum-execution-rpc": (ProbeStatus.OK, "synced; latest block 23,412,385"),
        "mev-relays": (
            ProbeStatus.FAILED,
            "GET /relay/v1/data/bidtraces/proposer_payload_delivered: 1 of 7 relays failed: "
            "titanrelay.xyz: HTTP 500: internal error",
        ),
    }
    assert sorted(r.url.host for r in seen if r.url.host in RELAY_HOSTS) == sorted(RELAY_HOSTS)
    assert all(r.url.params["limit"] == "1" for r in seen if r.url.host in RELAY_HOSTS)

    syncing["data"].update(is_syncing=True, sync_distance="4200")
    (beacon,) = [r for r in check_providers(chain_ids=["ethereum-mainnet"]) if r.provider == "beacon-api"]

    assert beacon.status == ProbeStatus.FAILED
    assert beacon.detail.endswith("the node is syncing: 4,200 slots behind at slot 12,640,300")


def test_a_starting_worker_checks_the_providers_in_the_background_and_only_warns(
    providers: Providers, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from celery import signals

    from aurora import celery as celery_module

    assert any(key[0] == "aurora-check-providers" for key, _ in signals.worker_ready.receivers)
    started: list[str] = []
    monkeypatch.setattr(
        providers_check, "log_provider_problems", lambda: started.append(threading.current_thread().name)
    )

    celery_module._check_providers(sender=None)  # what worker_ready calls

    for thread in threading.enumerate():
        if thread.name == "aurora-provider-check":
            thread.join(timeout=10)
    assert started == ["aurora-provider-check"]

    monkeypatch.delenv("SOLANABEACH_API_KEY")  # the real check, imported before the patch
    providers.fail["api.stakewiz.com"] = lambda r: httpx.Response(502, json={"error": "bad gateway"})
    with caplog.at_level(logging.INFO, logger="operations.providers_check"):
        results = log_provider_problems()

    assert len(results) == 4
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert any("provider stakewiz (solana-mainnet, META) cannot be used: failed:" in w for w in warnings)
    assert any("solanabeach" in w and "SOLANABEACH_API_KEY is not set" in w for w in warnings)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_provider_check_that_cannot_run_is_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(**kwargs: Any) -> list[Any]:
        raise RuntimeError("database unavailable")

    monkeypatch.setattr(providers_check, "check_providers", broken)
    with caplog.at_level(logging.WARNING, logger="operations.providers_check"):
        assert log_provider_problems() == []
    assert [r.getMessage() for r in caplog.records] == ["the provider check could not run"]


# ---- check_integrity ----------------------------------------------------------------------------


def test_the_shipped_demo_normalized_and_recomputed_is_clean_and_its_agreements_valid(registry: None) -> None:
    from canonical.services import normalize_range
    from commissions.services.recompute import recompute_range
    from demo.services import demo_agreements_ensure
    from tests.solana_demo import replay

    replay()
    normalize_range(chain_id=CHAIN, first=850, last=853)
    demo_agreements_ensure()
    recompute_range(chain_id=CHAIN, first=850, last=853)

    report = check_integrity()

    assert report.findings == [] and report.explained == []
    assert report.checked["final periods"] == 4
    assert report.checked["validator-periods"] == 12
    assert report.checked["commission lines"] > 0 and report.checked["statements"] == 3
    code, out = run("check_integrity")
    assert code == 0 and out.strip().endswith("no findings")
    agreements = validate_active_agreements()
    assert agreements.clean and agreements.checked == 3
    assert run("validate_agreements") == (0, "3 active agreement(s): no problems\n")

    # A statement total that no longer matches its lines is caught in the real data too.
    statement = Statement.objects.order_by("month").first()
    assert statement is not None
    Statement.objects.filter(pk=statement.pk).update(
        total_commission_native=statement.total_commission_native + 1
    )

    code, out = run("check_integrity", "--chain", CHAIN)

    assert code == 1
    assert f"statement totals differ from their lines (1)\n  [{CHAIN}] statement {statement.pk}" in out
    assert out.rstrip().endswith("1 finding(s): 1 statement totals differ from their lines")


def canonical_rows(period: Any, validator: str, *data_types: DataType) -> None:
    factories = {
        DataType.FEES: f.CanonicalValidatorFeesFactory,
        DataType.MEV: f.CanonicalValidatorMevFactory,
        DataType.REWARDS: f.CanonicalStakeRewardFactory,
        DataType.META: f.CanonicalValidatorMetaFactory,
    }
    for data_type in data_types:
        extra = {"staker_address": None} if data_type == DataType.REWARDS else {}
        factories[data_type](chain=period.chain, period=period, validator_key=validator, **extra)


def test_integrity_findings_of_every_kind_and_the_gaps_a_recorded_failure_explains() -> None:
    chain = f.ChainFactory()
    validator = f.ValidatorIdentityFactory(chain=chain).validator_key
    f.ValidatorIdentityFactory(chain=chain, is_active=False)  # not expected to have rows
    jito = f.ProviderFactory(provider_name="jito", adapter="solana.jito")
    complete, gaps, late, explained = (f.PeriodFactory(chain=chain, epoch=e) for e in (850, 851, 852, 853))
    never_ingested = f.PeriodFactory(chain=chain, epoch=854)
    f.PeriodFactory(chain=chain, epoch=855, is_finalized=False, finalized_at=None)
    canonical_rows(complete, validator, *DataType)
    # 851: REWARDS missing outright; MEV staged but never normalized.
    canonical_rows(gaps, validator, DataType.FEES, DataType.META)
    f.StagingPayloadFactory(
        run=f.IngestionRunFactory(chain=chain, period=gaps),
        validator_key=validator,
        provider=jito,
        data_type="MEV",
    )
    # 852: normalized, then more staged afterwards.
    canonical_rows(late, validator, DataType.FEES, DataType.MEV, DataType.META)
    f.NormalizationRunFactory(chain=chain, period=late, status=NormalizationStatus.SUCCESS)
    f.StagingPayloadFactory(run=f.IngestionRunFactory(chain=chain, period=late), validator_key=validator)
    # 853: MEV failed at the provider (nothing staged); REWARDS staged but unusable.
    canonical_rows(explained, validator, DataType.FEES, DataType.META)
    f.StagingPayloadFactory(run=f.IngestionRunFactory(chain=chain, period=explained), validator_key=validator)
    failure = {
        "provider": "jito",
        "endpoint": "GET /api/v1/validator_rewards",
        "reason": "HTTP 500: upstream",
    }
    f.IngestionRunFactory(
        chain=chain,
        period=explained,
        status=IngestionStatus.PARTIAL,
        failures=[{"validator": validator, "data_type": "MEV", "kind": "http", **failure}],
    )
    f.NormalizationRunFactory(
        chain=chain,
        period=explained,
        status=NormalizationStatus.PARTIAL,
        failures=[
            {
                "validator": validator,
                "data_type": "REWARDS",
                "provider": "rpc",
                "endpoint": "getInflationReward",
                "reason": "response missing",
            }
        ],
    )
    # Commission lines: one sound, one naming a version that does not exist, one whose rule is
    # another agreement's, one in a period that is not final; statements: one right, one off.
    sound = f.CommissionLineFactory(chain=chain, period=complete)
    no_version = f.CommissionLineFactory(chain=chain, period=complete, agreement_version=9)
    other_rule = f.CommissionLineFactory(
        chain=chain, period=complete, rule=f.AgreementRuleFactory(chain=chain)
    )
    other_rule.agreement = sound.agreement
    other_rule.partner = sound.partner
    other_rule.rule_order = 70
    other_rule.save()
    open_period = f.CommissionLineFactory(
        chain=chain, period=f.PeriodFactory(chain=chain, epoch=856, is_finalized=False, finalized_at=None)
    )
    right = f.StatementFactory(
        chain=chain, partner=sound.partner, total_commission_native=Decimal(40_000_000)
    )
    sound.statement = right
    sound.save()
    off = f.StatementFactory(chain=chain, total_commission_native=Decimal(5), line_count=2)

    report = check_integrity()

    found = {(finding.kind, finding.subject) for finding in report.findings}
    assert found == {
        (FindingKind.MISSING_CANONICAL, f"period 851, validator {validator}, REWARDS"),
        (FindingKind.STAGED_NOT_NORMALIZED, f"period 851, validator {validator}, MEV"),
        (FindingKind.STAGED_NOT_NORMALIZED, f"period 852, validator {validator}, REWARDS"),
        (
            FindingKind.LINE_WITHOUT_SOURCE,
            f"line {no_version.pk} ({no_version.agreement.agreement_name}, period 850)",
        ),
        (
            FindingKind.LINE_WITHOUT_SOURCE,
            f"line {other_rule.pk} ({sound.agreement.agreement_name}, period 850)",
        ),
        (
            FindingKind.LINE_WITHOUT_SOURCE,
            f"line {open_period.pk} ({open_period.agreement.agreement_name}, period 856)",
        ),
        (
            FindingKind.STATEMENT_TOTALS,
            f"statement {off.pk} ({off.partner.partner_name}, {off.month}, DRAFT)",
        ),
    }
    messages = {finding.subject: finding.message for finding in report.findings}
    assert messages[f"period 851, validator {validator}, MEV"] == (
        "1 payload(s) from jito, and the period was never normalized: normalize it"
    )
    assert "staged after the last normalization" in messages[f"period 852, validator {validator}, REWARDS"]
    assert messages[f"line {no_version.pk} ({no_version.agreement.agreement_name}, period 850)"].startswith(
        "agreement version 9 does not exist; its rule is rule "
    )
    assert (
        "of another agreement, not rule 70 of version 1"
        in messages[f"line {other_rule.pk} ({sound.agreement.agreement_name}, period 850)"]
    )
    assert messages[f"line {open_period.pk} ({open_period.agreement.agreement_name}, period 856)"] == (
        "its period 856 is not final"
    )
    assert messages[f"statement {off.pk} ({off.partner.partner_name}, {off.month}, DRAFT)"] == (
        "stored total 5 over 2 line(s); its lines sum to 0 over 0 line(s)"
    )
    assert {(gap.period, gap.data_type, gap.reason) for gap in report.explained} == {
        ("853", "MEV", "ingestion failed (jito GET /api/v1/validator_rewards: HTTP 500: upstream)"),
        ("853", "REWARDS", "staged payloads unusable (rpc getInflationReward: response missing)"),
    }
    assert report.checked["final periods"] == 4  # 854 was never ingested, 855 is not final
    assert never_ingested.period_identifier not in {gap.period for gap in report.explained}

    code, out = run("check_integrity")

    assert code == 1
    assert out.index("canonical rows missing (1)") < out.index("staged payloads without canonical rows (2)")
    assert (
        "commission lines without sources (3)" in out
        and "statement totals differ from their lines (1)" in out
    )
    assert "gaps with a recorded reason, not counted as findings (2)" in out
    assert out.rstrip().endswith(
        "7 finding(s): 1 canonical rows missing, 2 staged payloads without canonical rows, "
        "3 commission lines without sources, 1 statement totals differ from their lines"
    )
    assert "gaps with a recorded reason" not in run("check_integrity", "--hide-explained")[1]
    assert run("check_integrity", "--chain", "nope") == (1, "\nunknown chain 'nope'")
    assert not [finding for finding in report.findings if str(right.pk) in finding.subject]


def test_integrity_queries_do_not_grow_with_rows() -> None:
    chain = f.ChainFactory()
    period = f.PeriodFactory(chain=chain)
    validators = [f.ValidatorIdentityFactory(chain=chain).validator_key for _ in range(2)]
    canonical_rows(period, validators[0], *DataType)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            check_integrity(chain_ids=[CHAIN])
        return len(captured.captured_queries)

    f.CommissionLineFactory(chain=chain, period=period, agreement_version=9)
    f.StatementFactory(chain=chain)
    few = queries()
    for _ in range(5):
        f.CommissionLineFactory(chain=chain, period=period, agreement_version=9)
        f.StatementFactory(chain=chain)
    validators.extend(f.ValidatorIdentityFactory(chain=chain).validator_key for _ in range(5))

    assert queries() == few
    assert len(check_integrity(chain_ids=[CHAIN]).findings) == 4 * 6 + 6 + 6  # 6 validators x 4 types


# ---- validate_agreements ------------------------------------------------------------------------


def test_validate_agreements_names_each_problem_of_the_active_agreements() -> None:
    solana = f.ChainFactory()
    ethereum = f.ChainFactory(ethereum=True, is_active=False)
    finance = f.UserFactory()
    registered = f.ValidatorIdentityFactory(chain=solana)
    retired = f.ValidatorIdentityFactory(chain=solana, is_active=False)
    start = timezone.now() - timedelta(days=60)

    def active(name: str, *rules: RuleSpec, **extra: Any) -> Any:
        agreement = agreement_create(
            partner=f.PartnerFactory(), name=name, effective_from=start, rules=rules, actor=finance, **extra
        )
        return agreement_set_status(
            agreement_id=agreement.pk, status="ACTIVE", actor=finance, reason="signed"
        )

    mev = RevenueComponent.MEV_TIPS
    sound = active(
        "Sound", RuleSpec(1, mev, "FIXED_SHARE", 500, chain_id=CHAIN, validator_key=registered.validator_key)
    )
    on_ethereum = active("On Ethereum", RuleSpec(1, mev, "FIXED_SHARE", 500, chain_id=ethereum.pk))
    retired_validator = active(
        "Retired validator",
        RuleSpec(1, mev, "FIXED_SHARE", 500, chain_id=CHAIN, validator_key=retired.validator_key),
    )
    ended = active(
        "Ended",
        RuleSpec(1, mev, "FIXED_SHARE", 500, chain_id=CHAIN),
        effective_until=timezone.now() - timedelta(days=1),
    )
    edited = active("Edited behind the back office", RuleSpec(1, mev, "FIXED_SHARE", 500, chain_id=CHAIN))
    edited.rules.filter(rule_order=1).update(commission_rate_bps=900)
    # Written around the services: tiers that descend, a validator nobody registered, a version
    # number with no version.
    bad_tiers = f.AgreementRuleFactory(
        chain=solana,
        rule_order=1,
        tier_config={
            "basis": "base_amount",
            "mode": "marginal",
            "tiers": [{"from": "100", "rate_bps": 5}, {"from": "10", "rate_bps": 6}],
        },
    ).agreement
    stranger = f.AgreementRuleFactory(
        chain=solana, rule_order=1, validator_key="Unregistered" + "1" * 32
    ).agreement
    missing_version = f.AgreementFactory(current_version=3)
    f.AgreementVersionFactory(agreement=missing_version)
    f.AgreementFactory(status=AgreementStatus.DRAFT)  # drafts are not checked
    for agreement in (bad_tiers, stranger):  # factories record no terms: record what the rules say
        version = agreement.versions.get()
        version.terms_snapshot = {"rules": [RuleSpec.from_rule(r).as_json() for r in agreement.rules.all()]}
        version.save()

    result = validate_active_agreements()

    problems = {(p.agreement.split(" (")[0], p.message) for p in result.problems}
    assert problems == {
        ("On Ethereum", "rule 1: chain ethereum-mainnet is not active"),
        ("Retired validator", f"rule 1: validator {retired.validator_key} is no longer active on {CHAIN}"),
        ("Ended", f"it ended on {ended.effective_until:%Y-%m-%d} but is still ACTIVE"),
        ("Edited behind the back office", "version 1's recorded terms differ from its rules (rule 1)"),
        (
            bad_tiers.agreement_name,
            "rule 1: tier_config.tiers[1].from: tiers must ascend; 10 does not exceed 100",
        ),
        (
            stranger.agreement_name,
            f"rule 1: Unregistered{'1' * 32} is not a validator of the operator on {CHAIN}",
        ),
        (missing_version.agreement_name, "its current version 3 does not exist"),
    }
    assert result.checked == 8
    assert sound.agreement_name not in {p.agreement.split(" (")[0] for p in result.problems}
    assert on_ethereum.status == retired_validator.status == AgreementStatus.ACTIVE

    code, out = run("validate_agreements")

    assert code == 1
    heading = f"On Ethereum ({on_ethereum.partner.partner_name}), version 1:"
    assert f"{heading}\n  rule 1: chain ethereum-mainnet is not active" in out
    assert out.rstrip().endswith("7 problem(s) in 7 of 8 active agreement(s)")
