"""The REST API's common ground: the envelope, errors, JWT and session auth, throttling, paging,
the schema, and the chain, period and validator P&L endpoints."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

from accounts.models import Role, User
from tests import factories as f

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"
VALIDATOR = "Vote" + "5" * 40


@pytest.fixture(autouse=True)
def _fresh_throttles() -> None:
    cache.clear()


def token_for(user: User, client: Client | None = None) -> dict[str, str]:
    response = (client or Client()).post(
        "/v1/auth/token", {"username": user.username, "password": PASSWORD}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    return dict(response.json()["data"])


def bearer(user: User) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token_for(user)['access']}"}


def body(response: Any) -> dict[str, Any]:
    payload = response.json()
    assert set(payload) == {"data", "error"}
    return dict(payload)


# ---- envelope and errors ------------------------------------------------------------------------


def test_answers_carry_data_and_a_null_error() -> None:
    finance = f.UserFactory(role=Role.FINANCE)
    f.PeriodFactory(epoch=850)

    payload = body(Client().get("/v1/chains", **bearer(finance)))

    assert payload["error"] is None
    assert [c["chain_id"] for c in payload["data"]] == ["solana-mainnet"]
    assert payload["data"][0]["native_decimals"] == 9 and payload["data"][0]["latest_final_period"] == "850"


@pytest.mark.parametrize(
    ("url", "status", "code", "message"),
    [
        (
            "/v1/chains/solana-mainnet/periods?from=99999",
            400,
            "validation_error",
            "from: solana-mainnet has no period",
        ),
        (
            "/v1/chains/solana-mainnet/periods?from=2025-13-01",
            400,
            "validation_error",
            "from: '2025-13-01' is not a date",
        ),
        (
            "/v1/chains/solana-mainnet/periods?from=851&to=850",
            400,
            "validation_error",
            "to: Comes before `from`.",
        ),
        (
            "/v1/chains/solana-mainnet/periods?limit=0",
            400,
            "validation_error",
            "limit: Must be between 1 and 500.",
        ),
        (
            "/v1/chains/solana-mainnet/periods?offset=x",
            400,
            "validation_error",
            "offset: A whole number is required",
        ),
        ("/v1/chains/no-such-chain/periods", 404, "not_found", "No chain 'no-such-chain'."),
        ("/v1/no/such/endpoint", 404, "not_found", "No such endpoint."),
    ],
)
def test_errors_name_what_is_wrong(url: str, status: int, code: str, message: str) -> None:
    finance = f.UserFactory(role=Role.FINANCE)
    f.PeriodFactory(epoch=850)
    f.PeriodFactory(epoch=851)

    response = Client().get(url, **bearer(finance))

    assert response.status_code == status
    payload = body(response)
    assert payload["data"] is None
    assert payload["error"]["code"] == code
    assert payload["error"]["message"].startswith(message)


def test_a_field_error_lists_the_field_in_details() -> None:
    finance = f.UserFactory(role=Role.FINANCE)
    f.PeriodFactory(epoch=850)

    payload = body(Client().get("/v1/chains/solana-mainnet/periods?limit=-3", **bearer(finance)))

    assert payload["error"]["details"] == {"limit": ["Must be between 1 and 500."]}


def test_a_body_that_is_not_json_is_a_parse_error() -> None:
    response = Client().post("/v1/auth/token", "{not json", content_type="application/json")

    assert response.status_code == 400
    assert body(response)["error"]["code"] == "parse_error"


# ---- authentication -----------------------------------------------------------------------------


def test_without_credentials_the_answer_is_401_with_a_bearer_challenge() -> None:
    response = Client().get("/v1/chains")

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert body(response)["error"]["code"] == "not_authenticated"


def test_a_token_pair_works_and_the_refresh_token_gives_a_new_access_token() -> None:
    finance = f.UserFactory(role=Role.FINANCE)
    pair = token_for(finance)

    refreshed = Client().post(
        "/v1/auth/token/refresh", {"refresh": pair["refresh"]}, content_type="application/json"
    )
    access = body(refreshed)["data"]["access"]

    assert Client().get("/v1/chains", HTTP_AUTHORIZATION=f"Bearer {access}").status_code == 200
    bad = Client().post(
        "/v1/auth/token/refresh", {"refresh": pair["access"]}, content_type="application/json"
    )
    assert bad.status_code == 401 and body(bad)["error"]["code"] == "authentication_failed"


def test_a_wrong_password_or_a_tampered_token_is_refused() -> None:
    finance = f.UserFactory(role=Role.FINANCE)

    wrong = Client().post(
        "/v1/auth/token", {"username": finance.username, "password": "nope"}, content_type="application/json"
    )
    tampered = Client().get("/v1/chains", HTTP_AUTHORIZATION=f"Bearer {token_for(finance)['access']}x")

    assert wrong.status_code == 401 and body(wrong)["data"] is None
    assert tampered.status_code == 401 and body(tampered)["error"]["code"] == "authentication_failed"


def test_an_expired_access_token_is_refused(settings: Any) -> None:
    from rest_framework_simplejwt.tokens import AccessToken

    finance = f.UserFactory(role=Role.FINANCE)
    token = AccessToken.for_user(finance)
    token.set_exp(lifetime=-timedelta(seconds=1))

    response = Client().get("/v1/chains", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 401


def test_a_deactivated_user_s_token_stops_working() -> None:
    finance = f.UserFactory(role=Role.FINANCE)
    headers = bearer(finance)
    finance.is_active = False
    finance.save()

    assert Client().get("/v1/chains", **headers).status_code == 401


def test_an_expired_auditor_is_refused_even_with_a_token() -> None:
    from django.utils import timezone

    auditor = f.UserFactory(role=Role.AUDITOR)
    headers = bearer(auditor)
    auditor.access_expires_at = timezone.now() - timedelta(minutes=1)
    auditor.save()

    assert Client().get("/v1/chains", **headers).status_code == 403


def test_repeated_wrong_passwords_lock_the_api_sign_in_too(settings: Any) -> None:
    finance = f.UserFactory(role=Role.FINANCE)
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(
            "/v1/auth/token",
            {"username": finance.username, "password": "nope"},
            content_type="application/json",
        )

    locked = client.post(
        "/v1/auth/token",
        {"username": finance.username, "password": PASSWORD},
        content_type="application/json",
    )

    assert locked.status_code != 200
    assert "access" not in (locked.content.decode())


def test_the_browser_session_works_for_reading() -> None:
    client = Client()
    client.force_login(f.UserFactory(role=Role.FINANCE))

    assert client.get("/v1/chains").status_code == 200


# ---- access -------------------------------------------------------------------------------------


def test_a_partner_sees_only_the_chains_it_works_on_and_no_validator_pnl() -> None:
    line = f.CommissionLineFactory()
    partner_user = f.PartnerUserFactory(partner=line.partner)
    f.ChainFactory(ethereum=True)
    stranger = f.PartnerUserFactory()

    mine = body(Client().get("/v1/chains", **bearer(partner_user)))["data"]
    theirs = body(Client().get("/v1/chains", **bearer(stranger)))["data"]
    pnl = Client().get(f"/v1/chains/solana-mainnet/validators/{VALIDATOR}/pnl", **bearer(partner_user))

    assert [c["chain_id"] for c in mine] == ["solana-mainnet"]
    assert theirs == []
    assert pnl.status_code == 403 and body(pnl)["error"]["code"] == "permission_denied"
    assert Client().get("/v1/chains/ethereum-mainnet/periods", **bearer(partner_user)).status_code == 404


def test_a_chain_limited_user_does_not_see_other_chains() -> None:
    f.ChainFactory()
    f.ChainFactory(ethereum=True)
    ops = f.UserFactory(role=Role.OPS, allowed_chain_ids=["ethereum-mainnet"])

    chains = body(Client().get("/v1/chains", **bearer(ops)))["data"]

    assert [c["chain_id"] for c in chains] == ["ethereum-mainnet"]
    assert Client().get("/v1/chains/solana-mainnet/periods", **bearer(ops)).status_code == 404


# ---- periods and P&L ----------------------------------------------------------------------------


def test_periods_filter_by_identifier_or_date_and_page_with_headers() -> None:
    finance = f.UserFactory(role=Role.FINANCE)
    periods = [f.PeriodFactory(epoch=e) for e in range(850, 856)]
    f.PeriodFactory(epoch=856, is_finalized=False, finalized_at=None)
    client, headers = Client(), bearer(finance)

    by_id = client.get("/v1/chains/solana-mainnet/periods?from=851&to=853", **headers)
    by_date = client.get(
        f"/v1/chains/solana-mainnet/periods?from={periods[2].period_end.date()}&to={periods[2].period_end.date()}",
        **headers,
    )
    paged = client.get("/v1/chains/solana-mainnet/periods?limit=2&offset=2", **headers)

    assert [p["period_identifier"] for p in body(by_id)["data"]] == ["851", "852", "853"]
    assert "852" in [p["period_identifier"] for p in body(by_date)["data"]]
    assert [p["period_identifier"] for p in body(paged)["data"]] == ["852", "853"]
    assert paged["X-Total-Count"] == "6"  # the unfinished period 856 is not listed
    assert 'rel="next"' in paged["Link"] and 'rel="prev"' in paged["Link"]


def test_validator_pnl_amounts_are_exact_strings_of_base_units() -> None:
    ops = f.UserFactory(role=Role.OPS)
    huge = Decimal("123456789012345678901234567890.123456789012345678")
    f.ValidatorPnlFactory(
        validator_key=VALIDATOR,
        period=f.PeriodFactory(epoch=850),
        exec_fees_native=huge,
        mev_tips_native=Decimal("800000000"),
        vote_rewards_native=Decimal(0),
        commission_native=Decimal("0.5"),
        total_revenue_native=huge + Decimal("800000000.5"),
    )

    rows = body(
        Client().get(f"/v1/chains/solana-mainnet/validators/{VALIDATOR}/pnl?from=850&to=850", **bearer(ops))
    )["data"]

    assert len(rows) == 1
    row = rows[0]
    assert row["exec_fees_native"] == "123456789012345678901234567890.123456789012345678"
    assert row["mev_tips_native"] == "800000000"
    assert row["commission_native"] == "0.5" and row["vote_rewards_native"] == "0"
    assert row["total_revenue_native"] == "123456789012345678902034567890.623456789012345678"
    assert row["unit"] == {
        "chain_id": "solana-mainnet",
        "native_unit": "lamport",
        "native_decimals": 9,
        "symbol": "SOL",
    }


def test_a_validator_limited_user_gets_no_rows_for_another_validator() -> None:
    ops = f.UserFactory(role=Role.OPS, allowed_validator_keys=["SomeoneElse"])
    f.ValidatorPnlFactory(validator_key=VALIDATOR, period=f.PeriodFactory(epoch=850))

    rows = body(Client().get(f"/v1/chains/solana-mainnet/validators/{VALIDATOR}/pnl", **bearer(ops)))["data"]

    assert rows == []


@pytest.mark.parametrize(
    "url",
    [
        "/v1/chains",
        "/v1/chains/solana-mainnet/periods",
        f"/v1/chains/solana-mainnet/validators/{VALIDATOR}/pnl",
    ],
)
def test_lists_do_not_grow_queries_with_rows(url: str) -> None:
    ops = f.UserFactory(role=Role.OPS)
    client = Client()
    client.force_login(ops)

    def add(n: int, start: int) -> None:
        for epoch in range(start, start + n):
            f.ValidatorPnlFactory(validator_key=VALIDATOR, period=f.PeriodFactory(epoch=epoch))

    add(3, 700)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    add(30, 800)
    with CaptureQueriesContext(connection) as many:
        response = client.get(url)

    assert response.status_code == 200
    assert len(many) <= len(few)


# ---- throttling ---------------------------------------------------------------------------------


def test_anonymous_callers_are_throttled_per_ip_at_sign_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(AnonRateThrottle, "rate", "3/minute", raising=False)
    client = Client()

    def attempt() -> Any:
        return client.post(
            "/v1/auth/token", {"username": "x", "password": "y"}, content_type="application/json"
        )

    statuses = [attempt().status_code for _ in range(3)]
    throttled = attempt()

    assert statuses == [401, 401, 401]
    assert throttled.status_code == 429
    assert body(throttled)["error"]["code"] == "throttled"
    assert int(throttled["Retry-After"]) > 0
    assert body(throttled)["error"]["details"]["retry_after_seconds"] > 0


def test_signed_in_users_are_throttled_per_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(UserRateThrottle, "rate", "2/minute", raising=False)
    one, two = Client(), Client()
    one.force_login(f.UserFactory(role=Role.FINANCE, username="one"))
    two.force_login(f.UserFactory(role=Role.FINANCE, username="two"))

    assert [one.get("/v1/chains").status_code for _ in range(3)] == [200, 200, 429]
    assert two.get("/v1/chains").status_code == 200  # another user has its own allowance


# ---- the schema ---------------------------------------------------------------------------------


def test_the_schema_is_openapi_3_and_wraps_answers_in_the_envelope() -> None:
    response = Client().get("/v1/schema/?format=json")

    schema = response.json()
    assert schema["openapi"].startswith("3.")
    operation = schema["paths"]["/v1/chains"]["get"]
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["required"] == ["data", "error"]
    listed = ok["properties"]["data"]["$ref"].rsplit("/", 1)[-1]
    assert schema["components"]["schemas"][listed]["type"] == "array"
    example = operation["responses"]["200"]["content"]["application/json"]["examples"]["Solana"]["value"]
    assert example["error"] is None and example["data"][0]["chain_id"] == "solana-mainnet"
    assert operation["responses"]["401"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorEnvelope"
    }
    assert "X-Total-Count" in operation["responses"]["200"]["headers"]
    assert "jwtAuth" in schema["components"]["securitySchemes"]


def test_swagger_ui_is_served_without_a_cdn() -> None:
    page = Client().get("/v1/docs/").content.decode()

    assert "swagger-ui" in page
    assert "cdn." not in page and "unpkg" not in page and "jsdelivr" not in page


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("40000000", Decimal(40000000)),
        (40000000, Decimal(40000000)),
        ("0", Decimal(0)),
        ("9" * 30, Decimal("9" * 30)),
    ],
)
def test_an_amount_sent_in_is_whole_base_units(sent: Any, kept: Decimal) -> None:
    from api.fields import WholeAmountInputField

    assert WholeAmountInputField().run_validation(sent) == kept


@pytest.mark.parametrize(
    "sent", [0.5, 40000000.0, True, "1e5", "-3", "12.5", "٣", "9" * 31, "9" * 10_000, [], {}]
)
def test_an_amount_that_is_not_whole_base_units_is_refused_with_a_reason(sent: Any) -> None:
    from rest_framework.exceptions import ValidationError

    from api.fields import WholeAmountInputField

    with pytest.raises(ValidationError) as refused:
        WholeAmountInputField().run_validation(sent)

    assert "whole number of base units" in str(refused.value.detail) or "At most 30 digits" in str(
        refused.value.detail
    )


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/v1/chains/solana-mainnet/periods?from=85%000", "from"),
        (
            "/v1/chains/solana-mainnet/partners/00000000-0000-0000-0000-000000000000/commissions?validator_key=a%00b",
            "validator_key",
        ),
        ("/v1/chains/sol%00ana/periods", "chain_id"),
    ],
)
def test_a_null_character_in_a_parameter_is_a_400_naming_it(url: str, field: str) -> None:
    finance = f.UserFactory(role=Role.FINANCE)
    f.PeriodFactory(epoch=850)

    response = Client().get(url, **bearer(finance))

    assert response.status_code == 400
    assert field in body(response)["error"]["details"]


def test_validator_pnl_shows_penalties_and_a_negative_total() -> None:
    ops = f.UserFactory(role=Role.OPS)
    f.ValidatorPnlFactory(
        validator_key=VALIDATOR,
        period=f.PeriodFactory(epoch=850),
        exec_fees_native=Decimal(0),
        mev_tips_native=Decimal(0),
        vote_rewards_native=Decimal(100),
        commission_native=Decimal(0),
        penalties_native=Decimal(250),
        total_revenue_native=Decimal(-150),
    )

    row = body(Client().get(f"/v1/chains/solana-mainnet/validators/{VALIDATOR}/pnl", **bearer(ops)))["data"][
        0
    ]

    assert row["penalties_native"] == "250" and row["total_revenue_native"] == "-150"
