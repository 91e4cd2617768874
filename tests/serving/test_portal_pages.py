"""Portal pages kept and replayed (portal.views.kept_page): a repeated visit reads no data tables,
a change reaches the next visit, a page is never replayed to another partner or another browser,
a page with a message is made afresh, and a frozen download answers 304 when the browser has it."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests import factories as f
from tests.portal.test_portal import Book, book, signed_in

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"  # the factories' password

CSRF_INPUT = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]+"')


@pytest.fixture
def north() -> Book:
    return book("Northwind Staking", stake_account="StakeNorth" + "1" * 34)


@pytest.fixture
def helios() -> Book:
    return book("Helios Capital", stake_account="StakeHelios" + "2" * 33)


def browser(book_: Book) -> Client:
    client = signed_in(book_.user)
    client.get(reverse("portal:dashboard"))  # the CSRF cookie every later page is kept under
    return client


def without_token(body: bytes) -> bytes:
    return CSRF_INPUT.sub(b"", body)


def test_a_second_visit_is_replayed_without_reading_the_lines(north: Book) -> None:
    client = browser(north)
    url = reverse("portal:statement", args=[north.released.pk])
    client.get(url)  # a released statement's first view freezes its documents (a write)
    made = client.get(url)
    with CaptureQueriesContext(connection) as captured:
        replayed = client.get(url)

    assert made.status_code == replayed.status_code == 200
    assert replayed.content == made.content and replayed["ETag"] == made["ETag"]
    sql = " ".join(query["sql"] for query in captured.captured_queries)
    assert "partner_commission_lines" not in sql and "read_model_changes" in sql
    assert client.get(url, headers={"If-None-Match": made["ETag"]}).status_code == 304


def test_a_changed_line_reaches_the_next_statement_and_drill_down_pages(north: Book) -> None:
    client = browser(north)
    line = north.released_lines[1]
    urls = [reverse("portal:statement", args=[north.released.pk]), reverse("portal:line", args=[line.pk])]
    before = [client.get(url) for url in urls]

    line.override_amount_native = line.final_amount_native = Decimal("41000000")
    line.override_reason = "agreed top-up, revised"
    line.override_user = f.UserFactory(username="finance-override")
    line.override_timestamp = timezone.now()
    line.save()

    after = [client.get(url) for url in urls]
    with override_settings(AURORA_ANSWER_CACHE_SECONDS=0):
        fresh = [client.get(url) for url in urls]
    for old, new, made in zip(before, after, fresh, strict=True):
        assert new["ETag"] != old["ETag"]
        assert without_token(new.content) == without_token(made.content)


def test_a_page_is_never_replayed_to_another_partner(north: Book, helios: Book) -> None:
    own, other = browser(north), browser(helios)
    url = reverse("portal:dashboard")
    assert b"Northwind Staking" in own.get(url).content

    theirs = other.get(url)

    assert b"Helios Capital" in theirs.content and b"Northwind Staking" not in theirs.content


def test_each_browser_gets_pages_with_its_own_csrf_token(north: Book) -> None:
    first, second = browser(north), Client(enforce_csrf_checks=True)
    second.force_login(north.user)
    url = reverse("portal:statements")
    first.get(url)

    page = second.get(url)  # another browser: its own cookie, so its own page
    second.get(url)  # and now replayed to it
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', second.get(url).content)

    assert page.status_code == 200 and token is not None
    logout = second.post(reverse("portal:logout"), {"csrfmiddlewaretoken": token.group(1).decode()})
    assert logout.status_code == 302  # the replayed page's token is valid for this browser


def test_a_page_with_a_message_is_made_afresh(north: Book) -> None:
    client = browser(north)
    url = reverse("portal:dashboard")
    client.get(url)  # kept; a password change does not move the data version
    new_password = "a-much-longer-passphrase-2026"
    changed = client.post(
        reverse("portal:password_change"),
        {"old_password": PASSWORD, "new_password1": new_password, "new_password2": new_password},
    )
    assert changed.status_code == 302

    shown = client.get(url)

    assert b"Your password was changed." in shown.content


def test_a_frozen_download_is_304_when_the_browser_has_it(north: Book) -> None:
    client = browser(north)
    url = reverse("portal:statement_document", args=[north.released.pk, "csv"])
    first = client.get(url)
    assert first.status_code == 200 and first["ETag"]

    again = client.get(url, headers={"If-None-Match": first["ETag"]})

    assert again.status_code == 304 and again.content == b""
