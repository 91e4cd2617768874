"""The partner endpoints of the REST API: partners, clients, commission lines, statements and
their CSV export. Staff with view_commissions read any partner in scope; a partner user reads its
own partner only (another partner's id answers 404) and exactly what the portal shows it."""

from __future__ import annotations

import csv
import io
import itertools
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import AuditAction, AuditLog, Role, User
from chains.models import Chain, Period
from commissions.models import (
    AgreementRule,
    AgreementStatus,
    CommissionLine,
    RevenueComponent,
    Statement,
    StatementStatus,
)
from partners.models import ClientKind, Partner, PartnerClient
from tests import factories as f

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"
VALIDATOR = "Vote" + "7" * 40
OTHER_VALIDATOR = "Vote" + "8" * 40
EPOCHS = itertools.count(3000)


@dataclass
class Book:
    """One partner's world on Solana: a released August statement with two lines (one of them
    overridden), a draft September statement with a line and an adjustment of August, and a client."""

    partner: Partner
    user: User
    chain: Chain
    rule: AgreementRule
    periods: list[Period]
    released: Statement
    draft: Statement
    released_lines: list[CommissionLine]
    draft_line: CommissionLine
    adjustment: CommissionLine
    client: PartnerClient


def book(name: str) -> Book:
    chain = f.ChainFactory()
    partner = f.PartnerFactory(partner_name=name)
    user = f.PartnerUserFactory(username=name.split()[0].lower(), partner=partner)
    periods = [f.PeriodFactory(chain=chain, epoch=next(EPOCHS)) for _ in range(3)]
    agreement = f.AgreementFactory(partner=partner, agreement_name=f"{name} MEV share")
    rule = f.AgreementRuleFactory(agreement=agreement, chain=chain, rule_order=1)
    released = f.StatementFactory(
        partner=partner,
        chain=chain,
        month="2025-08",
        status=StatementStatus.RELEASED,
        released_at=timezone.now(),
        submitted_at=timezone.now(),
        total_commission_native=Decimal("75000000"),
        line_count=2,
    )
    draft = f.StatementFactory(
        partner=partner,
        chain=chain,
        month="2025-09",
        status=StatementStatus.DRAFT,
        submitted_at=timezone.now(),
        total_commission_native=Decimal("118456789"),
        line_count=2,
    )
    released_lines = [
        f.CommissionLineFactory(
            rule=rule,
            chain=chain,
            period=periods[0],
            statement=released,
            validator_key=VALIDATOR,
            pre_override_amount_native=Decimal("40000000"),
        ),
        f.CommissionLineFactory(
            rule=rule,
            chain=chain,
            period=periods[1],
            statement=released,
            validator_key=VALIDATOR,
            pre_override_amount_native=Decimal("30000000"),
            override_amount_native=Decimal("35000000"),
            override_reason="agreed goodwill top-up",
        ),
    ]
    draft_line = f.CommissionLineFactory(
        rule=rule,
        chain=chain,
        period=periods[2],
        statement=draft,
        validator_key=OTHER_VALIDATOR,
        revenue_component=RevenueComponent.MEV_TIPS,
        pre_override_amount_native=Decimal("123456789"),
    )
    adjustment = f.CommissionLineFactory(
        rule=rule,
        chain=chain,
        period=periods[0],
        statement=draft,
        adjusts_statement=released,
        validator_key=VALIDATOR,
        base_amount_native=Decimal("-100000000"),
        pre_override_amount_native=Decimal("-5000000"),
    )
    client = f.PartnerClientFactory(partner=partner, chain=chain, address=f"Authority{name.split()[0]}")
    return Book(
        partner=partner,
        user=user,
        chain=chain,
        rule=rule,
        periods=periods,
        released=released,
        draft=draft,
        released_lines=released_lines,
        draft_line=draft_line,
        adjustment=adjustment,
        client=client,
    )


@pytest.fixture
def north() -> Book:
    return book("Northwind Staking")


@pytest.fixture
def helios() -> Book:
    return book("Helios Capital")


@pytest.fixture
def finance() -> User:
    return f.UserFactory(username="finance-api", role=Role.FINANCE)


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def bearer(user: User) -> Client:
    """A client authenticated with a real JWT access token (no session)."""
    response = Client().post(
        "/v1/auth/token", {"username": user.username, "password": PASSWORD}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    return Client(HTTP_AUTHORIZATION=f"Bearer {response.json()['data']['access']}")


def commissions_url(b: Book, partner: Partner | None = None, chain: str | None = None) -> str:
    return f"/v1/chains/{chain or b.chain.pk}/partners/{(partner or b.partner).pk}/commissions"


def statement_url(b: Book, month: str, partner: Partner | None = None) -> str:
    return f"/v1/chains/{b.chain.pk}/partners/{(partner or b.partner).pk}/statements/{month}"


def data(response: Any) -> Any:
    body = response.json()
    assert body["error"] is None, body
    return body["data"]


def error(response: Any) -> dict[str, Any]:
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["data"] is None
    return dict(body["error"])


# ---- commission lines ---------------------------------------------------------------------------


def test_a_partner_reads_its_released_lines_with_a_bearer_token_without_override_reasons(
    north: Book,
) -> None:
    response = bearer(north.user).get(commissions_url(north))

    assert response.status_code == 200
    assert response["X-Total-Count"] == "2"  # the draft month's lines are still in preparation
    lines = data(response)
    assert [line["line_id"] for line in lines] == [str(x.pk) for x in north.released_lines]
    overridden = lines[1]
    assert overridden["pre_override_amount_native"] == "30000000"
    assert overridden["override_amount_native"] == "35000000"
    assert overridden["final_amount_native"] == "35000000"
    assert overridden["override_reason"] is None  # the portal never shows why
    assert lines[0]["override_amount_native"] is None
    assert overridden["statement_month"] == "2025-08" and overridden["statement_status"] == "RELEASED"
    assert overridden["adjusts_month"] is None
    assert overridden["unit"] == {
        "chain_id": "solana-mainnet",
        "native_unit": "lamport",
        "native_decimals": 9,
        "symbol": "SOL",
    }
    assert overridden["breakdown"]["validators"][0]["validator"] == "ABC"
    assert overridden["period_identifier"] == north.periods[1].period_identifier
    assert overridden["agreement_name"] == "Northwind Staking MEV share"


def test_finance_reads_every_line_with_override_reasons_and_adjustments(north: Book, finance: User) -> None:
    lines = data(bearer(finance).get(commissions_url(north)))

    by_id = {line["line_id"]: line for line in lines}
    assert set(by_id) == {str(x.pk) for x in [*north.released_lines, north.draft_line, north.adjustment]}
    assert by_id[str(north.released_lines[1].pk)]["override_reason"] == "agreed goodwill top-up"
    adjustment = by_id[str(north.adjustment.pk)]
    assert adjustment["adjusts_month"] == "2025-08" and adjustment["statement_month"] == "2025-09"
    assert adjustment["final_amount_native"] == "-5000000"
    assert isinstance(adjustment["base_amount_native"], str)
    assert by_id[str(north.draft_line.pk)]["statement_status"] == "DRAFT"


def test_a_partner_that_sees_open_amounts_gets_the_provisional_lines_too(north: Book) -> None:
    north.partner.portal_shows_open_amounts = True
    north.partner.save()

    lines = data(signed_in(north.user).get(commissions_url(north)))

    assert {line["line_id"] for line in lines} >= {str(north.draft_line.pk), str(north.adjustment.pk)}
    assert all(line["override_reason"] is None for line in lines)


def test_commission_filters(north: Book, finance: User) -> None:
    client = signed_in(finance)

    def ids(query: str) -> set[str]:
        response = client.get(commissions_url(north) + query)
        assert response.status_code == 200, response.content
        return {line["line_id"] for line in data(response)}

    assert ids(f"?validator_key={OTHER_VALIDATOR}") == {str(north.draft_line.pk)}
    assert ids("?statement_status=RELEASED") == {str(x.pk) for x in north.released_lines}
    assert ids("?component=VOTE_REWARDS") == set()
    assert len(ids("?component=MEV_TIPS")) == 4
    first, _, last = north.periods
    assert ids(f"?from={last.period_identifier}") == {str(north.draft_line.pk)}
    assert ids(f"?to={first.period_identifier}") == {
        str(north.released_lines[0].pk),
        str(north.adjustment.pk),
    }


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?component=TIPS", "component"),
        ("?statement_status=DONE", "statement_status"),
        ("?from=no-such-period", "from"),
        ("?from=2025-13-01", "from"),
        ("?limit=0", "limit"),
    ],
)
def test_bad_commission_filters_answer_400_naming_the_parameter(
    north: Book, finance: User, query: str, field: str
) -> None:
    response = signed_in(finance).get(commissions_url(north) + query)

    assert response.status_code == 400
    problem = error(response)
    assert problem["code"] == "validation_error"
    assert field in problem["details"] and problem["message"].startswith(f"{field}:")


def test_a_partner_cannot_read_another_partner_and_gets_404(north: Book, helios: Book) -> None:
    client = bearer(north.user)
    urls = [
        commissions_url(helios),
        statement_url(helios, "2025-08"),
        statement_url(helios, "2025-08") + "/export",
        f"/v1/partners/{helios.partner.pk}/clients",
        # its own chain with the other partner's id
        commissions_url(north, partner=helios.partner),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 404, url
        assert error(response)["code"] == "not_found"
    assert AuditLog.objects.filter(action=AuditAction.EXPORT_STATEMENT).count() == 0


def test_operations_staff_get_403_and_anonymous_callers_401(north: Book) -> None:
    ops = signed_in(f.UserFactory(username="ops-api", role=Role.OPS))
    urls = [
        commissions_url(north),
        statement_url(north, "2025-08"),
        statement_url(north, "2025-08") + "/export",
        "/v1/partners",
        f"/v1/partners/{north.partner.pk}/clients",
    ]
    for url in urls:
        refused = ops.get(url)
        assert refused.status_code == 403, url
        assert error(refused)["code"] == "permission_denied"
        anonymous = Client().get(url)
        assert anonymous.status_code == 401, url
        assert error(anonymous)["code"] == "not_authenticated"


def test_staff_limited_to_other_chains_or_validators_see_nothing_outside(north: Book) -> None:
    chains = f.UserFactory(username="fin-eth", role=Role.FINANCE, allowed_chain_ids=["ethereum-mainnet"])
    assert signed_in(chains).get(commissions_url(north)).status_code == 404

    validators = f.UserFactory(
        username="fin-val", role=Role.FINANCE, allowed_validator_keys=[OTHER_VALIDATOR]
    )
    lines = data(signed_in(validators).get(commissions_url(north)))
    assert [line["line_id"] for line in lines] == [str(north.draft_line.pk)]


def test_an_unknown_partner_or_chain_answers_404(north: Book, finance: User) -> None:
    client = signed_in(finance)
    assert client.get(commissions_url(north, chain="no-such-chain")).status_code == 404
    unknown = "/v1/chains/solana-mainnet/partners/00000000-0000-0000-0000-000000000001/commissions"
    assert error(client.get(unknown))["code"] == "not_found"
    assert client.get("/v1/chains/solana-mainnet/partners/not-a-uuid/commissions").status_code == 404


# ---- statements ---------------------------------------------------------------------------------


def test_finance_reads_a_statement_with_lines_adjustments_and_totals(north: Book, finance: User) -> None:
    statement = data(bearer(finance).get(statement_url(north, "2025-09")))

    assert statement["statement_id"] == str(north.draft.pk)
    assert statement["partner_name"] == "Northwind Staking" and statement["month"] == "2025-09"
    assert statement["status"] == "DRAFT" and statement["amounts_visible"] is True
    assert statement["provisional"] is True
    assert statement["total_commission_native"] == "118456789" and statement["line_count"] == 2
    assert statement["submitted_at"] is not None  # staff see the workflow dates
    assert [line["line_id"] for line in statement["lines"]] == [str(north.draft_line.pk)]
    assert [line["line_id"] for line in statement["adjustments"]] == [str(north.adjustment.pk)]
    assert statement["adjustments"][0]["adjusts_month"] == "2025-08"
    assert "breakdown" not in statement["lines"][0]
    assert statement["totals"] == {
        "lines_total": "123456789",
        "adjustments_total": "-5000000",
        "total": "118456789",
    }
    assert statement["unit"]["symbol"] == "SOL"


def test_a_partner_reads_its_released_statement_without_internal_details(north: Book) -> None:
    statement = data(signed_in(north.user).get(statement_url(north, "2025-08")))

    assert statement["status"] == "RELEASED" and statement["amounts_visible"] is True
    assert statement["provisional"] is False
    assert statement["released_at"] is not None
    assert statement["submitted_at"] is None  # the approval workflow is internal
    assert [line["final_amount_native"] for line in statement["lines"]] == ["40000000", "35000000"]
    assert all(line["override_reason"] is None for line in statement["lines"])
    assert statement["adjustments"] == []
    assert statement["totals"]["total"] == "75000000"


def test_a_partner_sees_only_the_status_of_a_statement_in_preparation(north: Book) -> None:
    statement = data(signed_in(north.user).get(statement_url(north, "2025-09")))

    assert statement["status"] == "DRAFT"
    assert statement["amounts_visible"] is False
    assert statement["total_commission_native"] is None and statement["line_count"] is None
    assert statement["lines"] == [] and statement["adjustments"] == []
    assert statement["totals"] == {"lines_total": None, "adjustments_total": None, "total": None}
    assert "123456789" not in signed_in(north.user).get(statement_url(north, "2025-09")).content.decode()


def test_a_partner_that_sees_open_amounts_gets_a_provisional_statement(north: Book) -> None:
    north.partner.portal_shows_open_amounts = True
    north.partner.save()

    statement = data(signed_in(north.user).get(statement_url(north, "2025-09")))

    assert statement["amounts_visible"] is True and statement["provisional"] is True
    assert statement["totals"]["total"] == "118456789"
    assert statement["adjustments"][0]["adjusts_month"] == "2025-08"


def test_a_statement_month_must_be_yyyy_mm_and_exist(north: Book, finance: User) -> None:
    client = signed_in(finance)
    for month in ("2025-9", "2025-13", "september"):
        response = client.get(statement_url(north, month))
        assert response.status_code == 400, month
        assert list(error(response)["details"]) == ["month"]
    missing = client.get(statement_url(north, "2024-01"))
    assert missing.status_code == 404 and error(missing)["code"] == "not_found"


def test_a_statement_shows_staff_only_the_lines_in_their_validator_scope(north: Book) -> None:
    narrowed = f.UserFactory(username="fin-val2", role=Role.FINANCE, allowed_validator_keys=[VALIDATOR])

    statement = data(signed_in(narrowed).get(statement_url(north, "2025-09")))

    assert statement["lines"] == []
    assert [line["line_id"] for line in statement["adjustments"]] == [str(north.adjustment.pk)]
    assert statement["totals"]["total"] == "-5000000"


# ---- export -------------------------------------------------------------------------------------


def exports() -> int:
    return AuditLog.objects.filter(action=AuditAction.EXPORT_STATEMENT).count()


def test_finance_exports_a_statement_as_csv_and_it_is_audited(north: Book, finance: User) -> None:
    response = bearer(finance).get(statement_url(north, "2025-08") + "/export")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="statement-northwind-staking-solana-mainnet-2025-08.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:2] == ["partner", "Northwind Staking"]
    assert "override_reason" in rows[1]
    assert any("agreed goodwill top-up" in row for row in rows)
    assert ["total_base_units", "75000000"] in rows
    entry = AuditLog.objects.get(action=AuditAction.EXPORT_STATEMENT)
    assert entry.user == finance and entry.resource_id == str(north.released.pk)


def test_a_partner_downloads_its_released_statement_as_in_the_portal(north: Book) -> None:
    response = bearer(north.user).get(statement_url(north, "2025-08") + "/export")

    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    content = response.content.decode()
    assert "agreed goodwill top-up" not in content and str(north.released_lines[0].pk) not in content
    rows = list(csv.reader(io.StringIO(content)))
    assert ["total_base_units", "75000000"] in rows
    entry = AuditLog.objects.get(action=AuditAction.EXPORT_STATEMENT)
    assert entry.user == north.user and entry.after_snapshot["format"] == "csv"
    assert entry.after_snapshot["channel"] == "api"


def test_a_partner_cannot_download_a_statement_in_preparation(north: Book) -> None:
    north.partner.portal_shows_open_amounts = True  # seeing open amounts is not downloading them
    north.partner.save()

    response = signed_in(north.user).get(statement_url(north, "2025-09") + "/export")

    assert response.status_code == 404 and error(response)["code"] == "not_found"
    assert exports() == 0


def test_export_errors_are_json_envelopes(north: Book, finance: User) -> None:
    bad = signed_in(finance).get(statement_url(north, "2025-8") + "/export")
    assert bad.status_code == 400 and list(error(bad)["details"]) == ["month"]

    not_acceptable = signed_in(finance).get(
        statement_url(north, "2025-08") + "/export", HTTP_ACCEPT="application/json"
    )
    assert not_acceptable.status_code == 406 and error(not_acceptable)["code"] == "not_acceptable"

    anonymous = Client().get(statement_url(north, "2025-08") + "/export")
    assert anonymous.status_code == 401 and error(anonymous)["code"] == "not_authenticated"
    assert exports() == 0


def test_staff_cannot_export_a_statement_with_lines_outside_their_scope(north: Book) -> None:
    narrowed = f.UserFactory(username="fin-val3", role=Role.FINANCE, allowed_validator_keys=[VALIDATOR])

    response = signed_in(narrowed).get(statement_url(north, "2025-09") + "/export")

    assert response.status_code == 403 and error(response)["code"] == "permission_denied"
    assert exports() == 0
    assert signed_in(narrowed).get(statement_url(north, "2025-08") + "/export").status_code == 200
    assert exports() == 1


def test_an_auditor_exports_but_cannot_change_anything(north: Book) -> None:
    auditor = f.UserFactory(username="aud-api", role=Role.AUDITOR)

    response = signed_in(auditor).get(statement_url(north, "2025-08") + "/export")

    assert response.status_code == 200 and exports() == 1
    assert signed_in(auditor).post(statement_url(north, "2025-08") + "/export").status_code in (403, 405)
    assert exports() == 1


# ---- partners and clients -----------------------------------------------------------------------


def test_finance_lists_partners_with_filters(north: Book, helios: Book, finance: User) -> None:
    f.AgreementFactory(partner=helios.partner, status=AgreementStatus.ACTIVE)
    idle = f.PartnerFactory(partner_name="Idle Introducers")
    f.AgreementFactory(partner=idle, status=AgreementStatus.SUSPENDED)
    client = bearer(finance)

    everyone = data(client.get("/v1/partners"))
    assert [p["partner_name"] for p in everyone] == [
        "Helios Capital",
        "Idle Introducers",
        "Northwind Staking",
    ]
    assert {p["partner_name"]: p["has_active_agreement"] for p in everyone} == {
        "Helios Capital": True,
        "Idle Introducers": False,
        "Northwind Staking": True,
    }
    assert [p["partner_name"] for p in data(client.get("/v1/partners?name=wind"))] == ["Northwind Staking"]
    inactive = data(client.get("/v1/partners?has_active_agreement=false"))
    assert [p["partner_name"] for p in inactive] == ["Idle Introducers"]
    assert everyone[0]["partner_id"] == str(helios.partner.pk)


def test_a_partner_lists_only_itself(north: Book, helios: Book) -> None:
    response = bearer(north.user).get("/v1/partners")

    assert response["X-Total-Count"] == "1"
    assert [p["partner_id"] for p in data(response)] == [str(north.partner.pk)]


def test_clients_of_a_partner_filtered_by_chain(north: Book, finance: User) -> None:
    ethereum = f.ChainFactory(ethereum=True)
    eth_client = f.PartnerClientFactory(
        partner=north.partner, chain=ethereum, address="0x" + "a" * 40, kind=ClientKind.WITHDRAW_AUTHORITY
    )
    url = f"/v1/partners/{north.partner.pk}/clients"
    client = signed_in(finance)

    rows = data(client.get(url))
    assert {row["client_id"] for row in rows} == {str(north.client.pk), str(eth_client.pk)}
    only_eth = data(client.get(url + "?chain_id=ethereum-mainnet"))
    assert only_eth == [
        {
            "client_id": str(eth_client.pk),
            "chain_id": "ethereum-mainnet",
            "address": "0x" + "a" * 40,
            "kind": "WITHDRAW_AUTHORITY",
            "effective_from": only_eth[0]["effective_from"],
            "effective_until": None,
        }
    ]
    mine = data(signed_in(north.user).get(url))
    assert len(mine) == 2
    assert signed_in(north.user).get(url + "?kind=NOPE").status_code == 400


# ---- query counts -------------------------------------------------------------------------------


def add_lines(b: Book, count: int) -> None:
    for _ in range(count):
        f.CommissionLineFactory(
            rule=b.rule,
            chain=b.chain,
            period=f.PeriodFactory(chain=b.chain, epoch=next(EPOCHS)),
            statement=b.released,
            validator_key=VALIDATOR,
            override_amount_native=Decimal("1"),
            adjusts_statement=None,
        )


def queries(client: Client, url: str) -> int:
    client.get(url)  # warm the session and content types
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
        assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize("who", ["finance", "partner"])
def test_line_and_statement_queries_do_not_grow_with_rows(north: Book, finance: User, who: str) -> None:
    client = signed_in(finance if who == "finance" else north.user)
    urls = [
        commissions_url(north) + "?limit=500",
        statement_url(north, "2025-08"),
        statement_url(north, "2025-08") + "/export",
    ]
    add_lines(north, 1)  # 3 lines on the released statement
    few = [queries(client, url) for url in urls]

    add_lines(north, 27)  # 30
    many = [queries(client, url) for url in urls]

    assert len(data(client.get(urls[1]))["lines"]) == 30
    assert many == few
    assert max(many[:2]) <= 10 and many[2] <= 16  # the export also appends to the audit chain


def test_partner_and_client_lists_do_not_grow_with_rows(finance: User) -> None:
    client = signed_in(finance)
    partners = [f.PartnerFactory() for _ in range(3)]
    for partner in partners:
        f.AgreementFactory(partner=partner)
    owner = partners[0]
    for _ in range(3):
        f.PartnerClientFactory(partner=owner)
    urls = ["/v1/partners", f"/v1/partners/{owner.pk}/clients"]
    few = [queries(client, url) for url in urls]

    for _ in range(27):
        f.AgreementFactory(partner=f.PartnerFactory())
        f.PartnerClientFactory(partner=owner)
    many = [queries(client, url) for url in urls]

    assert Partner.objects.count() == 30 and PartnerClient.objects.filter(partner=owner).count() == 30
    assert many == few
    assert max(many) <= 8
