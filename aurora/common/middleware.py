"""Request plumbing: a correlation id for every request, and the database scope of its user."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from aurora.common import context
from aurora.common.dbscope import ANONYMOUS, SYSTEM, set_database_scope

HEADER = "X-Request-ID"


def _correlation_id(request: HttpRequest) -> uuid.UUID:
    incoming = request.headers.get(HEADER, "")
    try:
        return uuid.UUID(incoming)
    except ValueError:
        return uuid.uuid4()  # absent or not a UUID: ours is returned in the response


def client_address(request: HttpRequest) -> str | None:
    """The client's address: the connection's, or behind `TRUSTED_PROXIES` reverse proxies the
    one the outermost trusted proxy saw (what a client writes into X-Forwarded-For itself sits
    further left and is ignored)."""
    remote = request.META.get("REMOTE_ADDR") or None
    proxies = settings.TRUSTED_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies <= 0 or not forwarded:
        return remote
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    if len(hops) < proxies:
        return remote
    try:
        return str(ipaddress.ip_address(hops[-proxies]))
    except ValueError:
        return remote


class RequestContextMiddleware:
    """Accepts `X-Request-ID` (a UUID) or makes one, keeps it for logs and audit entries with the
    client's address and user agent, and returns it on the response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        correlation_id = _correlation_id(request)
        # Also on the request: Django logs 4xx/5xx answers after the middleware has returned, with
        # the request attached to the log record (aurora.logs reads it there).
        request.correlation_id = correlation_id  # type: ignore[attr-defined]
        token = context.enter(
            context.RequestContext(
                correlation_id=correlation_id,
                ip_address=client_address(request),
                user_agent=(request.headers.get("User-Agent") or "")[:500] or None,
            )
        )
        try:
            response = self.get_response(request)
        finally:
            context.leave(token)
        response[HEADER] = str(correlation_id)
        return response


class DatabaseScopeMiddleware:
    """Sets the connection's row-level-security scope to the request's user (after
    AuthenticationMiddleware), and SYSTEM again once the response is made."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            set_database_scope(role=user.role, partner_id=getattr(user, "partner_id", None))
        else:
            set_database_scope(role=ANONYMOUS)
        try:
            return self.get_response(request)
        finally:
            set_database_scope(role=SYSTEM)
