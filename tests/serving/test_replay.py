"""The replay before the stack (api.replay): a kept answer is served with one SQL statement and the
same bytes and headers the full stack gave, throttles still count, and any change to the user's
access (deactivation, a role, a partner) reaches the very next request."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.throttling import UserRateThrottle

from serving.versions import data_version
from tests import factories as f
from tests.api.test_api_partners import Book, bearer, commissions_url, data, statement_url

pytestmark = pytest.mark.django_db

SAME_HEADERS = (
    "Content-Type",
    "ETag",
    "X-Total-Count",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "X-Frame-Options",
    "Content-Security-Policy",
    "Content-Length",
)


def statements(client: Client, url: str) -> tuple[Any, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    return response, [query["sql"] for query in captured.captured_queries]


def test_a_replay_is_one_statement_and_the_same_bytes_and_headers(north: Book) -> None:
    client = bearer(north.user)
    made, made_sql = statements(client, commissions_url(north))
    replayed, replayed_sql = statements(client, commissions_url(north))

    assert made.status_code == replayed.status_code == 200
    assert len(made_sql) > 3
    assert len(replayed_sql) == 1 and "read_model_changes" in replayed_sql[0]
    assert replayed.content == made.content
    for header in SAME_HEADERS:
        assert replayed.get(header) == made.get(header), header
    assert replayed["X-Request-ID"] != made["X-Request-ID"]  # still this request's own


def test_a_deactivated_user_is_refused_at_the_next_request(north: Book) -> None:
    client = bearer(north.user)
    assert client.get(statement_url(north, "2025-08")).status_code == 200

    north.user.is_active = False
    north.user.save(update_fields=["is_active"])

    assert client.get(statement_url(north, "2025-08")).status_code == 401


def test_a_user_moved_to_another_partner_loses_the_old_partners_answers(north: Book, helios: Book) -> None:
    client = bearer(north.user)
    assert data(client.get(commissions_url(north)))

    north.user.partner = helios.partner
    north.user.save(update_fields=["partner"])

    assert client.get(commissions_url(north)).status_code == 404


def test_signing_in_does_not_move_the_data_version(north: Book) -> None:
    before = data_version()
    bearer(north.user)  # a token pair: updates last_login
    north.user.refresh_from_db()
    assert north.user.last_login is not None
    assert data_version() == before


def test_replays_count_against_the_users_throttle(north: Book, monkeypatch: pytest.MonkeyPatch) -> None:
    client = bearer(north.user)
    monkeypatch.setattr(UserRateThrottle, "rate", "3/minute", raising=False)
    answers = [client.get(commissions_url(north)) for _ in range(4)]

    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert int(answers[-1]["Retry-After"]) > 0


def test_a_bad_token_is_never_replayed(north: Book) -> None:
    client = bearer(north.user)
    assert client.get(commissions_url(north)).status_code == 200
    token = client.defaults["HTTP_AUTHORIZATION"]

    tampered = Client(HTTP_AUTHORIZATION=token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    refused = tampered.get(commissions_url(north))

    assert refused.status_code == 401
    assert north.partner.partner_name.encode() not in refused.content


def test_another_users_token_never_gets_the_kept_answer(north: Book) -> None:
    """Two users of the same partner: each gets its own answer made once, not the other's entry."""
    colleague = f.PartnerUserFactory(username="north-colleague", partner=north.partner)
    first, second = bearer(north.user), bearer(colleague)
    assert first.get(commissions_url(north)).status_code == 200

    _, sql = statements(second, commissions_url(north))

    assert len(sql) > 1  # made for this user, not replayed from the colleague's entry
