"""Every error under /v1/ is the JSON envelope, including those Django or a third-party view answers
before (or instead of) the API's own exception handler; other paths keep Django's pages."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from api.views import NotFoundView

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_throttles() -> None:
    cache.clear()


def assert_envelope(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].split(";")[0] == "application/json"
    payload = response.json()
    assert set(payload) == {"data", "error"}
    assert payload["data"] is None
    assert set(payload["error"]) == {"code", "message", "details"}
    assert payload["error"]["code"] == code
    assert payload["error"]["message"]
    return dict(payload["error"])


def test_a_body_over_the_upload_limit_is_413(settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    oversized = '{"username": "' + "x" * 2048 + '", "password": "p"}'

    response = Client().post("/v1/auth/token", oversized, content_type="application/json")

    assert_envelope(response, 413, "payload_too_large")


def test_too_many_query_parameters_is_a_400_envelope(settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    query = "&".join(f"p{i}=1" for i in range(20))

    response = Client().get(f"/v1/chains?{query}")

    assert_envelope(response, 400, "too_many_fields")


def test_a_host_not_allowed_is_a_400_envelope() -> None:
    response = Client().get("/v1/chains", HTTP_HOST="attacker.example")

    assert_envelope(response, 400, "bad_request")


def test_json_nested_deeper_than_the_parser_can_follow_is_a_parse_error() -> None:
    response = Client(raise_request_exception=False).post(
        "/v1/auth/token", "[" * 100_000, content_type="application/json"
    )

    assert_envelope(response, 400, "parse_error")


@pytest.mark.parametrize("method", ["GET", "POST", "OPTIONS", "TRACE"])
def test_an_unknown_url_under_the_prefix_is_404_whatever_the_method(method: str) -> None:
    response = Client().generic(method, "/v1/no/such/endpoint")

    assert_envelope(response, 404, "not_found")


@pytest.mark.parametrize("url", ["/v1/docs/", "/v1/schema/"])
def test_a_wrong_method_on_the_documentation_is_a_405_envelope(url: str) -> None:
    response = Client().post(url, "{}", content_type="application/json")

    assert_envelope(response, 405, "method_not_allowed")
    assert "GET" in response["Allow"]


def test_an_unexpected_error_is_a_500_envelope_that_reveals_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*_: Any, **__: Any) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(NotFoundView, "get", explode)

    response = Client(raise_request_exception=False).get("/v1/anything")

    error = assert_envelope(response, 500, "server_error")
    assert "secret internal detail" not in response.content.decode()
    assert error["details"] == {}


def test_outside_the_api_errors_stay_django_pages() -> None:
    response = Client().get("/portal/no/such/page")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
