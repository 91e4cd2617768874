"""The agreement and override endpoints: reading agreements, their versions and overridden lines
within the user's scope; creating agreements, changing terms (stale changes refused with 409) and
status, and overriding lines through the commission services, audited, with nothing written when
refused."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from accounts.models import AuditAction, AuditLog, Role, User
from commissions.models import (
    Agreement,
    AgreementStatus,
    AgreementStatusEvent,
    AgreementVersion,
    CommissionLine,
    StatementStatus,
)
from commissions.services.agreements import (
    RuleSpec,
    agreement_create,
    agreement_set_status,
    terms_token,
)
from tests import factories as f

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"
SOLANA = "solana-mainnet"
ETHEREUM = "ethereum-mainnet"


@pytest.fixture(autouse=True)
def _fresh_throttles() -> None:
    cache.clear()


def bearer(user: User) -> dict[str, str]:
    response = Client().post(
        "/v1/auth/token", {"username": user.username, "password": PASSWORD}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    return {"HTTP_AUTHORIZATION": f"Bearer {response.json()['data']['access']}"}


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def body(response: Any) -> dict[str, Any]:
    payload = response.json()
    assert set(payload) == {"data", "error"}
    return dict(payload)


def finance(**extra: Any) -> User:
    return f.UserFactory(role=Role.FINANCE, **extra)


def rule(order: int = 1, chain_id: str | None = SOLANA, **extra: Any) -> dict[str, Any]:
    return {
        "rule_order": order,
        "chain_id": chain_id,
        "revenue_component": "MEV_TIPS",
        "attribution_method": "FIXED_SHARE",
        "commission_rate_bps": 500,
        **extra,
    }


def spec(order: int = 1, chain_id: str | None = SOLANA, **extra: Any) -> RuleSpec:
    return RuleSpec(**rule(order, chain_id, **extra))


START = timezone.now().replace(microsecond=0) - timedelta(days=200)


def make_agreement(
    *rules: RuleSpec, partner: Any = None, name: str = "MEV share", active: bool = True
) -> Agreement:
    """An agreement made as the back office makes it (version 1 with its snapshot), active."""
    f.ChainFactory()
    agreement = agreement_create(
        partner=partner or f.PartnerFactory(),
        name=name,
        effective_from=START,
        rules=list(rules) or [spec()],
        actor=None,
    )
    if active:
        agreement_set_status(
            agreement_id=agreement.pk, status=AgreementStatus.ACTIVE, actor=None, reason="signed"
        )
    agreement.refresh_from_db()
    return agreement


def token(agreement: Agreement) -> str:
    agreement.refresh_from_db()
    return terms_token(
        AgreementVersion.objects.get(agreement=agreement, version_number=agreement.current_version)
    )


# ---- reading agreements -------------------------------------------------------------------------


def test_the_list_shows_agreements_with_their_current_rules_in_the_envelope() -> None:
    agreement = make_agreement(spec(1, cap_amount_native=Decimal("5000000000")), spec(2, None))
    user = finance()

    response = Client().get("/v1/agreements", **bearer(user))

    assert response.status_code == 200
    assert response["X-Total-Count"] == "1"
    payload = body(response)
    assert payload["error"] is None
    [row] = payload["data"]
    assert row["agreement_id"] == str(agreement.pk)
    assert (row["partner_id"], row["partner_name"]) == (
        str(agreement.partner_id),
        agreement.partner.partner_name,
    )
    assert (row["status"], row["current_version"], row["effective_until"]) == ("ACTIVE", 1, None)
    assert row["terms_token"] == token(agreement)
    assert [(r["rule_order"], r["chain_id"]) for r in row["rules"]] == [(1, SOLANA), (2, None)]
    first = row["rules"][0]
    assert first["cap_amount_native"] == "5000000000" and first["floor_amount_native"] is None
    assert first["unit"] == {
        "chain_id": SOLANA,
        "native_unit": "lamport",
        "native_decimals": 9,
        "symbol": "SOL",
    }
    assert row["rules"][1]["unit"] is None
    assert {"created_at", "updated_at"} <= set(row)


def test_the_list_filters_by_partner_status_and_chain_and_names_a_bad_filter() -> None:
    f.ChainFactory(ethereum=True)
    solana = make_agreement(name="A solana")
    ethereum = make_agreement(spec(1, ETHEREUM), name="B ethereum")
    draft = make_agreement(name="C draft", active=False)
    client = signed_in(finance())

    def ids(query: str) -> list[str]:
        response = client.get(f"/v1/agreements?{query}")
        assert response.status_code == 200, response.content
        return [row["agreement_id"] for row in body(response)["data"]]

    assert ids(f"partner_id={ethereum.partner_id}") == [str(ethereum.pk)]
    assert ids("status=DRAFT") == [str(draft.pk)]
    assert set(ids(f"chain_id={SOLANA}")) == {str(solana.pk), str(draft.pk)}
    assert ids(f"chain_id={ETHEREUM}") == [str(ethereum.pk)]
    bad = client.get("/v1/agreements?partner_id=not-a-uuid")
    assert bad.status_code == 400
    assert list(body(bad)["error"]["details"]) == ["partner_id"]
    assert body(client.get("/v1/agreements?status=GONE"))["error"]["details"].keys() == {"status"}


def test_the_list_does_not_grow_queries_with_rows(django_assert_max_num_queries: Any) -> None:
    client = signed_in(finance())
    for n in range(3):
        make_agreement(spec(1), spec(2, None), name=f"few {n}")
    with django_assert_max_num_queries(50) as few:
        assert len(body(client.get("/v1/agreements?limit=100"))["data"]) == 3
    for n in range(27):
        make_agreement(spec(1), spec(2, None), name=f"many {n}")

    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(body(client.get("/v1/agreements?limit=100"))["data"]) == 30


def test_the_detail_and_versions_newest_first() -> None:
    user = finance(username="jane")
    agreement = make_agreement()
    client = signed_in(user)
    changed = client.put(
        f"/v1/agreements/{agreement.pk}",
        {
            "rules": [rule(commission_rate_bps=600)],
            "effective_from": (START + timedelta(days=30)).isoformat(),
            "change_reason": "6 % from next month",
            "based_on": token(agreement),
        },
        content_type="application/json",
    )
    assert changed.status_code == 200, changed.content

    detail = body(client.get(f"/v1/agreements/{agreement.pk}"))["data"]
    versions = body(client.get(f"/v1/agreements/{agreement.pk}/versions"))["data"]

    assert detail["current_version"] == 2 and detail["terms_token"] == token(agreement)
    assert [r["commission_rate_bps"] for r in detail["rules"]] == [600]
    assert [v["version_number"] for v in versions] == [2, 1]
    assert versions[0]["created_by"] == "jane" and versions[1]["created_by"] is None
    assert versions[0]["change_reason"] == "6 % from next month"
    assert versions[0]["terms_snapshot"]["rules"][0]["commission_rate_bps"] == 600
    assert versions[1]["effective_until"] == versions[0]["effective_from"]


def test_who_may_read_agreements() -> None:
    agreement = make_agreement()
    partner_user = f.PartnerUserFactory(partner=agreement.partner)
    url = f"/v1/agreements/{agreement.pk}"

    assert Client().get(url).status_code == 401
    assert signed_in(f.UserFactory(role=Role.OPS)).get(url).status_code == 403
    assert body(signed_in(partner_user).get(url))["error"]["code"] == "permission_denied"
    assert signed_in(f.UserFactory(role=Role.AUDITOR)).get(url).status_code == 200
    missing = signed_in(finance()).get("/v1/agreements/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404 and body(missing)["error"]["code"] == "not_found"


def test_a_chain_limited_user_sees_agreements_with_rules_on_its_chains_and_those_rules_only() -> None:
    f.ChainFactory(ethereum=True)
    solana_only = make_agreement(spec(1, SOLANA), name="solana only")
    mixed = make_agreement(spec(1, SOLANA), spec(2, ETHEREUM), name="mixed")
    everywhere = make_agreement(spec(1, None), name="every chain")
    eth_user = finance(allowed_chain_ids=[ETHEREUM])
    client = signed_in(eth_user)

    rows = body(client.get("/v1/agreements"))["data"]

    assert [row["agreement_id"] for row in rows] == [str(mixed.pk)]
    assert [r["chain_id"] for r in rows[0]["rules"]] == [ETHEREUM]
    assert client.get(f"/v1/agreements/{solana_only.pk}").status_code == 404
    assert client.get(f"/v1/agreements/{everywhere.pk}/versions").status_code == 404
    [version] = body(client.get(f"/v1/agreements/{mixed.pk}/versions"))["data"]
    assert [r["chain_id"] for r in version["terms_snapshot"]["rules"]] == [ETHEREUM]
    # It may not change terms reaching beyond its chains.
    refused = client.post(
        f"/v1/agreements/{mixed.pk}/status",
        {"status": "SUSPENDED", "reason": "x"},
        content_type="application/json",
    )
    assert refused.status_code == 403
    mixed.refresh_from_db()
    assert mixed.status == AgreementStatus.ACTIVE


# ---- creating and changing ----------------------------------------------------------------------


def new_agreement(partner: Any, **extra: Any) -> dict[str, Any]:
    return {
        "partner_id": str(partner.pk),
        "agreement_name": "MEV share 2025",
        "effective_from": START.isoformat(),
        "rules": [rule(1, cap_amount_native="5000000000"), rule(2, None, revenue_component="EXEC_FEES")],
        "reason": "signed",
        **extra,
    }


def test_creating_an_agreement_makes_an_audited_draft() -> None:
    f.ChainFactory()
    partner = f.PartnerFactory()
    user = finance()

    response = Client().post(
        "/v1/agreements", new_agreement(partner), content_type="application/json", **bearer(user)
    )

    assert response.status_code == 201, response.content
    data = body(response)["data"]
    agreement = Agreement.objects.get()
    assert response["Location"] == f"/v1/agreements/{agreement.pk}"
    assert (data["agreement_id"], data["status"], data["current_version"]) == (str(agreement.pk), "DRAFT", 1)
    assert [(r["rule_order"], r["cap_amount_native"]) for r in data["rules"]] == [
        (1, "5000000000"),
        (2, None),
    ]
    entry = AuditLog.objects.get(action=AuditAction.CREATE_AGREEMENT)
    assert (entry.user, entry.resource_id) == (user, str(agreement.pk))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"agreement_name": ""}, "agreement_name"),
        ({"effective_until": (START - timedelta(days=1)).isoformat()}, "effective_until"),
        ({"rules": []}, "rules"),
        ({"rules": [rule(1, "no-such-chain")]}, "rules"),
        ({"rules": [rule(1), rule(1)]}, "rules"),
        ({"rules": [rule(1, revenue_component="TIPS")]}, "rules"),
        ({"rules": [rule(1, commission_rate_bps=10_001)]}, "rules"),
        ({"rules": [rule(1, cap_amount_native=1.5)]}, "rules"),
        ({"rules": [rule(1, tier_config={"basis": "nope"})]}, "rules"),
        ({"partner_id": "00000000-0000-0000-0000-000000000000"}, "partner_id"),
        ({"effective_from": "soon"}, "effective_from"),
    ],
    ids=[
        "no name",
        "ends before it starts",
        "no rules",
        "unknown chain",
        "two rules one order",
        "unknown component",
        "rate above 100 %",
        "float amount",
        "bad tiers",
        "unknown partner",
        "not a date",
    ],
)
def test_a_refused_agreement_names_the_field_and_writes_nothing(change: dict[str, Any], field: str) -> None:
    f.ChainFactory()
    partner = f.PartnerFactory()
    client = signed_in(finance())  # signing in is audited
    audited = AuditLog.objects.count()

    response = client.post(
        "/v1/agreements", new_agreement(partner, **change), content_type="application/json"
    )

    assert response.status_code == 400, response.content
    error = body(response)["error"]
    assert (error["code"], list(error["details"])) == ("validation_error", [field])
    assert not Agreement.objects.exists()
    assert AuditLog.objects.count() == audited


def test_only_agreement_editors_create_and_a_limited_user_only_within_its_chains() -> None:
    f.ChainFactory()
    f.ChainFactory(ethereum=True)
    partner = f.PartnerFactory()
    auditor = f.UserFactory(role=Role.AUDITOR)

    refused = signed_in(auditor).post(
        "/v1/agreements", new_agreement(partner), content_type="application/json"
    )
    outside = signed_in(finance(allowed_chain_ids=[ETHEREUM])).post(
        "/v1/agreements", new_agreement(partner), content_type="application/json"
    )

    assert refused.status_code == 403
    assert outside.status_code == 400 and "outside your chains" in body(outside)["error"]["message"]
    assert not Agreement.objects.exists()


def test_a_draft_s_terms_are_edited_in_place_and_keep_its_start() -> None:
    agreement = make_agreement(active=False)
    client = signed_in(finance())

    response = client.put(
        f"/v1/agreements/{agreement.pk}",
        {"rules": [rule(1, commission_rate_bps=700)], "change_reason": "typo", "based_on": token(agreement)},
        content_type="application/json",
    )

    assert response.status_code == 200, response.content
    data = body(response)["data"]
    assert (data["current_version"], [r["commission_rate_bps"] for r in data["rules"]]) == (1, [700])
    version = AgreementVersion.objects.get(agreement=agreement)
    assert (version.effective_from, version.change_reason) == (START, "typo")
    assert (
        AuditLog.objects.filter(action=AuditAction.UPDATE_AGREEMENT, resource_id=str(agreement.pk)).count()
        == 1
    )


def test_new_terms_of_an_agreement_in_use_need_a_start_and_become_a_new_version() -> None:
    agreement = make_agreement()
    client = signed_in(finance())
    change = {
        "rules": [rule(1, commission_rate_bps=600)],
        "change_reason": "6 %",
        "based_on": token(agreement),
    }

    no_start = client.put(f"/v1/agreements/{agreement.pk}", change, content_type="application/json")
    overlapping = client.put(
        f"/v1/agreements/{agreement.pk}",
        {**change, "effective_from": START.isoformat()},
        content_type="application/json",
    )
    later = client.put(
        f"/v1/agreements/{agreement.pk}",
        {**change, "effective_from": (START + timedelta(days=60)).isoformat()},
        content_type="application/json",
    )

    assert no_start.status_code == 400 and list(body(no_start)["error"]["details"]) == ["effective_from"]
    assert overlapping.status_code == 400 and list(body(overlapping)["error"]["details"]) == [
        "effective_from"
    ]
    assert later.status_code == 200 and body(later)["data"]["current_version"] == 2
    assert AgreementVersion.objects.filter(agreement=agreement).count() == 2


def test_a_change_over_newer_terms_is_a_409_conflict_and_changes_nothing() -> None:
    agreement = make_agreement()
    stale = token(agreement)
    client = signed_in(finance())
    first = client.put(
        f"/v1/agreements/{agreement.pk}",
        {
            "rules": [rule(1, commission_rate_bps=600)],
            "effective_from": (START + timedelta(days=10)).isoformat(),
            "change_reason": "first",
            "based_on": stale,
        },
        content_type="application/json",
    )
    assert first.status_code == 200
    audited = AuditLog.objects.count()

    second = client.put(
        f"/v1/agreements/{agreement.pk}",
        {
            "rules": [rule(1, commission_rate_bps=900)],
            "effective_from": (START + timedelta(days=20)).isoformat(),
            "change_reason": "second",
            "based_on": stale,
        },
        content_type="application/json",
    )

    assert second.status_code == 409
    error = body(second)["error"]
    assert error["code"] == "conflict"
    assert list(error["details"]) == ["based_on"] and error["message"].startswith(
        "based_on: The terms changed"
    )
    assert AgreementVersion.objects.filter(agreement=agreement).count() == 2
    assert AuditLog.objects.count() == audited


def test_a_change_without_a_reason_or_token_is_refused_naming_them() -> None:
    agreement = make_agreement()

    response = signed_in(finance()).put(
        f"/v1/agreements/{agreement.pk}", {"rules": [rule()]}, content_type="application/json"
    )

    assert response.status_code == 400
    assert set(body(response)["error"]["details"]) == {"change_reason", "based_on"}


def test_status_changes_follow_the_lifecycle_and_are_audited() -> None:
    agreement = make_agreement(active=False)
    client = signed_in(finance())
    url = f"/v1/agreements/{agreement.pk}/status"

    activated = client.post(url, {"status": "ACTIVE", "reason": "signed"}, content_type="application/json")
    again = client.post(url, {"status": "ACTIVE", "reason": "again"}, content_type="application/json")
    no_reason = client.post(url, {"status": "SUSPENDED"}, content_type="application/json")
    to_draft = client.post(url, {"status": "DRAFT", "reason": "undo"}, content_type="application/json")

    assert activated.status_code == 200 and body(activated)["data"]["status"] == "ACTIVE"
    event = AgreementStatusEvent.objects.get(agreement=agreement)
    assert (event.from_status, event.to_status, event.effective_at) == ("DRAFT", "ACTIVE", START)
    assert AuditLog.objects.filter(action=AuditAction.CHANGE_AGREEMENT_STATUS).count() == 1
    assert again.status_code == 409 and list(body(again)["error"]["details"]) == ["status"]
    assert no_reason.status_code == 400 and list(body(no_reason)["error"]["details"]) == ["reason"]
    assert to_draft.status_code == 400 and list(body(to_draft)["error"]["details"]) == ["status"]
    assert AgreementStatusEvent.objects.filter(agreement=agreement).count() == 1


def test_a_status_change_cannot_predate_the_last_one() -> None:
    agreement = make_agreement()
    early = (START - timedelta(days=1)).isoformat()

    response = signed_in(finance()).post(
        f"/v1/agreements/{agreement.pk}/status",
        {"status": "SUSPENDED", "reason": "late payment", "effective_at": early},
        content_type="application/json",
    )

    assert response.status_code == 400 and list(body(response)["error"]["details"]) == ["effective_at"]
    agreement.refresh_from_db()
    assert agreement.status == AgreementStatus.ACTIVE


# ---- overrides ----------------------------------------------------------------------------------


def line(**extra: Any) -> CommissionLine:
    return f.CommissionLineFactory(**extra)  # type: ignore[no-any-return]


def test_the_override_list_shows_overridden_lines_filtered() -> None:
    plain = line()
    overridden = line(override_amount_native=Decimal(35_000_000))
    flagged = line(override_amount_native=Decimal(1), override_needs_review=True)
    client = Client()
    headers = bearer(finance())

    rows = body(client.get("/v1/overrides", **headers))["data"]
    review = body(client.get("/v1/overrides?needs_review=true", **headers))["data"]
    of_partner = body(client.get(f"/v1/overrides?partner_id={overridden.partner_id}", **headers))["data"]

    assert {row["line_id"] for row in rows} == {str(overridden.pk), str(flagged.pk)}
    assert str(plain.pk) not in {row["line_id"] for row in rows}
    assert [row["line_id"] for row in review] == [str(flagged.pk)]
    [row] = of_partner
    assert row["override_amount_native"] == "35000000" and row["final_amount_native"] == "35000000"
    assert row["pre_override_amount_native"] == "40000000" and row["override_reason"] == "manual correction"
    assert row["period_identifier"] == overridden.period.period_identifier and row["unit"]["symbol"] == "SOL"


def test_the_override_list_is_scoped_and_does_not_grow_queries(django_assert_max_num_queries: Any) -> None:
    f.ChainFactory(ethereum=True)
    eth_user = finance(allowed_chain_ids=[ETHEREUM])
    client = signed_in(eth_user)
    chain = f.ChainFactory(ethereum=True)
    for _ in range(3):
        line(chain=chain, override_amount_native=Decimal(5))
    line(override_amount_native=Decimal(5))  # on Solana: not this user's
    with django_assert_max_num_queries(50) as few:
        assert len(body(client.get("/v1/overrides?limit=100"))["data"]) == 3
    for _ in range(27):
        line(chain=chain, override_amount_native=Decimal(5))

    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(body(client.get("/v1/overrides?limit=100"))["data"]) == 30
    assert signed_in(f.UserFactory(role=Role.OPS)).get("/v1/overrides").status_code == 403


def test_overriding_a_line_by_its_id_is_audited() -> None:
    target = line()
    user = finance()

    response = Client().post(
        "/v1/overrides",
        {"line_id": str(target.pk), "amount_native": "35000000", "reason": "client left mid-epoch"},
        content_type="application/json",
        **bearer(user),
    )

    assert response.status_code == 201, response.content
    data = body(response)["data"]
    assert (data["line_id"], data["override_amount_native"], data["final_amount_native"]) == (
        str(target.pk),
        "35000000",
        "35000000",
    )
    assert data["override_user"] == user.username and data["override_reason"] == "client left mid-epoch"
    target.refresh_from_db()
    assert target.final_amount_native == Decimal(35_000_000)
    entry = AuditLog.objects.get(action=AuditAction.CREATE_OVERRIDE)
    assert (entry.user, entry.resource_id) == (user, str(target.pk))


def test_overriding_by_agreement_and_period_as_the_seed_sends_it() -> None:
    first = line()
    second_rule = f.AgreementRuleFactory(agreement=first.agreement, chain=first.chain)
    line(rule=second_rule, chain=first.chain, period=first.period)
    client = signed_in(finance())
    named = {
        "agreement_id": str(first.agreement_id),
        "period_id": first.period.period_identifier,
        "amount_native": 7,
        "reason": "agreed with the partner",
    }

    ambiguous = client.post("/v1/overrides", named, content_type="application/json")
    precise = client.post(
        "/v1/overrides", {**named, "rule_order": first.rule_order}, content_type="application/json"
    )
    no_line = client.post("/v1/overrides", {**named, "period_id": "1"}, content_type="application/json")

    assert ambiguous.status_code == 400 and list(body(ambiguous)["error"]["details"]) == ["rule_order"]
    assert precise.status_code == 201 and body(precise)["data"]["line_id"] == str(first.pk)
    assert no_line.status_code == 400 and list(body(no_line)["error"]["details"]) == ["period_id"]
    first.refresh_from_db()
    assert first.override_amount_native == Decimal(7)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount_native": 1.5}, "amount_native"),
        ({"amount_native": "-3"}, "amount_native"),
        ({"amount_native": "1" * 31}, "amount_native"),
        ({"reason": ""}, "reason"),
        ({"line_id": None, "agreement_id": None}, "agreement_id"),
        ({"line_id": "00000000-0000-0000-0000-000000000000"}, "line_id"),
    ],
    ids=["float", "negative", "too large", "no reason", "no line named", "unknown line"],
)
def test_a_refused_override_names_the_field_and_changes_nothing(change: dict[str, Any], field: str) -> None:
    target = line()
    client = signed_in(finance())
    audited = AuditLog.objects.count()
    request = {"line_id": str(target.pk), "amount_native": "5", "reason": "fix", **change}

    response = client.post(
        "/v1/overrides", {k: v for k, v in request.items() if v is not None}, content_type="application/json"
    )

    assert response.status_code == 400, response.content
    assert field in body(response)["error"]["details"]
    target.refresh_from_db()
    assert target.override_amount_native is None and AuditLog.objects.count() == audited


def test_a_line_of_a_frozen_statement_cannot_be_overridden() -> None:
    statement = f.StatementFactory(status=StatementStatus.APPROVED)
    target = line(statement=statement, partner=statement.partner)
    client = signed_in(finance())
    audited = AuditLog.objects.count()

    response = client.post(
        "/v1/overrides",
        {"line_id": str(target.pk), "amount_native": "5", "reason": "too late"},
        content_type="application/json",
    )

    assert response.status_code == 409
    error = body(response)["error"]
    assert error["code"] == "conflict" and list(error["details"]) == ["line_id"]
    assert "frozen" in error["message"]
    target.refresh_from_db()
    assert target.override_amount_native is None and AuditLog.objects.count() == audited


def test_only_line_overriders_may_override_and_only_lines_in_scope() -> None:
    target = line()
    request = {"line_id": str(target.pk), "amount_native": "5", "reason": "x"}

    auditor = signed_in(f.UserFactory(role=Role.AUDITOR)).post(
        "/v1/overrides", request, content_type="application/json"
    )
    eth_only = signed_in(finance(allowed_chain_ids=[ETHEREUM])).post(
        "/v1/overrides", request, content_type="application/json"
    )

    assert auditor.status_code == 403
    assert eth_only.status_code == 400 and list(body(eth_only)["error"]["details"]) == ["line_id"]
    target.refresh_from_db()
    assert target.override_amount_native is None


def test_removing_an_override_pays_the_computed_amount_again() -> None:
    target = line(override_amount_native=Decimal(9))
    client = signed_in(finance())

    no_reason = client.delete(f"/v1/overrides/{target.pk}", {}, content_type="application/json")
    removed = client.delete(
        f"/v1/overrides/{target.pk}", {"reason": "wrong line"}, content_type="application/json"
    )
    again = client.delete(
        f"/v1/overrides/{target.pk}", {"reason": "wrong line"}, content_type="application/json"
    )

    assert no_reason.status_code == 400 and list(body(no_reason)["error"]["details"]) == ["reason"]
    assert removed.status_code == 200
    data = body(removed)["data"]
    assert (data["override_amount_native"], data["final_amount_native"]) == (None, "40000000")
    assert AuditLog.objects.filter(action=AuditAction.CLEAR_OVERRIDE, resource_id=str(target.pk)).count() == 1
    assert again.status_code == 404


def test_an_agreement_without_a_terms_version_reads_and_refuses_changes() -> None:
    bare = f.AgreementFactory()  # not made through the services: no version
    client = signed_in(finance())

    detail = client.get(f"/v1/agreements/{bare.pk}")
    change = client.put(
        f"/v1/agreements/{bare.pk}",
        {"rules": [rule()], "effective_from": START.isoformat(), "change_reason": "x", "based_on": "y"},
        content_type="application/json",
    )

    assert detail.status_code == 200
    assert (body(detail)["data"]["terms_token"], body(detail)["data"]["rules"]) == (None, [])
    assert change.status_code == 409 and list(body(change)["error"]["details"]) == ["based_on"]
