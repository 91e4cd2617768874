"""The probe endpoints: `/health`, `/health/ready`, `/health/ingestion` and `/metrics`.

`ProbeMiddleware` (early in MIDDLEWARE) answers these paths itself, before the sessions,
authentication and database-scope middleware: a probe must answer when the database is down,
and it needs no user. The views stay thin; the work is in aurora.health and aurora.metrics.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import resolve, reverse
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST

from aurora import health, metrics
from operations.selectors import IngestionHealthStatus

NO_STORE = "no-store"
PROBE_NAMES = ("health", "health_ready", "health_ingestion", "metrics")


def _answer(body: dict[str, object], status: int = 200) -> JsonResponse:
    response = JsonResponse(body, status=status)
    response["Cache-Control"] = NO_STORE
    return response


@require_safe
def liveness(request: HttpRequest) -> JsonResponse:
    """The process is up and answering (nothing else is checked)."""
    return _answer({"status": "ok"})


@require_safe
def readiness(request: HttpRequest) -> JsonResponse:
    """200 when the database and Redis answer and every migration is applied; 503 naming the
    failing checks otherwise."""
    ready = health.readiness()
    return _answer(ready.as_dict(), 200 if ready.ok else 503)


@require_safe
def ingestion(request: HttpRequest) -> JsonResponse:
    """Ingestion lag per active chain. 200 with the statuses in the body; 503 only when the
    database cannot be read, or with `?strict=1` when the overall status is UNHEALTHY."""
    status, body = health.ingestion_report()
    strict = request.GET.get("strict", "").lower() in {"1", "true", "yes"}
    failing = status is None or (strict and status == IngestionHealthStatus.UNHEALTHY)
    return _answer(body, 503 if failing else 200)


@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text format; from this machine, or with the bearer METRICS_TOKEN."""
    if not metrics.scrape_allowed(request):
        if metrics.token_configured():
            refused = HttpResponse("Send Authorization: Bearer <METRICS_TOKEN>.\n", status=401)
            refused["WWW-Authenticate"] = 'Bearer realm="metrics"'
        else:
            refused = HttpResponse(
                "Metrics are served to this machine only (METRICS_TOKEN is not set).\n", status=403
            )
        refused["Content-Type"] = "text/plain; charset=utf-8"
        return refused
    response = HttpResponse(metrics.exposition(), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = NO_STORE
    return response


class ProbeMiddleware:
    """Answers the probe URLs without the rest of the middleware (see the module docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    @cached_property
    def paths(self) -> frozenset[str]:
        return frozenset(reverse(name) for name in PROBE_NAMES)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info not in self.paths:
            return self.get_response(request)
        match = resolve(request.path_info)
        request.resolver_match = match
        response: HttpResponse = match.func(request, *match.args, **match.kwargs)
        return response
