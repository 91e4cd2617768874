"""The partner portal through the test client: who gets in, what each page shows, what stays
hidden, and that another partner's ids answer 404."""

from __future__ import annotations

import csv
import io
import itertools
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditAction, AuditLog, User
from chains.models import Chain, Period
from commissions.models import (
    Agreement,
    AgreementStatus,
    ClientStakeSnapshot,
    CommissionLine,
    Statement,
    StatementStatus,
)
from partners.models import Partner, PartnerClient
from tests import factories as f

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"
VALIDATOR = "Vote" + "7" * 40
EPOCHS = itertools.count(2000)
MONTHS = (f"{year}-{month:02d}" for year in itertools.count(2000) for month in range(1, 13))


def fresh_period() -> Period:
    return f.PeriodFactory(epoch=next(EPOCHS))


@dataclass
class Book:
    """One partner's portal world: a released month with two lines, a draft month with one line,
    a client with its stake accounts in the snapshot of the released month, an active agreement
    and a draft one."""

    partner: Partner
    user: User
    chain: Chain
    periods: list[Period]
    agreement: Agreement
    draft_agreement: Agreement
    released: Statement
    draft: Statement
    released_lines: list[CommissionLine]
    draft_line: CommissionLine
    client: PartnerClient
    stake_account: str


def book(name: str, *, stake_account: str, epoch: int = 900) -> Book:
    chain = f.ChainFactory()
    partner = f.PartnerFactory(partner_name=name)
    user = f.PartnerUserFactory(username=name.split()[0].lower(), partner=partner)
    periods = [
        Period.objects.filter(chain=chain, period_identifier=str(e)).first() or f.PeriodFactory(epoch=e)
        for e in (epoch, epoch + 1, epoch + 2)
    ]
    agreement = f.AgreementFactory(partner=partner, agreement_name=f"{name} MEV share")
    version = f.AgreementVersionFactory(
        agreement=agreement,
        terms_snapshot={
            "agreement_name": agreement.agreement_name,
            "rules": [
                {
                    "rule_order": 1,
                    "chain_id": chain.pk,
                    "revenue_component": "MEV_TIPS",
                    "attribution_method": "FIXED_SHARE",
                    "commission_rate_bps": 500,
                }
            ],
        },
    )
    rule = f.AgreementRuleFactory(version=version, chain=chain, rule_order=1)
    draft_agreement = f.AgreementFactory(
        partner=partner, agreement_name=f"{name} draft terms", status=AgreementStatus.DRAFT
    )
    now = timezone.now()
    released = f.StatementFactory(
        partner=partner,
        chain=chain,
        month="2025-08",
        status=StatementStatus.RELEASED,
        released_at=now,
        total_commission_native=Decimal("70000000"),
        line_count=2,
    )
    draft = f.StatementFactory(
        partner=partner,
        chain=chain,
        month="2025-09",
        status=StatementStatus.DRAFT,
        total_commission_native=Decimal("123456789"),
        line_count=1,
    )
    released_lines = [
        f.CommissionLineFactory(
            rule=rule,
            chain=chain,
            period=period,
            statement=released,
            validator_key=None,
            pre_override_amount_native=amount,
            breakdown={"validators": [{"validator": VALIDATOR, "base": "800000000"}]},
        )
        for period, amount in zip(periods[:2], (Decimal("40000000"), Decimal("30000000")), strict=True)
    ]
    draft_line = f.CommissionLineFactory(
        rule=rule,
        chain=chain,
        period=periods[2],
        statement=draft,
        pre_override_amount_native=Decimal("123456789"),
        breakdown={"validators": [{"validator": VALIDATOR, "base": "2469135780"}]},
    )
    client = f.PartnerClientFactory(partner=partner, chain=chain, address=f"Authority{name.split()[0]}")
    f.ClientStakeSnapshotFactory(
        partner=partner,
        chain=chain,
        period=periods[0],
        accounts={
            VALIDATOR: [
                [stake_account, client.address, client.address, "5000000000000", "2500000000", "125000000"]
            ]
        },
    )
    return Book(
        partner=partner,
        user=user,
        chain=chain,
        periods=periods,
        agreement=agreement,
        draft_agreement=draft_agreement,
        released=released,
        draft=draft,
        released_lines=released_lines,
        draft_line=draft_line,
        client=client,
        stake_account=stake_account,
    )


@pytest.fixture
def north() -> Book:
    return book("Northwind Staking", stake_account="StakeNorth" + "1" * 34)


@pytest.fixture
def helios() -> Book:
    return book("Helios Capital", stake_account="StakeHelios" + "2" * 33)


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text(response: Any) -> str:
    return response.content.decode()


# ---- signing in ---------------------------------------------------------------------------------


def test_a_partner_signs_in_to_its_dashboard(north: Book) -> None:
    client = Client()

    response = client.post(reverse("portal:login"), {"username": "northwind", "password": PASSWORD})

    assert response.status_code == 302 and response["Location"] == reverse("portal:dashboard")
    assert client.session["_auth_user_id"] == str(north.user.pk)
    assert "Northwind Staking" in text(client.get(reverse("portal:dashboard")))


def test_staff_signing_in_at_the_portal_are_sent_to_the_admin(db: None) -> None:
    finance = f.UserFactory(username="fin")
    client = Client()

    response = client.post(reverse("portal:login"), {"username": "fin", "password": PASSWORD})

    assert response["Location"] == reverse("admin:index")
    assert client.get(reverse("portal:commissions"))["Location"] == reverse("admin:index")
    assert client.session["_auth_user_id"] == str(finance.pk)


def test_anonymous_visitors_are_asked_to_sign_in_and_come_back(north: Book) -> None:
    client = Client()
    url = reverse("portal:statement", args=[north.released.pk])

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('portal:login')}?next={url}"
    assert Client().get("/")["Location"] == reverse("portal:login")
    signed = client.post(
        f"{reverse('portal:login')}?next={url}", {"username": "northwind", "password": PASSWORD}
    )
    assert signed["Location"] == url


def test_a_wrong_password_is_refused_and_repeated_failures_lock_the_account(
    north: Book, settings: Any
) -> None:
    client = Client()
    refused = client.post(reverse("portal:login"), {"username": "northwind", "password": "wrong"})
    assert refused.status_code == 200 and "_auth_user_id" not in client.session
    assert "correct username and password" in text(refused)

    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("portal:login"), {"username": "northwind", "password": "wrong"})
    locked = client.post(reverse("portal:login"), {"username": "northwind", "password": PASSWORD})

    assert "_auth_user_id" not in client.session
    assert locked.status_code in (403, 429)


def test_logout_is_a_post_and_ends_the_session(north: Book) -> None:
    client = signed_in(north.user)

    assert client.get(reverse("portal:logout")).status_code == 405
    response = client.post(reverse("portal:logout"))

    assert response["Location"] == reverse("portal:login")
    assert client.get(reverse("portal:dashboard")).status_code == 302


def test_password_change_checks_the_old_password_and_is_audited(north: Book) -> None:
    client = signed_in(north.user)
    url = reverse("portal:password_change")

    wrong = client.post(
        url, {"old_password": "nope", "new_password1": "A-new-pass-0101", "new_password2": "A-new-pass-0101"}
    )
    assert wrong.status_code == 200 and "incorrectly" in text(wrong)
    north.user.refresh_from_db()
    assert north.user.check_password(PASSWORD)

    done = client.post(
        url,
        {"old_password": PASSWORD, "new_password1": "A-new-pass-0101", "new_password2": "A-new-pass-0101"},
    )

    assert done["Location"] == reverse("portal:dashboard")
    north.user.refresh_from_db()
    assert north.user.check_password("A-new-pass-0101")
    assert client.get(reverse("portal:dashboard")).status_code == 200  # still signed in
    assert AuditLog.objects.filter(action=AuditAction.CHANGE_PASSWORD, user=north.user).count() == 1


# ---- what a partner sees ------------------------------------------------------------------------


def test_dashboard_shows_released_totals_and_keeps_the_draft_month_in_preparation(
    north: Book, helios: Book
) -> None:
    page = text(signed_in(north.user).get(reverse("portal:dashboard")))

    assert "0.07 SOL" in page and "70,000,000" in page  # the released month, tokens and base units
    assert "2025-09" in page and "In preparation" in page
    assert "123,456,789" not in page and "0.123456789" not in page  # the draft's amount stays hidden
    assert "<svg" in page and 'role="img"' in page
    assert "Helios" not in page


def test_a_partner_that_sees_open_amounts_gets_them_marked_provisional(north: Book) -> None:
    north.partner.portal_shows_open_amounts = True
    north.partner.save()
    client = signed_in(north.user)

    dashboard = text(client.get(reverse("portal:dashboard")))
    statement = text(client.get(reverse("portal:statement", args=[north.draft.pk])))
    line = client.get(reverse("portal:line", args=[north.draft_line.pk]))

    assert "123,456,789" in dashboard and "provisional" in dashboard
    assert "123,456,789" in statement and "Provisional" in statement
    assert "Download PDF" not in statement  # not released: nothing to download yet
    assert line.status_code == 200


def test_a_draft_statement_shows_no_amounts_and_its_lines_stay_closed(north: Book) -> None:
    client = signed_in(north.user)

    statement = text(client.get(reverse("portal:statement", args=[north.draft.pk])))
    listing = text(client.get(reverse("portal:commissions")))

    assert "in preparation" in statement and "123,456,789" not in statement
    assert "Download PDF" not in statement
    assert client.get(reverse("portal:line", args=[north.draft_line.pk])).status_code == 404
    assert str(north.draft_line.pk) not in listing
    assert all(str(line.pk) in listing for line in north.released_lines)


def test_the_released_statement_lists_its_lines_total_and_downloads(north: Book) -> None:
    page = text(signed_in(north.user).get(reverse("portal:statement", args=[north.released.pk])))

    assert all(reverse("portal:line", args=[line.pk]) in page for line in north.released_lines)
    assert "40,000,000" in page and "30,000,000" in page and "70,000,000" in page
    assert reverse("portal:statement_document", args=[north.released.pk, "pdf"]) in page
    assert reverse("portal:statement_document", args=[north.released.pk, "csv"]) in page


def test_statements_list_offers_downloads_only_for_released_months(north: Book) -> None:
    page = text(signed_in(north.user).get(reverse("portal:statements")))

    assert reverse("portal:statement_document", args=[north.released.pk, "csv"]) in page
    assert reverse("portal:statement_document", args=[north.draft.pk, "csv"]) not in page
    assert "in preparation" in page and "123,456,789" not in page


def test_downloads_give_the_statement_and_are_audited(north: Book) -> None:
    client = signed_in(north.user)

    csv_response = client.get(reverse("portal:statement_document", args=[north.released.pk, "csv"]))
    pdf_response = client.get(reverse("portal:statement_document", args=[north.released.pk, "pdf"]))

    assert csv_response.status_code == 200 and csv_response["Content-Type"].startswith("text/csv")
    assert (
        'filename="statement-northwind-staking-solana-mainnet-2025-08.csv"'
        in csv_response["Content-Disposition"]
    )
    rows = {row[0]: row[1:] for row in csv.reader(io.StringIO(csv_response.content.decode())) if row}
    assert rows["total_base_units"] == ["70000000"]
    assert pdf_response["Content-Type"] == "application/pdf" and pdf_response.content.startswith(b"%PDF")
    exports = AuditLog.objects.filter(action=AuditAction.EXPORT_STATEMENT, user=north.user)
    assert exports.count() == 2
    assert {e.resource_id for e in exports} == {str(north.released.pk)}
    assert {e.after_snapshot["channel"] for e in exports} == {"portal"}


def test_a_statement_in_preparation_cannot_be_downloaded(north: Book) -> None:
    north.partner.portal_shows_open_amounts = True
    north.partner.save()
    client = signed_in(north.user)

    for fmt in ("csv", "pdf"):
        assert client.get(reverse("portal:statement_document", args=[north.draft.pk, fmt])).status_code == 404
    assert client.get(f"/portal/statements/{north.released.pk}/download.xlsx").status_code == 404
    assert (
        client.post(reverse("portal:statement_document", args=[north.released.pk, "csv"])).status_code == 405
    )
    assert not AuditLog.objects.filter(action=AuditAction.EXPORT_STATEMENT).exists()


def test_a_line_drills_down_to_the_partners_own_stake_accounts(north: Book, helios: Book) -> None:
    page = text(signed_in(north.user).get(reverse("portal:line", args=[north.released_lines[0].pk])))

    assert VALIDATOR in page
    assert north.stake_account in page
    assert helios.stake_account not in page  # same validator and period, another partner's snapshot
    assert "5,000,000,000,000" in page  # the account's stake in base units


def test_clients_show_the_stake_and_revenue_each_address_brought(north: Book, helios: Book) -> None:
    client = signed_in(north.user)

    listing = text(client.get(reverse("portal:clients")))
    detail = text(client.get(reverse("portal:client", args=[north.client.pk])))

    assert north.client.address in listing and helios.client.address not in listing
    assert "5,000,000,000,000" in listing  # its stake in the latest period
    assert "2,500,000,000" in detail and "125,000,000" in detail  # rewards and commission of the period
    assert north.periods[0].period_identifier in detail


def test_agreements_show_active_terms_and_history_but_not_drafts(north: Book) -> None:
    client = signed_in(north.user)

    listing = text(client.get(reverse("portal:agreements")))
    detail = text(client.get(reverse("portal:agreement", args=[north.agreement.pk])))

    assert north.agreement.agreement_name in listing
    assert north.draft_agreement.agreement_name not in listing
    assert client.get(reverse("portal:agreement", args=[north.draft_agreement.pk])).status_code == 404
    assert "5%" in detail or "5.00%" in detail
    assert "MEV" in detail and "Version 1" in detail


# ---- commissions and their filters --------------------------------------------------------------


def test_commissions_filter_by_component_and_period_range(north: Book) -> None:
    other_rule = f.AgreementRuleFactory(
        agreement=north.agreement, chain=north.chain, revenue_component="EXEC_FEES"
    )
    fees_line = f.CommissionLineFactory(
        rule=other_rule, chain=north.chain, period=north.periods[0], statement=north.released
    )
    client = signed_in(north.user)
    url = reverse("portal:commissions")

    mev = text(client.get(url, {"component": "MEV_TIPS"}))
    fees = text(client.get(url, {"component": "EXEC_FEES"}))
    ranged = text(client.get(url, {"chain": north.chain.pk, "from_period": "900", "to_period": "900"}))
    later = text(client.get(url, {"chain": north.chain.pk, "from_period": "901"}))

    assert str(fees_line.pk) in fees and str(fees_line.pk) not in mev
    assert all(str(line.pk) in mev for line in north.released_lines)
    first, second = north.released_lines
    assert str(first.pk) in ranged and str(fees_line.pk) in ranged and str(second.pk) not in ranged
    assert str(second.pk) in later and str(first.pk) not in later and str(fees_line.pk) not in later


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"chain": "solana-mainnet", "from_period": "123456"}, "has no period 123456"),
        ({"from_period": "900"}, "Choose a chain to filter by period."),
        (
            {"chain": "solana-mainnet", "from_period": "901", "to_period": "900"},
            "The last period comes before the first.",
        ),
        ({"chain": "no-such-chain"}, "Select a valid choice"),
        ({"component": "BRIBES"}, "Select a valid choice"),
    ],
)
def test_a_bad_filter_is_explained_on_the_form(north: Book, query: dict[str, str], message: str) -> None:
    response = signed_in(north.user).get(reverse("portal:commissions"), query)

    assert response.status_code == 200
    assert message in text(response)
    assert str(north.released_lines[0].pk) not in text(response)  # no lines under a filter that failed


def test_commissions_are_paginated(north: Book) -> None:
    rule = north.released_lines[0].rule
    for _ in range(55):
        f.CommissionLineFactory(rule=rule, chain=north.chain, period=fresh_period(), statement=north.released)
    client = signed_in(north.user)

    first = client.get(reverse("portal:commissions"), {"component": "MEV_TIPS"})
    second = client.get(reverse("portal:commissions"), {"component": "MEV_TIPS", "page": 2})

    assert (
        text(first).count('href="/portal/commissions/0') + text(first).count('href="/portal/commissions/')
        >= 50
    )
    assert second.context["page"].number == 2 and len(second.context["page"].object_list) == 7
    assert "component=MEV_TIPS" in text(second)  # the filter survives paging


# ---- one partner never reaches another ----------------------------------------------------------


def object_urls(book: Book) -> list[str]:
    return [
        reverse("portal:statement", args=[book.released.pk]),
        reverse("portal:statement_document", args=[book.released.pk, "csv"]),
        reverse("portal:statement_document", args=[book.released.pk, "pdf"]),
        reverse("portal:line", args=[book.released_lines[0].pk]),
        reverse("portal:client", args=[book.client.pk]),
        reverse("portal:agreement", args=[book.agreement.pk]),
    ]


def test_another_partners_ids_answer_404_like_ids_that_do_not_exist(north: Book, helios: Book) -> None:
    client = signed_in(north.user)

    for url in object_urls(helios):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "Helios" not in text(response)
    for url in object_urls(north):
        assert client.get(url).status_code == 200, url
    for name in ("statement", "line", "client", "agreement"):
        assert client.get(reverse(f"portal:{name}", args=["not-a-uuid"])).status_code == 404
        assert (
            client.get(reverse(f"portal:{name}", args=["00000000-0000-0000-0000-000000000000"])).status_code
            == 404
        )
    assert not AuditLog.objects.filter(
        action=AuditAction.EXPORT_STATEMENT, resource_id=str(helios.released.pk)
    ).exists()


def test_a_partner_account_without_a_partner_gets_no_portal(db: None) -> None:
    orphan = f.PartnerUserFactory(username="orphan", partner=None)

    assert signed_in(orphan).get(reverse("portal:dashboard")).status_code == 403


# ---- queries do not grow with rows --------------------------------------------------------------


def grow(book: Book, extra: int) -> None:
    """`extra` more released months with a line each, clients with snapshots, and agreements."""
    rule = book.released_lines[0].rule
    for _ in range(extra):
        statement = f.StatementFactory(
            partner=book.partner, chain=book.chain, month=next(MONTHS), status=StatementStatus.PAID
        )
        f.CommissionLineFactory(rule=rule, chain=book.chain, period=fresh_period(), statement=statement)
        f.PartnerClientFactory(partner=book.partner, chain=book.chain)
        f.AgreementFactory(partner=book.partner)
        f.ClientStakeSnapshotFactory(partner=book.partner, chain=book.chain, period=fresh_period())


PAGES = ["portal:dashboard", "portal:commissions", "portal:clients", "portal:statements", "portal:agreements"]


@pytest.mark.parametrize("name", PAGES)
def test_list_pages_do_not_grow_queries_with_rows(
    north: Book, name: str, django_assert_max_num_queries: Any
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = signed_in(north.user)
    client.get(reverse(name))  # the browser's CSRF cookie: from now on pages are kept and replayed
    grow(north, 2)
    with CaptureQueriesContext(connection) as few:
        assert client.get(reverse(name)).status_code == 200
    grow(north, 10)

    with django_assert_max_num_queries(len(few)):
        response = client.get(reverse(name))

    assert response.status_code == 200


@pytest.mark.parametrize("name", ["statement", "line", "client", "agreement"])
def test_object_pages_do_not_grow_queries_with_rows(
    north: Book, name: str, django_assert_max_num_queries: Any
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    target = {
        "statement": north.released.pk,
        "line": north.released_lines[0].pk,
        "client": north.client.pk,
        "agreement": north.agreement.pk,
    }[name]
    client = signed_in(north.user)
    client.get(reverse("portal:dashboard"))  # the browser's CSRF cookie: pages are kept from now on
    rule = north.released_lines[0].rule
    with CaptureQueriesContext(connection) as few:
        assert client.get(reverse(f"portal:{name}", args=[target])).status_code == 200
    for i in range(10):
        f.CommissionLineFactory(rule=rule, chain=north.chain, period=fresh_period(), statement=north.released)
        f.AgreementVersionFactory(agreement=north.agreement, change_reason=f"change {i}")
        f.ClientStakeSnapshotFactory(
            partner=north.partner,
            chain=north.chain,
            period=fresh_period(),
            accounts={VALIDATOR: [[f"S{i}", north.client.address, north.client.address, "1", "1", "1"]]},
        )
    snapshot = ClientStakeSnapshot.objects.get(partner=north.partner, period=north.periods[0])
    snapshot.accounts = {
        VALIDATOR: [
            [f"Stake{i}", north.client.address, north.client.address, "1", "1", "1"] for i in range(30)
        ]
    }
    snapshot.save()

    with django_assert_max_num_queries(len(few)):
        response = client.get(reverse(f"portal:{name}", args=[target]))

    assert response.status_code == 200


def test_a_fraction_of_a_base_unit_is_shown_rounded_and_marked_with_the_exact_figure_at_hand(
    north: Book,
) -> None:
    line = north.released_lines[0]
    line.base_amount_native = Decimal("1031709279.565264435043251607")
    line.save(update_fields=["base_amount_native"])

    page = text(signed_in(north.user).get(reverse("portal:line", args=[line.pk])))

    assert 'title="exactly 1,031,709,279.565264435043251607 lamport"' in page
    assert "≈ 1,031,709,279.57 lamport" in page and "≈ 1.03170928 SOL" in page
    assert "40,000,000 lamport" in page  # a whole amount is shown as it is
