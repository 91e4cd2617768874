"""The partner portal in a real browser (Chromium through Playwright) over the demo data: signing in
and out, the dashboard, drilling from a statement down to stake accounts, the statement downloads,
another partner's pages, a phone-sized screen, and reading without JavaScript.

The demo data (recorded epochs 850-853, the demo agreements, users and released statements) is
built once per module and copied aside; each test puts that copy back, since a live server needs
committed rows and every transactional test empties the database when it ends.

With AURORA_SCREENSHOTS=1 the tests also save full-page screenshots to docs/screenshots/
(`make screenshots`).
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from http.client import HTTPConnection
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection, connections, transaction
from django.db.models import Sum
from django.test.utils import override_settings
from django.urls import reverse
from pypdf import PdfReader

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    if os.environ.get("CI") == "true":
        pytest.fail(
            f"{CHROMIUM} is missing: CI runs the portal's browser tests (apt-get install chromium)",
            pytrace=False,
        )
    pytest.skip(
        f"{CHROMIUM} is missing: the portal's browser tests need Debian's Chromium "
        "(apt-get install chromium)",
        allow_module_level=True,
    )

from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright  # noqa: E402

from accounts.models import AuditAction, AuditLog  # noqa: E402
from aurora.common.amounts import token_amount  # noqa: E402
from aurora.common.dbroles import as_schema_owner  # noqa: E402
from commissions.models import (  # noqa: E402
    AttributionMethod,
    ClientStakeSnapshot,
    CommissionLine,
    Statement,
    StatementStatus,
)
from partners.models import ClientKind, Partner, PartnerClient  # noqa: E402

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "browser-demo-password-1"
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # as tests/conftest.py sets per test
MONTH = "2025-09"
NORTHWIND, HELIOS, DEMO = "Northwind Staking", "Helios Capital", "Demo Partner"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 10_000
SNAPSHOT = "portal_browser_demo"  # a schema of the test database, dropped at the end of the module
SCREENSHOTS = os.environ.get("AURORA_SCREENSHOTS") == "1"
SCREENSHOT_DIR = Path(settings.BASE_DIR) / "docs" / "screenshots"


# ---- the demo data, built once per module -------------------------------------------------------


def _build_demo() -> None:
    from canonical.services import normalize_range
    from commissions.services.recompute import recompute_range
    from demo.services import demo_agreements_ensure, demo_statements_release
    from demo.users import demo_users_ensure
    from tests.solana_demo import CHAIN, load_registry, replay

    load_registry()
    replay()
    normalize_range(chain_id=CHAIN, first=850, last=853)
    demo_agreements_ensure()
    recompute_range(chain_id=CHAIN, first=850, last=853)
    demo_users_ensure(password=PASSWORD)
    demo_statements_release()


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _tables() -> list[str]:
    """The tables a transactional test empties when it ends (those of Django's flush)."""
    return sorted(connection.introspection.django_table_names(only_existing=True, include_views=False))


def _copy_aside(tables: list[str]) -> list[str]:
    """Every table's rows into the SNAPSHOT schema (as the schema owner: the application may not
    create schemas); returns the tables that have rows."""
    filled = []
    with as_schema_owner(), connection.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA IF EXISTS {_q(SNAPSHOT)} CASCADE; CREATE SCHEMA {_q(SNAPSHOT)}")
        for table in tables:
            # Table names from Django's introspection, quoted.
            cursor.execute(f"CREATE TABLE {_q(SNAPSHOT)}.{_q(table)} AS SELECT * FROM {_q(table)}")  # noqa: S608
            if cursor.rowcount:
                filled.append(table)
    return filled


# Checked by triggers rather than foreign keys (canonical migration 0004): stake rows name staged
# payloads, which must be there when the rows are inserted.
CHECKED_BY_TRIGGERS = {"canonical_stake_rewards": {"staging_payloads"}}


def _insertion_order(tables: list[str]) -> list[str]:
    """Referenced tables before the tables referring to them: foreign keys are checked at commit,
    but row-level security on agreement rules and versions looks their agreement up at once."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint "
            "WHERE contype = 'f' AND conrelid <> confrelid"
        )
        edges = cursor.fetchall()
    needs: dict[str, set[str]] = {table: set(CHECKED_BY_TRIGGERS.get(table, ())) for table in tables}
    for table, referenced in edges:
        table, referenced = table.strip('"'), referenced.strip('"')
        if table in needs and referenced in needs:
            needs[table].add(referenced)
    order: list[str] = []
    while needs:
        ready = sorted(t for t, deps in needs.items() if not deps - set(order)) or [min(needs)]
        order += ready
        for table in ready:
            del needs[table]
    return order


def _put_back(tables: list[str], filled: list[str]) -> None:
    """The database exactly as it was copied aside, row ids included (as the schema owner, in a
    maintenance session: the audit log refuses TRUNCATE otherwise, and grows in sequence order)."""
    with as_schema_owner(), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('aurora.maintenance', 'on', true)")
        cursor.execute("TRUNCATE " + ", ".join(_q(t) for t in tables))
        for table in filled:
            order = " ORDER BY sequence" if table == "audit_log" else ""
            cursor.execute(
                f"INSERT INTO {_q(table)} OVERRIDING SYSTEM VALUE "  # noqa: S608 (quoted table names)
                f"SELECT * FROM {_q(SNAPSHOT)}.{_q(table)}{order}"
            )
    ContentType.objects.clear_cache()  # the copy's content type ids, not the ones the flush made


@pytest.fixture(scope="module")
def demo_copy(django_db_setup: None, django_db_blocker: Any) -> Iterator[tuple[list[str], list[str]]]:
    with django_db_blocker.unblock():
        try:
            with override_settings(PASSWORD_HASHERS=FAST_HASHERS), pytest.MonkeyPatch.context() as env:
                env.setenv("SOLANABEACH_API_KEY", "demo-key")
                _build_demo()
            tables = _tables()
            filled = _copy_aside(_insertion_order(tables))
        finally:
            call_command("flush", verbosity=0, interactive=False)  # nothing committed stays behind
    yield tables, filled
    with django_db_blocker.unblock(), as_schema_owner(), connection.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA IF EXISTS {_q(SNAPSHOT)} CASCADE")


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest) -> Iterator[str]:
    """The live server's address. Its middleware reads the HTTPS and static settings once, when
    it starts, so they are set to what tests/conftest.py sets per test before it starts."""
    plain = {
        "SECURE_SSL_REDIRECT": False,
        "SECURE_HSTS_SECONDS": 0,
        "STATIC_ROOT": settings.BASE_DIR / "static",
        "STORAGES": {
            **settings.STORAGES,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        },
    }
    with override_settings(**plain):
        live_server = request.getfixturevalue("live_server")
        plain_http = HTTPConnection(live_server.thread.host, live_server.thread.port, timeout=10)
        with request.getfixturevalue("django_db_blocker").unblock():
            plain_http.request("GET", reverse("portal:login"))
            answer = plain_http.getresponse()
        plain_http.close()
        if answer.status != 200:
            pytest.fail(
                f"the live server answers {answer.status} {answer.getheader('Location', '')}: it was "
                "started before this module, with settings for HTTPS"
            )
        yield str(live_server.url)


@pytest.fixture
def portal(demo_copy: tuple[list[str], list[str]], server: str, settings: Any) -> str:
    """The live server's address, over the demo data (plain HTTP: cookies need not be Secure)."""
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    _put_back(*demo_copy)
    return server


# ---- the browser --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium, for the module. Playwright's sync API runs an event loop in this thread meanwhile;
    the ORM calls of the tests and fixtures are still plain synchronous calls, one at a time."""
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    with pytest.MonkeyPatch.context() as env, sync_playwright() as playwright:
        if "DJANGO_ALLOW_ASYNC_UNSAFE" not in os.environ:
            env.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
        try:
            yield chromium
        finally:
            chromium.close()
            # While Playwright's event loop runs in this thread, Django keeps a separate set of
            # connections (per asyncio context): close them, or they outlive the test database.
            connections.close_all()


PageMaker = Callable[..., Page]


@pytest.fixture
def new_page(browser: Browser, portal: str) -> Iterator[PageMaker]:
    """Opens a page in a fresh browser context (its own cookies) on the live server; `options`
    go to the context (viewport, java_script_enabled...)."""
    opened: list[BrowserContext] = []

    def make(*, viewport: dict[str, int] = DESKTOP, **options: Any) -> Page:
        context = browser.new_context(base_url=portal, viewport=viewport, **options)
        context.set_default_timeout(TIMEOUT_MS)
        opened.append(context)
        return context.new_page()

    yield make
    for context in opened:
        context.close()


# ---- helpers ------------------------------------------------------------------------------------


def sign_in(page: Page, username: str) -> None:
    page.goto(reverse("portal:login"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(re.escape(reverse("portal:dashboard")) + "$"))


def shot(page: Page, name: str) -> None:
    """A full-page screenshot for the docs, when AURORA_SCREENSHOTS=1."""
    if SCREENSHOTS:
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOT_DIR / f"portal-{name}.png", full_page=True)


def at(path: str) -> re.Pattern[str]:
    """The page's URL is `path` (on the live server, no query)."""
    return re.compile(r"^https?://[^/]+" + re.escape(path) + "$")


def statement_of(partner_name: str) -> Statement:
    return Statement.objects.select_related("chain", "partner").get(
        partner__partner_name=partner_name, month=MONTH
    )


def base_units_text(value: Decimal) -> str:
    """1234567 -> '1,234,567' (base units are whole numbers)."""
    assert value == value.to_integral_value()
    return f"{int(value):,}"


def stake_accounts_of(partner_name: str, period_id: Any) -> set[str]:
    snapshot = ClientStakeSnapshot.objects.filter(
        partner__partner_name=partner_name, period_id=period_id
    ).first()
    if snapshot is None:
        return set()
    return {row[0] for rows in snapshot.accounts.values() for row in rows}


# ---- the tests ----------------------------------------------------------------------------------


def test_a_partner_signs_in_and_the_dashboard_shows_its_month_and_chart(new_page: PageMaker) -> None:
    statement = statement_of(NORTHWIND)
    chain, total = statement.chain, statement.total_commission_native
    assert statement.status == StatementStatus.PAID and total > 0
    page = new_page()

    page.goto(reverse("portal:dashboard"))  # signed out: to the sign-in page first
    expect(page).to_have_url(re.compile(re.escape(reverse("portal:login")) + r"\?next="))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    shot(page, "login")
    sign_in(page, "northwind")

    expect(page.get_by_role("heading", level=1)).to_have_text(NORTHWIND)
    expect(page).to_have_title(re.compile(re.escape(NORTHWIND)))
    tokens = token_amount(total, chain.native_decimals, chain.display_symbol or chain.native_unit)
    month = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=MONTH, exact=True))
    expect(month).to_have_count(1)
    expect(month).to_contain_text(chain.name)
    expect(month).to_contain_text("Paid")
    expect(month).to_contain_text(tokens)
    expect(month).to_contain_text(base_units_text(total))
    released = page.locator(".tile").filter(has_text=f"Released on {chain.name}")
    expect(released).to_contain_text(base_units_text(total))  # its only released month

    chart = page.get_by_role("img", name=f"Commissions per month on {chain.name}")
    expect(chart).to_be_visible()
    assert chart.evaluate("node => node.tagName.toLowerCase()") == "svg"
    bars = chart.locator("rect.bar")
    expect(bars).to_have_count(1)
    expect(chart.get_by_role("listitem")).to_have_attribute(
        "aria-label", f"{MONTH}: {tokens} ({base_units_text(total)} {chain.native_unit}), released"
    )
    assert float(bars.first.get_attribute("height") or 0) > 0
    shot(page, "dashboard")


def test_drilling_from_a_statement_to_a_line_shows_the_partners_own_stake_accounts(
    new_page: PageMaker,
) -> None:
    statement = statement_of(NORTHWIND)
    line = (
        CommissionLine.objects.select_related("period", "agreement")
        .filter(statement=statement, attribution_method=AttributionMethod.STAKE_WEIGHT)
        .order_by("period__period_end")
        .first()
    )
    assert line is not None
    period = line.period.period_identifier
    validators = [entry["validator"] for entry in line.breakdown["validators"]]
    own = stake_accounts_of(NORTHWIND, line.period_id)
    others = stake_accounts_of(HELIOS, line.period_id) | stake_accounts_of(DEMO, line.period_id)
    clients = set(
        PartnerClient.objects.filter(partner=statement.partner, kind=ClientKind.STAKE_ACCOUNT).values_list(
            "address", flat=True
        )
    )
    assert validators and own and others and clients & own and not own & others
    page = new_page()
    sign_in(page, "northwind")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Statements").click()
    expect(page).to_have_url(at(reverse("portal:statements")))
    page.get_by_role("rowheader").get_by_role("link", name=MONTH, exact=True).click()
    expect(page).to_have_url(at(reverse("portal:statement", args=[statement.pk])))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Statement {MONTH}, {statement.chain.name}")
    expect(page.get_by_role("link", name="Download PDF")).to_be_visible()
    lines = page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="Commission"))
    expect(lines.locator("tbody tr")).to_have_count(statement.line_count)
    shot(page, "statement")

    row = (
        lines.locator("tbody tr")
        .filter(has=page.get_by_role("rowheader", name=period))
        .filter(has_text=line.get_attribution_method_display())
    )
    expect(row).to_have_count(1)
    row.get_by_role("link", name=period, exact=True).click()
    expect(page).to_have_url(at(reverse("portal:line", args=[line.pk])))
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"period {period}")
    drilldown = page.locator("section").filter(has=page.get_by_role("heading", name="By validator"))
    for validator in validators:
        expect(drilldown.get_by_role("heading", level=3, name=validator, exact=True)).to_be_visible()
    shown = set(drilldown.get_by_role("rowheader").all_inner_texts()) - {"Your stake on this validator"}
    assert shown and shown <= own  # stake accounts behind this line's validators, all Northwind's
    assert shown & clients  # a stake account Northwind introduced
    content = page.content()
    assert not any(account in content for account in others)  # none of another partner's
    shot(page, "line")

    page.get_by_role("link", name=line.agreement.agreement_name).click()
    expect(page).to_have_url(at(reverse("portal:agreement", args=[line.agreement_id])))
    expect(page.get_by_role("heading", level=1)).to_have_text(line.agreement.agreement_name)
    expect(page.get_by_role("heading", name="Current terms")).to_be_visible()
    terms = page.locator("section").filter(has=page.get_by_role("heading", name="Current terms"))
    expect(terms.locator("ol.terms > li")).to_have_count(line.agreement.rules.count())
    shot(page, "agreement")

    # The line page names stake accounts without linking them: the client is reached from Clients.
    client = PartnerClient.objects.get(address=sorted(shown & clients)[0])
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Clients").click()
    expect(page).to_have_url(at(reverse("portal:clients")))
    expect(page.get_by_role("rowheader")).to_have_count(len(clients))
    expect(page.get_by_text(next(iter(others)))).to_have_count(0)
    shot(page, "clients")
    page.get_by_role("link", name=client.address).click()
    expect(page).to_have_url(at(reverse("portal:client", args=[client.pk])))
    expect(page.get_by_role("heading", level=1)).to_have_text(client.address)
    periods = page.get_by_role("table").locator("tbody").get_by_role("rowheader")
    expect(periods.filter(has_text=period)).to_have_count(1)
    shot(page, "client")


def test_the_released_statement_downloads_as_csv_and_pdf_with_its_totals(new_page: PageMaker) -> None:
    statement = statement_of(DEMO)
    assert statement.status == StatementStatus.RELEASED
    chain = statement.chain
    total = CommissionLine.objects.filter(statement=statement).aggregate(total=Sum("final_amount_native"))[
        "total"
    ]
    assert total and total > 0
    page = new_page()
    sign_in(page, "partner")
    page.goto(reverse("portal:statement", args=[statement.pk]))

    with page.expect_download() as csv_download:
        page.get_by_role("link", name="Download CSV").click()
    download = csv_download.value
    assert download.suggested_filename == f"statement-demo-partner-{chain.pk}-{MONTH}.csv"
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    pairs = {row[0]: row[1] for row in rows if len(row) == 2}
    assert pairs["partner"] == DEMO and pairs["month"] == MONTH and pairs["status"] == "RELEASED"
    assert Decimal(pairs["total_base_units"]) == total
    symbol = chain.display_symbol or chain.native_unit
    assert Decimal(pairs[f"total_{symbol}"]) == total.scaleb(-chain.native_decimals)
    header = rows.index(next(row for row in rows if row and row[0] == "period"))
    assert sum(1 for row in rows[header + 1 :] if len(row) > 2) == statement.line_count

    with page.expect_download() as pdf_download:
        page.get_by_role("link", name="Download PDF").click()
    download = pdf_download.value
    assert download.suggested_filename == f"statement-demo-partner-{chain.pk}-{MONTH}.pdf"
    reader = PdfReader(download.path())
    text = "\n".join(pdf_page.extract_text() for pdf_page in reader.pages)
    assert "Commission statement" in text and DEMO in text and MONTH in text
    assert base_units_text(total) in text  # e.g. 12,345,678 lamports
    assert f"{total.scaleb(-chain.native_decimals).normalize():,f}" in text  # e.g. 0.012345678 SOL

    exports = AuditLog.objects.filter(action=AuditAction.EXPORT_STATEMENT, user__username="partner")
    assert sorted(entry.after_snapshot["format"] for entry in exports) == ["csv", "pdf"]
    assert {entry.after_snapshot["channel"] for entry in exports} == {"portal"}


def test_another_partners_statement_and_line_answer_404_and_name_nobody(new_page: PageMaker) -> None:
    helios = statement_of(HELIOS)
    helios_line = CommissionLine.objects.filter(statement=helios).first()
    assert helios_line is not None
    page = new_page()
    sign_in(page, "northwind")

    own = page.goto(reverse("portal:statement", args=[statement_of(NORTHWIND).pk]))
    assert own is not None and own.status == 200
    missing_path = reverse("portal:statement", args=[uuid4()])
    missing = page.goto(missing_path)
    assert missing is not None and missing.status == 404
    not_found = page.content().replace(missing_path, "")
    for path in (
        reverse("portal:statement", args=[helios.pk]),
        reverse("portal:line", args=[helios_line.pk]),
    ):
        response = page.goto(path)
        assert response is not None and response.status == 404, path
        assert "Helios" not in page.content()
        assert page.content().replace(path, "") == not_found  # as for an id that does not exist
    document = page.request.get(reverse("portal:statement_document", args=[helios.pk, "csv"]))
    assert document.status == 404 and "Helios" not in document.text()
    assert not AuditLog.objects.filter(action=AuditAction.EXPORT_STATEMENT).exists()


def phone_pages(partner: Partner) -> dict[str, str]:
    statement = Statement.objects.get(partner=partner, month=MONTH)
    line = CommissionLine.objects.filter(statement=statement).order_by("period__period_end", "rule_order")[0]
    return {
        "dashboard": reverse("portal:dashboard"),
        "statements": reverse("portal:statements"),
        "statement": reverse("portal:statement", args=[statement.pk]),
        "line": reverse("portal:line", args=[line.pk]),
        "commissions": reverse("portal:commissions"),
        "clients": reverse("portal:clients"),
        "agreement": reverse("portal:agreement", args=[line.agreement_id]),
    }


@pytest.mark.parametrize(
    "name",
    [
        "dashboard",
        "statements",
        "statement",
        "line",
        "commissions",
        "clients",
        "agreement",
    ],
)
def test_on_a_phone_the_page_fits_the_screen_and_the_navigation_shows(new_page: PageMaker, name: str) -> None:
    path = phone_pages(Partner.objects.get(partner_name=NORTHWIND))[name]
    page = new_page(viewport=PHONE)
    sign_in(page, "northwind")

    page.goto(path)
    expect(page).to_have_url(at(path))
    nav = page.get_by_role("navigation", name="Main")
    expect(nav).to_be_visible()
    for link_name in ("Dashboard", "Commissions", "Statements", "Clients", "Agreements"):
        link = nav.get_by_role("link", name=link_name)
        expect(link).to_be_in_viewport()
        box = link.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], link_name
    expect(page.get_by_role("button", name="Log out")).to_be_in_viewport()
    if name == "dashboard":
        expect(page.get_by_role("heading", level=1)).to_have_text(NORTHWIND)
        shot(page, "dashboard-phone")
    assert page.evaluate("window.innerWidth") == PHONE["width"]
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the {name} page is {width} px wide on a {PHONE['width']} px screen"


def test_without_javascript_a_partner_signs_in_and_filters_the_commissions(new_page: PageMaker) -> None:
    partner = Partner.objects.get(partner_name=NORTHWIND)
    visible = CommissionLine.objects.filter(partner=partner, statement__status__in=["RELEASED", "PAID"])
    chain = visible.first().chain  # type: ignore[union-attr]
    in_range = visible.filter(period__period_identifier__in=["851", "852"])
    assert 0 < in_range.count() < visible.count()
    page = new_page(java_script_enabled=False)
    sign_in(page, "northwind")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Commissions").click()
    expect(page).to_have_url(at(reverse("portal:commissions")))
    table = page.get_by_role("table")
    expect(table.locator("tbody tr")).to_have_count(visible.count())
    shot(page, "commissions")

    page.get_by_label("Chain").select_option(chain.pk)
    page.get_by_label("From period").fill("851")
    page.get_by_label("To period").fill("852")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"\?.*from_period=851.*to_period=852"))
    expect(table.locator("tbody tr")).to_have_count(in_range.count())
    assert set(table.locator("tbody tr").get_by_role("rowheader").get_by_role("link").all_inner_texts()) == {
        "851",
        "852",
    }
    total = in_range.aggregate(total=Sum("final_amount_native"))["total"]
    expect(page.get_by_role("status")).to_contain_text(f"{in_range.count()} lines on {chain.name}")
    expect(page.get_by_role("status")).to_contain_text(base_units_text(total))

    page.get_by_label("To period").fill("999")  # a bad value is shown on the form
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_text(f"{chain.name} has no period 999.")).to_be_visible()


def test_logging_out_returns_to_the_sign_in_page_and_closes_the_portal(new_page: PageMaker) -> None:
    page = new_page()
    sign_in(page, "northwind")

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(at(reverse("portal:login")))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_text(NORTHWIND)).to_have_count(0)

    page.goto(reverse("portal:dashboard"))
    expect(page).to_have_url(
        re.compile(re.escape(reverse("portal:login")) + r"\?next=" + re.escape("/portal/"))
    )
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    response = page.request.get(reverse("portal:statements"), max_redirects=0)
    assert response.status == 302 and reverse("portal:login") in response.headers["location"]
