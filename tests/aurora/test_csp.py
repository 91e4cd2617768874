"""A strict Content-Security-Policy on the back office, the portal and the API docs: this origin's
scripts and styles only, no 'unsafe-inline' or 'unsafe-eval', no plugins, framing, <base> or foreign
form targets. The few inline <style> blocks carry the nonce the header names; there is no inline
script or style attribute, and Chromium reports no violation on the pages."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connections
from django.test import Client
from django.test.utils import override_settings

from accounts.models import Role
from commissions.models import StatementStatus
from tests import factories as f

CHROMIUM = Path("/usr/bin/chromium")
NONCE_IN_PAGE = re.compile(r'<(style|script)\b[^>]*\bnonce="([^"]+)"')
INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>\s*\S")
STYLE_ATTRIBUTE = re.compile(r"<[a-zA-Z][^>]*\sstyle=")


def policy(response: Any) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def assert_strict(response: Any) -> dict[str, list[str]]:
    directives = policy(response)
    assert directives["default-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["base-uri"] == ["'self'"]
    assert directives["form-action"] == ["'self'"]
    header = response["Content-Security-Policy"]
    assert "unsafe-inline" not in header and "unsafe-eval" not in header and "*" not in header
    for values in directives.values():
        assert not {"http:", "https:", "data:"} & set(values) or values == ["'self'", "data:"]
    return directives


def assert_nonces_match(response: Any) -> int:
    """Every nonce in the page is the header's; returns how many elements carry one."""
    html = response.content.decode()
    directives = policy(response)
    found = NONCE_IN_PAGE.findall(html)
    for element, nonce in found:
        assert f"'nonce-{nonce}'" in directives[f"{element}-src"], element
    assert not INLINE_SCRIPT.search(html), "an inline script"
    assert not STYLE_ATTRIBUTE.search(html), "a style attribute"
    return len(found)


def finance_client() -> Client:
    client = Client()
    client.force_login(f.UserFactory(role=Role.FINANCE, is_superuser=True))
    return client


def a_partner_with_a_chart() -> Any:
    """A partner user whose dashboard draws its months, one of them provisional (hatched)."""
    partner = f.PartnerFactory(portal_shows_open_amounts=True)
    for month, status in (("2025-08", StatementStatus.RELEASED), ("2025-09", StatementStatus.DRAFT)):
        statement = f.StatementFactory(partner=partner, month=month, status=status)
        f.CommissionLineFactory(
            rule=f.AgreementRuleFactory(agreement=f.AgreementFactory(partner=partner)),
            statement=statement,
            pre_override_amount_native=Decimal(7),
        )
    return f.PartnerUserFactory(partner=partner)


# ---- the header ---------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    ["/admin/login/", "/portal/login/", "/v1/docs/", "/v1/schema/", "/v1/chains", "/v1/no/such/page"],
)
def test_every_page_anonymous_visitors_reach_has_the_strict_policy(url: str) -> None:
    assert_strict(Client().get(url))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "/admin/",
        "/admin/commissions/validatorpnl/report/",
        "/admin/commissions/agreement/",
        "/admin/ingestion/ingestionrun/",
        "/admin/accounts/auditlog/",
        "/v1/docs/",
    ],
)
def test_back_office_and_docs_pages_carry_the_header_s_nonce_on_inline_styles(url: str) -> None:
    f.ChainFactory()
    response = finance_client().get(url)

    assert response.status_code == 200, url
    assert_strict(response)
    assert_nonces_match(response)


@pytest.mark.django_db
def test_the_dashboard_s_inline_style_has_a_fresh_nonce_per_response() -> None:
    client = finance_client()

    first, second = client.get("/admin/"), client.get("/admin/")

    assert assert_nonces_match(first) == 1 and assert_nonces_match(second) == 1
    assert NONCE_IN_PAGE.findall(first.content.decode()) != NONCE_IN_PAGE.findall(second.content.decode())


@pytest.mark.django_db
def test_the_api_docs_load_their_start_up_script_from_this_origin() -> None:
    client = finance_client()
    page = client.get("/v1/docs/")
    script_url = re.findall(r'<script src="([^"]*\?script=[^"]*)"', page.content.decode())

    script = client.get(script_url[0])

    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url", ["/portal/", "/portal/statements/", "/portal/commissions/", "/portal/agreements/"]
)
def test_portal_pages_have_the_policy_and_no_inline_script_or_style(url: str) -> None:
    client = Client()
    client.force_login(a_partner_with_a_chart())

    response = client.get(url)

    assert response.status_code == 200
    assert_strict(response)
    assert assert_nonces_match(response) == 0


@pytest.mark.django_db
def test_the_chart_hatches_provisional_months_without_a_style_attribute() -> None:
    client = Client()
    client.force_login(a_partner_with_a_chart())

    html = client.get("/portal/").content.decode()

    assert '<svg class="chart"' in html
    assert re.search(r'class="bar provisional" fill="url\(#hatch-[^)]+\)"', html)


# ---- in a browser -------------------------------------------------------------------------------


def record(violations: list[str], url: str, text: str) -> None:
    """Chromium reports each blocked script, style or request on the console."""
    if "Content Security Policy" in text:
        violations.append(f"{url}: {text}")


@pytest.fixture
def live_url(request: pytest.FixtureRequest) -> Iterator[str]:
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: CI runs the browser tests (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    plain = {
        "SECURE_SSL_REDIRECT": False,
        "SECURE_HSTS_SECONDS": 0,
        "SESSION_COOKIE_SECURE": False,
        "CSRF_COOKIE_SECURE": False,
        "STATIC_ROOT": settings.BASE_DIR / "static",
        "STORAGES": {
            **settings.STORAGES,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        },
    }
    with override_settings(**plain):
        yield str(request.getfixturevalue("live_server").url)


@pytest.mark.django_db(transaction=True)
def test_chromium_reports_no_policy_violation_on_the_pages(live_url: str) -> None:
    from playwright.sync_api import sync_playwright

    f.ChainFactory()
    staff, partner_user = Client(), Client()
    staff.force_login(f.UserFactory(role=Role.FINANCE, is_superuser=True))
    partner_user.force_login(a_partner_with_a_chart())
    pages = {
        staff: [
            "/admin/",
            "/admin/commissions/validatorpnl/report/",
            "/admin/commissions/agreement/",
            "/v1/docs/",
        ],
        partner_user: ["/portal/", "/portal/statements/", "/portal/commissions/"],
    }
    violations: list[str] = []
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    with pytest.MonkeyPatch.context() as env, sync_playwright() as playwright:
        env.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
        try:
            for client, urls in pages.items():
                context = browser.new_context(base_url=live_url)
                context.add_cookies(
                    [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_url}]
                )
                page = context.new_page()
                page.on("console", lambda message, page=page: record(violations, page.url, message.text))
                for url in urls:
                    page.goto(url, wait_until="networkidle")
                    if url == "/v1/docs/":
                        # The start-up script ran: Swagger UI drew the schema's title.
                        page.get_by_text("Aurora API").first.wait_for()
                context.close()
        finally:
            browser.close()
            connections.close_all()

    assert violations == []
