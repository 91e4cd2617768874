"""Schemathesis reads /v1/schema/ and sends generated requests (valid and invalid) to every
operation, signed in as Finance and as a Partner: no answer may be a 5xx or differ from what the
schema says (status, content type, headers, body)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle
from rest_framework_simplejwt.tokens import AccessToken
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.models import Role
from commissions.models import StatementStatus
from tests import factories as f

EXAMPLES_PER_OPERATION = 8
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@dataclass(frozen=True)
class World:
    tokens: dict[str, str]
    partner_id: str
    agreement_id: str
    line_id: str


VALIDATOR = "Vote" + "1" * 40


def a_small_world() -> World:
    """A chain with periods and P&L, a partner with lines, a released statement, an agreement and
    clients; a Finance and a Partner user with their access tokens."""
    periods = [f.PeriodFactory(epoch=epoch) for epoch in (850, 851, 852)]
    partner = f.PartnerFactory(partner_name="Schema Partner")
    agreement = f.AgreementFactory(partner=partner)
    rule = f.AgreementRuleFactory(agreement=agreement)
    statement = f.StatementFactory(partner=partner, month="2025-09", status=StatementStatus.RELEASED)
    for period in periods:
        f.ValidatorPnlFactory(validator_key=VALIDATOR, period=period)
        line = f.CommissionLineFactory(
            rule=rule, period=period, statement=statement, pre_override_amount_native=Decimal(7)
        )
    f.PartnerClientFactory(partner=partner)
    finance = f.UserFactory(username="schema-finance", role=Role.FINANCE)
    partner_user = f.PartnerUserFactory(username="schema-partner", partner=partner)
    return World(
        tokens={
            "finance": str(AccessToken.for_user(finance)),
            "partner": str(AccessToken.for_user(partner_user)),
        },
        partner_id=str(partner.pk),
        agreement_id=str(agreement.pk),
        line_id=str(line.pk),
    )


@pytest.fixture
def world(db: None, monkeypatch: pytest.MonkeyPatch) -> World:
    return a_small_world()


@pytest.fixture
def api_schema(db: None, settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The schema as served, with the WSGI application to call. Like Django's test client, keep
    the test's database connection open across requests (it holds the test's transaction)."""
    settings.ALLOWED_HOSTS = ["*"]
    # Generated traffic is far above any human rate (and earlier tests in this process used
    # some of the address's allowance); throttling has its own tests.
    monkeypatch.setattr(UserRateThrottle, "rate", "1000000/minute", raising=False)
    monkeypatch.setattr(AnonRateThrottle, "rate", "1000000/minute", raising=False)
    cache.clear()
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/v1/schema/?format=json", get_wsgi_application())
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


SETTINGS = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def known_path_parameters(world: World) -> dict[str, str]:
    """Real identifiers, so generated requests also reach past the 404s into the views."""
    return {
        "chain_id": "solana-mainnet",
        "validator_key": VALIDATOR,
        "partner_id": world.partner_id,
        "agreement_id": world.agreement_id,
        "line_id": world.line_id,
        "month": "2025-09",
    }


def exercise(api_schema: Any, world: World, role: str) -> list[str]:
    """Every operation: valid and invalid generated requests with random path parameters, and
    valid ones with real identifiers. The failures, one line each."""
    headers = {"Authorization": f"Bearer {world.tokens[role]}"}
    known = known_path_parameters(world)
    failures: list[str] = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        names = {p.name for p in operation.path_parameters}
        pinned = {name: value for name, value in known.items() if name in names}
        strategies = [
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        ]
        if pinned:
            strategies.append(operation.as_strategy(GenerationMode.POSITIVE, path_parameters=pinned))
        for strategy in strategies:

            @given(case=strategy)
            @SETTINGS
            def run(case: Any) -> None:
                case.call_and_validate(headers=headers, checks=CHECKS)

            try:
                run()
            except Exception as error:  # a check failed: keep going, report all at the end
                failures.append(f"{operation.method.upper()} {operation.path}: {str(error)[:1500]}")
    return failures


def test_no_input_breaks_the_api_for_finance(api_schema: Any, world: World) -> None:
    failures = exercise(api_schema, world, "finance")

    assert not failures, "\n\n".join(failures)


def test_no_input_breaks_the_api_for_a_partner(api_schema: Any, world: World) -> None:
    failures = exercise(api_schema, world, "partner")

    assert not failures, "\n\n".join(failures)
