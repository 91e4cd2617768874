"""Errors that never reach a DRF view still answer in the envelope under the API prefix: bodies
Django refuses before parsing (too large, too many fields), a host not allowed, an unexpected
error, or an HTML/YAML error page of a third-party view (the Swagger UI, the schema). Elsewhere
Django's own error pages are kept."""

from __future__ import annotations

import json
from collections.abc import Callable

from django.core.exceptions import BadRequest, PermissionDenied, RequestDataTooBig, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.views import defaults

from api import API_PREFIX
from api.envelope import error_body

JSON_CONTENT_TYPE = "application/json"

CODES_BY_STATUS = {
    400: ("bad_request", "The request could not be understood."),
    401: ("not_authenticated", "Authentication credentials were not provided."),
    403: ("permission_denied", "You may not do this."),
    404: ("not_found", "No such endpoint."),
    405: ("method_not_allowed", "Method not allowed."),
    406: ("not_acceptable", "Could not satisfy the request Accept header."),
    413: ("payload_too_large", "The request body is too large."),
    415: ("unsupported_media_type", "Unsupported media type."),
    429: ("throttled", "Request was throttled."),
    500: ("server_error", "An unexpected error occurred; it has been logged."),
}
# Headers of the replaced answer that a client needs to act on it.
KEPT_HEADERS = ("Allow", "WWW-Authenticate", "Retry-After", "X-Correlation-ID")


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIX)


def envelope_response(status: int, code: str | None = None, message: str | None = None) -> HttpResponse:
    default_code, default_message = CODES_BY_STATUS.get(status, ("error", "Request refused."))
    body = error_body(code or default_code, message or default_message)
    return HttpResponse(json.dumps(body), status=status, content_type=JSON_CONTENT_TYPE)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if not is_api_path(request.path):
        return defaults.bad_request(request, exception or BadRequest())
    if isinstance(exception, RequestDataTooBig):
        return envelope_response(413, message="The request body is larger than the server accepts.")
    if isinstance(exception, TooManyFieldsSent):
        return envelope_response(400, "too_many_fields", "Too many query or form parameters.")
    return envelope_response(400)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if not is_api_path(request.path):
        return defaults.permission_denied(request, exception or PermissionDenied())
    return envelope_response(403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if not is_api_path(request.path):
        return defaults.page_not_found(request, exception)
    return envelope_response(404)


def server_error(request: HttpRequest) -> HttpResponse:
    if not is_api_path(request.path):
        return defaults.server_error(request)
    return envelope_response(500)


class ApiErrorEnvelopeMiddleware:
    """The last word on API errors: any error answer that is not JSON becomes the envelope with
    the same status."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if not is_api_path(request.path) or response.status_code < 400:
            return response
        content_type = str(response.get("Content-Type", "")).split(";")[0].strip()
        if content_type == JSON_CONTENT_TYPE:
            return response
        return _replaced(response)


def _replaced(original: HttpResponseBase) -> HttpResponse:
    replacement = envelope_response(original.status_code)
    for header in KEPT_HEADERS:
        if header in original:
            replacement[header] = original[header]
    if hasattr(original, "cookies"):
        replacement.cookies = original.cookies
    return replacement
