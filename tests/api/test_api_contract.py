"""The API accepts what its schema declares and nothing else: JSON integers where integers are
declared (never `"500"`, `true` or `5.0`), strings where strings are, `true`/`false` for boolean
filters; the schema states every bound the API enforces (paging, filter and range lengths) and
the error answers an operation can give; a method an endpoint does not have is a 405."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import Client

from accounts.models import Role
from tests import factories as f
from tests.api.test_api_agreements import START, body, make_agreement, new_agreement, rule, signed_in, token

pytestmark = pytest.mark.django_db

PAGED_LISTS = [
    "/v1/chains",
    "/v1/partners",
    "/v1/agreements",
    "/v1/overrides",
    "/v1/chains/{chain_id}/periods",
    "/v1/agreements/{agreement_id}/versions",
    "/v1/partners/{partner_id}/clients",
]


@pytest.fixture(autouse=True)
def _fresh_throttles() -> None:
    cache.clear()


@pytest.fixture
def schema() -> dict[str, Any]:
    return dict(Client().get("/v1/schema/?format=json").json())


def finance_client() -> Client:
    return signed_in(f.UserFactory(role=Role.FINANCE))


# ---- declared types, enforced ---------------------------------------------------------------------


@pytest.mark.parametrize("rate", ["500", True, 500.0, 12.5, None, [500]])
def test_basis_points_must_be_a_json_integer(rate: Any) -> None:
    partner = f.PartnerFactory()
    f.ChainFactory()

    response = finance_client().post(
        "/v1/agreements",
        new_agreement(partner, rules=[rule(1, commission_rate_bps=rate)]),
        content_type="application/json",
    )

    assert response.status_code == 400
    error = body(response)["error"]
    assert error["code"] == "validation_error"
    assert "commission_rate_bps" in error["message"]
    assert "rules" in error["details"]


def test_a_json_integer_is_still_accepted_as_basis_points() -> None:
    partner = f.PartnerFactory()
    f.ChainFactory()

    response = finance_client().post(
        "/v1/agreements",
        new_agreement(partner, rules=[rule(1, commission_rate_bps=500)]),
        content_type="application/json",
    )

    assert response.status_code == 201, response.content
    assert body(response)["data"]["rules"][0]["commission_rate_bps"] == 500


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"agreement_name": 2025}, "agreement_name"),
        ({"reason": False}, "reason"),
        ({"partner_id": 1234}, "partner_id"),
        ({"rules": [rule(1, chain_id=7)]}, "rules"),
        ({"rules": [rule(1, rule_order="1")]}, "rules"),
        ({"rules": [rule(1, tier_config="flat")]}, "rules"),
    ],
)
def test_a_value_of_another_json_type_is_refused_not_converted(change: dict[str, Any], field: str) -> None:
    partner = f.PartnerFactory()
    f.ChainFactory()

    response = finance_client().post(
        "/v1/agreements", new_agreement(partner, **change), content_type="application/json"
    )

    assert response.status_code == 400
    assert field in body(response)["error"]["details"]


def test_an_override_amount_and_rule_order_keep_their_declared_types() -> None:
    agreement = make_agreement()
    client = finance_client()

    as_string = client.post(
        "/v1/overrides",
        {
            "agreement_id": str(agreement.pk),
            "period_id": "850",
            "rule_order": "1",
            "amount_native": "5",
            "reason": "x",
        },
        content_type="application/json",
    )
    period_as_number = client.post(
        "/v1/overrides",
        {"agreement_id": str(agreement.pk), "period_id": 850, "amount_native": "5", "reason": "x"},
        content_type="application/json",
    )

    assert body(as_string)["error"]["details"].keys() == {"rule_order"}
    assert body(period_as_number)["error"]["details"].keys() == {"period_id"}


def test_a_status_change_reason_must_be_a_string() -> None:
    agreement = make_agreement(active=False)

    response = finance_client().post(
        f"/v1/agreements/{agreement.pk}/status",
        {"status": "ACTIVE", "reason": 1},
        content_type="application/json",
    )

    assert response.status_code == 400 and "reason" in body(response)["error"]["details"]


def test_new_terms_with_a_string_rate_are_refused() -> None:
    agreement = make_agreement()

    response = finance_client().put(
        f"/v1/agreements/{agreement.pk}",
        {
            "rules": [rule(1, commission_rate_bps="600")],
            "effective_from": (START.replace(year=START.year + 1)).isoformat(),
            "change_reason": "rate",
            "based_on": token(agreement),
        },
        content_type="application/json",
    )

    assert response.status_code == 400
    assert "commission_rate_bps" in body(response)["error"]["message"]


@pytest.mark.parametrize("value", ["yes", "1", "True", ""])
def test_a_boolean_filter_takes_true_or_false_only(value: str) -> None:
    response = finance_client().get(f"/v1/partners?is_active={value}")

    assert response.status_code == 400
    assert body(response)["error"]["details"] == {"is_active": ["Send true or false."]}


def test_a_boolean_filter_still_filters() -> None:
    f.PartnerFactory(partner_name="Open", is_active=True)
    f.PartnerFactory(partner_name="Closed", is_active=False)
    client = finance_client()

    active = body(client.get("/v1/partners?is_active=true"))["data"]
    inactive = body(client.get("/v1/partners?is_active=false"))["data"]

    assert [p["partner_name"] for p in active] == ["Open"]
    assert [p["partner_name"] for p in inactive] == ["Closed"]


@pytest.mark.parametrize("limit", ["5_0", "+5", "\u0665", " 5", "99999999999999999999999"])
def test_paging_takes_plain_whole_numbers_within_bounds(limit: str) -> None:
    response = finance_client().get("/v1/chains", {"limit": limit})

    assert response.status_code == 400
    assert "limit" in body(response)["error"]["details"]


def test_a_method_the_endpoint_does_not_have_is_a_405_with_allow_even_for_a_role_without_writes() -> None:
    auditor = signed_in(f.UserFactory(role=Role.AUDITOR))
    finance = finance_client()

    for client in (auditor, finance):
        response = client.delete("/v1/chains")
        assert response.status_code == 405
        assert body(response)["error"]["code"] == "method_not_allowed"
        assert {m.strip() for m in response["Allow"].split(",")} >= {"GET"}
        assert "DELETE" not in response["Allow"]


def test_a_method_the_endpoint_has_is_still_refused_to_a_role_without_it() -> None:
    auditor = signed_in(f.UserFactory(role=Role.AUDITOR))

    response = auditor.post("/v1/agreements", {}, content_type="application/json")

    assert response.status_code == 403


# ---- declared bounds ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGED_LISTS)
def test_every_paged_list_declares_its_limit_and_offset_bounds(schema: dict[str, Any], path: str) -> None:
    parameters = {p["name"]: p["schema"] for p in schema["paths"][path]["get"]["parameters"]}

    assert parameters["limit"] == {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}
    assert parameters["offset"] == {"type": "integer", "minimum": 0, "maximum": 10**9, "default": 0}


def test_the_paging_bounds_declared_are_the_ones_enforced() -> None:
    client = finance_client()

    assert client.get("/v1/chains?limit=500&offset=1000000000").status_code == 200
    assert client.get("/v1/chains?limit=501").status_code == 400
    assert client.get("/v1/chains?offset=1000000001").status_code == 400


def test_filters_and_ranges_declare_their_length_limits(schema: dict[str, Any]) -> None:
    def parameter(path: str, name: str) -> dict[str, Any]:
        found = [p["schema"] for p in schema["paths"][path]["get"]["parameters"] if p["name"] == name]
        return dict(found[0])

    assert parameter("/v1/agreements", "chain_id")["maxLength"] == 50
    assert parameter("/v1/overrides", "chain_id")["maxLength"] == 50
    assert parameter("/v1/partners", "name")["maxLength"] == 200
    assert parameter("/v1/partners/{partner_id}/clients", "chain_id")["maxLength"] == 100
    assert (
        parameter("/v1/chains/{chain_id}/partners/{partner_id}/commissions", "validator_key")["maxLength"]
        == 100
    )
    assert parameter("/v1/chains/{chain_id}/periods", "from")["maxLength"] == 40
    assert parameter("/v1/partners", "is_active")["type"] == "boolean"


def test_integer_body_fields_are_declared_with_their_bounds(schema: dict[str, Any]) -> None:
    rule_input = schema["components"]["schemas"]["RuleInputRequest"]["properties"]

    assert rule_input["commission_rate_bps"] == {"type": "integer", "maximum": 10000, "minimum": 0}
    assert rule_input["rule_order"] == {"type": "integer", "maximum": 1000, "minimum": 1}


def test_operations_with_a_body_declare_413_and_415_and_every_operation_406(schema: dict[str, Any]) -> None:
    for path, operations in schema["paths"].items():
        if path.startswith("/v1/schema"):
            continue
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "406" in responses, f"{method} {path}"
            if "requestBody" in operation:
                assert {"413", "415"} <= responses.keys(), f"{method} {path}"


# ---- the application loads -------------------------------------------------------------------------


def test_the_wsgi_application_loads_in_a_fresh_process() -> None:
    """As a WSGI server loads it: the middleware (the API's error envelope among them) imported first."""
    loaded = subprocess.run(
        [sys.executable, "-c", "from django.core.wsgi import get_wsgi_application; get_wsgi_application()"],
        cwd=settings.BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "aurora.settings", "DEBUG": "true"},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert loaded.returncode == 0, loaded.stderr[-2000:]


@pytest.mark.parametrize(
    "query",
    ["status=", "partner_id=", "status=active", "partner_id=12"],
    ids=["empty", "empty-uuid", "case", "uuid"],
)
def test_a_choice_or_uuid_filter_sent_empty_or_wrong_is_refused(query: str) -> None:
    response = finance_client().get(f"/v1/agreements?{query}")

    assert response.status_code == 400
    assert query.split("=")[0] in body(response)["error"]["details"]


@pytest.mark.parametrize(
    ("amount", "accepted"),
    [
        ("40000000", True),
        (40000000, True),
        ("0" * 34 + "1" * 30, True),
        ("1" * 31, False),
        (" 5", False),
        (-5, False),
    ],
)
def test_whole_amounts_are_read_as_declared(amount: Any, accepted: bool) -> None:
    from rest_framework.exceptions import ValidationError

    from api.fields import WholeAmountInputField

    field = WholeAmountInputField()
    if accepted:
        assert field.to_internal_value(amount) == int(amount)
    else:
        with pytest.raises(ValidationError):
            field.to_internal_value(amount)


def test_a_tier_configuration_is_declared_in_full(schema: dict[str, Any]) -> None:
    tier_config = schema["components"]["schemas"]["RuleInputRequest"]["properties"]["tier_config"]

    assert tier_config["required"] == ["basis", "mode", "tiers"]
    assert tier_config["additionalProperties"] is False
    rate = tier_config["properties"]["tiers"]["items"]["properties"]["rate_bps"]
    assert rate == {"type": "integer", "minimum": 0, "maximum": 10000}
