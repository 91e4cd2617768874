"""Kept answers replayed before the rest of the stack: a GET with a bearer token, on a view that keeps
its answers (api.base.CachedAnswerMixin), is answered from serving.answers with the token verified
(simplejwt's own checks), the view's throttles counted, and the data version read — one SQL
statement and two or three cache round trips — without loading the user, a session, the row-level
scope or DRF. Anything else, and any miss, goes on to the full stack, which makes the answer and
keeps it; the full stack also answers every refusal (a bad token, a throttled client), so its
errors are the API's usual ones.

A replay needs no user row: an answer is kept under the user's id and the data version, and every
change to a user's access moves the data version (serving.answers)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
from rest_framework.settings import api_settings
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings

from api.base import CachedAnswerMixin
from serving.answers import replay

API_PREFIX = "/v1/"
_jwt = JWTAuthentication()


@dataclass(frozen=True)
class _TokenUser:
    """What a throttle asks of `request.user`."""

    pk: str
    is_authenticated: bool = True


@dataclass(frozen=True)
class _ThrottledRequest:
    """What a throttle asks of the request: the user, and META for the client's address."""

    user: _TokenUser
    META: dict[str, Any]


def _user_id(request: HttpRequest) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header.startswith("Bearer "):
        return None
    raw = _jwt.get_raw_token(header.encode("latin-1", "replace"))
    if raw is None:
        return None
    try:
        token = _jwt.get_validated_token(raw)
    except (InvalidToken, TokenError):  # the full stack answers it with a 401
        return None
    user_id = token.get(jwt_settings.USER_ID_CLAIM)
    return str(user_id) if user_id else None


def _within_throttles(view_class: type, request: HttpRequest, user_id: str) -> bool:
    shim = _ThrottledRequest(user=_TokenUser(pk=user_id), META=request.META)
    classes: Any = getattr(view_class, "throttle_classes", api_settings.DEFAULT_THROTTLE_CLASSES)
    return all(throttle().allow_request(shim, view_class) for throttle in classes)


class AnswerReplayMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.replayed(request) or self.get_response(request)

    def replayed(self, request: HttpRequest) -> HttpResponse | None:
        if (
            request.method != "GET"
            or not request.path_info.startswith(API_PREFIX)
            or not settings.AURORA_ANSWER_CACHE_SECONDS
        ):
            return None
        user_id = _user_id(request)
        if user_id is None:
            return None
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return None
        view_class = getattr(match.func, "cls", None)
        if not (isinstance(view_class, type) and issubclass(view_class, CachedAnswerMixin)):
            return None
        response = replay(request, user_id)
        # Throttles count a replay like any request; a refused one goes on to the full stack's 429.
        if response is None or not _within_throttles(view_class, request, user_id):
            return None
        request.resolver_match = match  # the metrics' route label
        response["X-Frame-Options"] = settings.X_FRAME_OPTIONS
        return response
