"""Answers kept whole in the cache: the bytes a GET produced, under the data version, the user's
access and the request, so a repeated read costs a cache lookup and nothing is ever recomputed
for data that did not change.

The key holds the data version and the user's id, so an answer is replayed to the same user only,
never to another partner, and never after that user's access changed: a change of role, partner,
chain or validator narrowing, activity, group or object grant moves the data version (serving
migrations 0001 and 0003). The data version is read before the answer is made
(serving.versions), so an entry can be newer than its key but never older than it. Because the
key needs nothing but a verified token's user id, a replay can be found before the user is loaded
(api.replay). Each entry carries a strong ETag (the SHA-256 of its bytes); a request whose
`If-None-Match` names it is answered 304 without a body.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest, HttpResponse
from django.utils.cache import get_conditional_response
from django.utils.http import quote_etag

from serving.versions import data_version

KEY_PREFIX = "aurora:answer:v2"
# Headers an answer carries besides its body (paging, downloads); the rest is the server's.
KEPT_HEADERS = ("X-Total-Count", "X-Limit", "X-Offset", "Link", "Content-Disposition")


@dataclass(frozen=True)
class Answer:
    body: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...]
    etag: str

    @classmethod
    def of(cls, response: HttpResponse) -> Answer:
        body = bytes(response.content)
        headers = tuple((name, response[name]) for name in KEPT_HEADERS if response.has_header(name))
        return cls(body, response.get("Content-Type", ""), headers, etag_of(body))

    def response(self, request: HttpRequest) -> HttpResponse:
        """The answer, or a 304 keeping its ETag if the request's `If-None-Match` names it."""
        response = HttpResponse(self.body, content_type=self.content_type)
        for name, value in self.headers:
            response[name] = value
        response["ETag"] = self.etag
        response["Content-Length"] = str(len(self.body))  # what CommonMiddleware adds to a fresh one
        return conditional(request, response, self.etag)


def conditional(request: HttpRequest, response: HttpResponse, etag: str) -> HttpResponse:
    """`response`, or a 304 with its ETag if the request's `If-None-Match` names it (Django's
    rules: `*`, weak comparison, GET and HEAD only)."""
    return get_conditional_response(request, etag=etag, response=response) or response


def etag_of(body: bytes) -> str:
    return quote_etag(hashlib.sha256(body).hexdigest()[:32])


def request_digest(request: HttpRequest) -> str:
    query = urlencode(sorted((name, value) for name, values in request.GET.lists() for value in values))
    accept = request.headers.get("Accept", "")
    return hashlib.sha256(f"{request.path}\x1f{query}\x1f{accept}".encode()).hexdigest()[:40]


def answer_key(request: HttpRequest, user_id: object, version: str, variant: str = "") -> str:
    key = f"{KEY_PREFIX}:{version}:{user_id}:{request_digest(request)}"
    return f"{key}:{variant}" if variant else key


def answer_cache() -> Any:
    return caches[settings.AURORA_ANSWER_CACHE]


def _replayed(request: HttpRequest, key: str) -> HttpResponse | None:
    entry = answer_cache().get(key) if key else None
    return entry.response(request) if isinstance(entry, Answer) else None


def replay(request: HttpRequest, user_id: object) -> HttpResponse | None:
    """The kept answer to this request for this user at today's data version, if there is one."""
    if not settings.AURORA_ANSWER_CACHE_SECONDS:
        return None
    return _replayed(request, answer_key(request, user_id, data_version()))


class AnswerCache:
    """One request's use of the cache: `lookup()` first, `keep(response)` once it is made.
    `variant` narrows the key further (a portal page: the browser's CSRF secret, which the page
    embeds); `usable=False` leaves the cache alone for this request."""

    def __init__(self, request: HttpRequest, user: Any, *, variant: str = "", usable: bool = True) -> None:
        self.request = request
        self.key = (
            answer_key(request, user.pk, data_version(), variant)
            if usable and settings.AURORA_ANSWER_CACHE_SECONDS
            else ""
        )

    def lookup(self) -> HttpResponse | None:
        return _replayed(self.request, self.key)

    def keep(self, response: HttpResponse) -> HttpResponse:
        """Store a 200 and answer it with its ETag (or 304 if the client already holds it)."""
        if response.status_code != 200 or getattr(response, "streaming", False):
            return response
        answer = Answer.of(response)
        if self.key:
            answer_cache().set(self.key, answer, settings.AURORA_ANSWER_CACHE_SECONDS)
        response["ETag"] = answer.etag
        return conditional(self.request, response, answer.etag)
