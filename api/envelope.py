"""Every API answer is `{"data": …, "error": null}` or `{"data": null, "error": {code, message,
details}}`. Views return plain data; the renderer wraps it and the exception handler shapes
errors, so no view builds an envelope by hand."""

from __future__ import annotations

import json
from typing import Any

import orjson
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

ENVELOPE_KEYS = frozenset({"data", "error"})


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"data": None, "error": {"code": code, "message": message, "details": details or {}}}


class RawJson:
    """A value that is JSON text already (a JSONB column read as text): sent as it is. (Not a
    dataclass: orjson would write those as objects.)"""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class _Encoder(JSONEncoder):
    """DRF's encoder (dates, decimals, lazy text as DRF writes them), knowing RawJson."""

    def default(self, obj: Any) -> Any:
        if isinstance(obj, RawJson):
            return json.loads(obj.text)
        return super().default(obj)


_encoder = _Encoder()


def _orjson_default(obj: Any) -> Any:
    if isinstance(obj, RawJson):
        return orjson.Fragment(obj.text)
    return _encoder.default(obj)


class EnvelopeRenderer(JSONRenderer):
    """JSON with the envelope around what the view returned (errors arrive already shaped).
    Written by orjson, with DRF's encoder for what orjson leaves to it (dates and times, so they
    read exactly as DRF writes them; decimals; lazy text), or by DRF's renderer when indentation
    is asked for or orjson refuses the data (keys that are not strings)."""

    encoder_class = _Encoder

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        response = (renderer_context or {}).get("response")
        if response is not None and response.status_code == status.HTTP_204_NO_CONTENT:
            return b""
        if not (isinstance(data, dict) and data.keys() == ENVELOPE_KEYS):
            data = {"data": data, "error": None}
        if self.get_indent(accepted_media_type or "", renderer_context or {}) is None:
            try:
                return orjson.dumps(data, default=_orjson_default, option=orjson.OPT_PASSTHROUGH_DATETIME)
            except TypeError:
                pass
        return bytes(super().render(data, accepted_media_type, renderer_context))


class ConflictError(exceptions.ValidationError):
    """A request refused because of the current state of what it changes (terms changed since
    they were read, a job already running over the range, a frozen statement): 409, with the
    fields named as in a validation error."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


CODES = {
    ConflictError: "conflict",  # before ValidationError, which it extends
    exceptions.ValidationError: "validation_error",
    exceptions.ParseError: "parse_error",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
}


def _code(exc: exceptions.APIException) -> str:
    for kind, code in CODES.items():
        if isinstance(exc, kind):
            return code
    return str(getattr(exc, "default_code", "error"))


def _validation_message(details: Any) -> str:
    """'field: first message' so the message alone names what to fix."""
    if isinstance(details, dict) and details:
        field, messages = next(iter(details.items()))
        first = messages[0] if isinstance(messages, list) and messages else messages
        if isinstance(first, dict):
            return _validation_message({f"{field}.{k}": v for k, v in first.items()})
        return f"{field}: {first}" if field != "non_field_errors" else str(first)
    if isinstance(details, list) and details:
        return str(details[0])
    return "Invalid input."


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handling (statuses, auth headers, Retry-After) with the envelope as the body."""
    # Imported here: rest_framework.views reads DEFAULT_RENDERER_CLASSES, which names this module, so
    # a module-level import fails whenever this module is the first to load DRF's views (a WSGI
    # server loading the API's error middleware).
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # an unexpected error: logged and answered 500 by Django
    if not isinstance(exc, exceptions.APIException):
        return response
    code = _code(exc)
    if isinstance(exc, exceptions.ValidationError):
        details = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = error_body(code, _validation_message(details), details)
    else:
        detail = exc.detail
        message = str(detail) if not isinstance(detail, list | dict) else "Request refused."
        wait = getattr(exc, "wait", None) if isinstance(exc, exceptions.Throttled) else None
        extra = {"retry_after_seconds": wait} if wait else None
        response.data = error_body(code, message, extra)
    return response
