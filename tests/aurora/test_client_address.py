"""The client's address behind reverse proxies (audit entries and the sign-in lockout)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import RequestFactory

from aurora.common.middleware import client_address


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "203.0.113.7", "10.0.0.1"),  # no trusted proxy: the header is the client's own claim
        (1, "203.0.113.7", "203.0.113.7"),  # nginx appended the address it saw
        (1, "198.51.100.1, 203.0.113.7", "203.0.113.7"),  # a forged first hop is ignored
        (2, "198.51.100.1, 203.0.113.7, 10.0.0.9", "203.0.113.7"),
        (2, "203.0.113.7", "10.0.0.1"),  # fewer hops than proxies: the connection's address
        (1, "not-an-address", "10.0.0.1"),
        (1, "", "10.0.0.1"),
    ],
)
def test_the_client_address_comes_from_the_trusted_proxies_only(
    settings: Any, proxies: int, forwarded: str, expected: str
) -> None:
    settings.TRUSTED_PROXIES = proxies
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)

    assert client_address(request) == expected
