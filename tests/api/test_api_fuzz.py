"""Schemathesis run as `st run --checks all` would run it, in-process against the WSGI application:
every phase (the schema's examples, coverage of each declared bound and type, random fuzzing,
stateful sequences following the responses), every check, signed in as Finance and as a partner
user, over a database with a partner, an agreement, commission lines and a released statement.
The run is bounded (examples per operation) and deterministic (fixed seed), and must report no
server error and no departure from the schema."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
import schemathesis
from django.core.cache import cache
from django.core.wsgi import get_wsgi_application
from django.db import connections
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle
from rest_framework_simplejwt.tokens import AccessToken
from schemathesis.engine import events, from_schema
from schemathesis.transport.wsgi import WSGITransport

from accounts.models import Role
from commissions.models import StatementStatus
from tests import factories as f

pytestmark = pytest.mark.django_db(transaction=True)  # the engine calls the application from its own thread

EXAMPLES_PER_OPERATION = 8
SEED = 18
VALIDATOR = "Vote" + "1" * 40
MONTH = "2025-09"
ALL_CHECKS = frozenset(
    {
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "positive_data_acceptance",
        "missing_required_header",
        "unsupported_method",
        "allow_header_conformance",
        "use_after_free",
        "ensure_resource_availability",
        "ignored_auth",
        "object_level_authorization",
    }
)


# Operations whose valid requests may still be refused with a 400 naming the field, because whether
# a value is acceptable depends on the stored data or on another field, which no schema states:
# `from`/`to` must name periods the chain has, in order; a new agreement's partner, an override's
# line or agreement and period, a recompute's chain and periods must exist, and terms must follow
# the agreement's current state (dates after the current version, ascending tiers). Everywhere else
# a schema-valid request must be accepted; here too it must never be a 422, a 5xx or a schema
# departure.
REFUSED_BY_STORED_DATA = [
    ("GET", "/v1/chains/{chain_id}/periods"),
    ("GET", "/v1/chains/{chain_id}/validators/{validator_key}/pnl"),
    ("GET", "/v1/chains/{chain_id}/partners/{partner_id}/commissions"),
    ("POST", "/v1/agreements"),
    ("PUT", "/v1/agreements/{agreement_id}"),
    ("POST", "/v1/agreements/{agreement_id}/status"),
    ("POST", "/v1/overrides"),
    ("DELETE", "/v1/overrides/{line_id}"),
    ("POST", "/v1/recompute"),
]
ACCEPTED_STATUSES = ["2xx", "3xx", "401", "403", "404", "409", "429"]


@dataclass(frozen=True)
class World:
    tokens: dict[str, str]
    known_values: dict[str, list[str]]


def a_small_world() -> World:
    """A chain with final periods and a validator's P&L, a partner with an agreement, commission lines
    on a released statement and an introduced address; another partner with its own agreement; a
    Finance user and the first partner's user."""
    periods = [f.PeriodFactory(epoch=epoch) for epoch in (850, 851, 852)]
    partner = f.PartnerFactory(partner_name="Fuzzed Partner")
    agreement = f.AgreementFactory(partner=partner)
    rule = f.AgreementRuleFactory(agreement=agreement)
    statement = f.StatementFactory(partner=partner, month=MONTH, status=StatementStatus.RELEASED)
    lines = []
    for period in periods:
        f.ValidatorPnlFactory(validator_key=VALIDATOR, period=period)
        lines.append(
            f.CommissionLineFactory(
                rule=rule, period=period, statement=statement, pre_override_amount_native=Decimal(7)
            )
        )
    f.PartnerClientFactory(partner=partner)
    other = f.AgreementFactory(partner=f.PartnerFactory(partner_name="Another Partner"))
    finance = f.UserFactory(username="fuzz-finance", role=Role.FINANCE)
    partner_user = f.PartnerUserFactory(username="fuzz-partner", partner=partner)
    return World(
        tokens={
            "finance": str(AccessToken.for_user(finance)),
            "partner": str(AccessToken.for_user(partner_user)),
        },
        known_values={
            "chain_id": ["solana-mainnet"],
            "validator_key": [VALIDATOR],
            "partner_id": [str(partner.pk), str(other.partner_id)],
            "agreement_id": [str(agreement.pk), str(other.pk)],
            "line_id": [str(line.pk) for line in lines],
            "month": [MONTH],
            "period": ["850", "852", "2025-09-01"],
        },
    )


@dataclass
class Report:
    operations: set[str] = field(default_factory=set)
    cases: int = 0
    checks_run: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return "\n\n".join([*self.errors, *self.failures])


class ServerThreads:
    """The application as a threaded server runs it: each engine thread keeps its database
    connection across requests (opening one per request would triple the run's time), and all of
    them are closed when the run ends, from this thread (the engine's threads end without closing
    theirs, which would keep the test database open)."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.opened: list[Any] = []
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        try:
            return list(self.app(environ, start_response))
        finally:
            connection = connections["default"]
            with self.lock:
                if connection not in self.opened:
                    connection.inc_thread_sharing()
                    self.opened.append(connection)

    def close_connections(self) -> None:
        for connection in self.opened:
            connection.close()
            connection.dec_thread_sharing()


@pytest.fixture
def in_process_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    """ignored_auth re-sends each request without credentials through the WSGI transport with the
    socket-level options (redirects, TLS, proxies) still set, which the in-process client rejects
    (TypeError); they mean nothing in process, so drop them as the transport does for a session."""
    send = WSGITransport.send

    def without_socket_options(self: WSGITransport, case: Any, *, session: Any = None, **kwargs: Any) -> Any:
        if session is None:
            for name in ("max_redirects", "verify", "cert", "proxies"):
                kwargs.pop(name, None)
        return send(self, case, session=session, **kwargs)

    monkeypatch.setattr(WSGITransport, "send", without_socket_options)


@pytest.fixture
def world(
    transactional_db: None, settings: Any, monkeypatch: pytest.MonkeyPatch, in_process_transport: None
) -> World:
    settings.ALLOWED_HOSTS = ["*"]
    # Generated traffic is far above any human rate; throttling has its own tests.
    monkeypatch.setattr(UserRateThrottle, "rate", "1000000/minute", raising=False)
    monkeypatch.setattr(AnonRateThrottle, "rate", "1000000/minute", raising=False)
    cache.clear()
    return a_small_world()


def configuration(token: str, world: World) -> schemathesis.Config:
    """`st run --checks all --max-examples N --seed S`, with the user's bearer token and, half the
    time, identifiers that exist (so generated requests also get past the 404s into the views)."""
    dictionaries = {name: {"values": values} for name, values in world.known_values.items()}
    parameters = {
        f"path.{name}": {"dictionary": name, "probability": 0.5}
        for name in ("chain_id", "validator_key", "partner_id", "agreement_id", "line_id", "month")
    } | {f"query.{name}": {"dictionary": "period", "probability": 0.5} for name in ("from", "to")}
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            # No state kept between runs (.schemathesis/): every run generates the same requests.
            "cache": {"enabled": False},
            "dictionaries": dictionaries,
            "workers": 1,
            "generation": {"max-examples": EXAMPLES_PER_OPERATION, "deterministic": True},
            "auth": {"openapi": {"jwtAuth": {"bearer": token}}},
            "parameters": parameters,
            "operations": [
                {
                    "include-method": method,
                    "include-path": path,
                    "checks": {
                        "positive_data_acceptance": {"expected-statuses": [*ACCEPTED_STATUSES, "400"]}
                    },
                }
                for method, path in REFUSED_BY_STORED_DATA
            ],
            "checks": {
                "enabled": True,
                # Schemathesis's default also counts a 5xx as accepting; not_a_server_error still
                # runs, and a server error is a failure here either way.
                "positive_data_acceptance": {"expected-statuses": ACCEPTED_STATUSES},
            },
        }
    )


def run_schemathesis(token: str, world: World) -> Report:
    application = ServerThreads(get_wsgi_application())
    schema = schemathesis.openapi.from_wsgi(
        "/v1/schema/?format=json", application, config=configuration(token, world)
    )
    report = Report()
    try:
        run = list(from_schema(schema).execute())
    finally:
        application.close_connections()
    for event in run:
        if isinstance(event, events.ScenarioFinished):
            report.operations.add(event.recorder.label)
            report.cases += len(event.recorder.cases)
            for case_checks in event.recorder.checks.values():
                for check in case_checks:
                    report.checks_run[check.name] += 1
                    if check.failure_info is not None:
                        report.failures.append(_failure_line(event, check.failure_info))
        elif isinstance(event, events.NonFatalError | events.FatalError):
            info = getattr(event, "info", None)
            report.errors.append(f"{getattr(event, 'label', '')}: {info.format() if info else event}")
    report.failures = list(dict.fromkeys(report.failures))
    return report


def _failure_line(event: events.ScenarioFinished, info: Any) -> str:
    failure = info.failure
    return (
        f"[{event.phase.value}] {failure.operation}: {failure.title}\n{failure.message}\n{info.code_sample}"
    )


def _operations_in_schema(report: Report) -> Iterator[str]:
    yield from sorted(label for label in report.operations if label.split(" ", 1)[-1].startswith("/v1/"))


@pytest.mark.parametrize("role", ["finance", "partner"])
def test_schemathesis_with_all_checks_finds_nothing(world: World, role: str) -> None:
    report = run_schemathesis(world.tokens[role], world)

    print(  # noqa: T201  (the measured figures, shown with -s)
        f"\n{role}: {len(report.operations)} operations, {report.cases} requests, "
        f"{sum(report.checks_run.values())} check runs, {len(report.failures)} failures"
    )
    assert not report.errors, report.describe()
    assert not report.failures, report.describe()
    assert len(list(_operations_in_schema(report))) >= 20
    assert set(report.checks_run) == ALL_CHECKS
