"""Logs: one JSON object per line (or plain text in development), each carrying the correlation id
of the request or task it belongs to, with secrets taken out.

A JSON line has `timestamp` (ISO 8601, UTC), `level`, `logger`, `event` (the message),
`correlation_id` (null outside a request or task), then whatever was passed with `extra=`
(`chain_id`, `period`, ...) and `exc_info` for an exception. `LOG_FORMAT` in the settings picks
`json` or `plain`.

`RedactSecrets` (a handler filter) replaces secrets before any formatter sees the record: bearer
and basic credentials, `Authorization` headers, `password=` / `token=` / `api_key=` style pairs
(in text, query strings and JSON), passwords in URLs (`postgres://user:...@host`), JSON web
tokens, the values of secret environment variables (`*_API_KEY`, `*_TOKEN`, `*_SECRET`,
`*_PASSWORD`, `SECRET_KEY`), and extras or dictionary entries whose key names a secret.

Celery: `task_published` puts the current correlation id into a task's message headers, and
`task_starting` / `task_ended` make it current while the task runs, so the lines a task logs carry
the id of the request that queued it; a task queued outside any request (by beat) gets a new one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from aurora.common import context

REDACTED = "[REDACTED]"
CORRELATION_HEADER = "aurora_correlation_id"

# ---- redaction ----------------------------------------------------------------------------------

SECRET_KEY_NAME = re.compile(
    r"(?i)(pass(word|wd)?|pwd|secret|token|api[_-]?key|apikey|authorization|auth[_-]?header|cookie|"
    r"credential|private[_-]?key|signing[_-]?key|dsn|session[_-]?id|x-api-key)"
)
_KEY = (
    r"(?:[A-Za-z0-9_\-]*(?:pass(?:word|wd)?|pwd|secret|token|api[_-]?key|apikey|private[_-]?key|"
    r"signing[_-]?key|client[_-]?secret|session[_-]?id))"
)
TEXT_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # Authorization: Bearer abc / 'Authorization': 'Basic abc' / HTTP_AUTHORIZATION=abc
    (
        re.compile(
            r"(?i)((?:http_)?authorization['\"]?\s*[:=]\s*['\"]?)((?:bearer|basic|token|jwt)\s+)?[^\s'\",;}]+"
        ),
        r"\1\2" + REDACTED,
    ),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9\-._~+/]{8,}=*"), r"\1 " + REDACTED),
    # password=..., "api_key": "...", ?api-key=...&, token: ...
    (re.compile(rf"(?i)\b({_KEY})(['\"]?\s*[:=]\s*['\"]?)([^\s'\"&,;}}]+)"), r"\1\2" + REDACTED),
    # scheme://user:password@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^:/?#\s@]*:)([^@/?#\s]+)(@)"), r"\1" + REDACTED + r"\3"),
    # JSON web tokens
    (re.compile(r"\beyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+"), REDACTED),
]
SECRET_ENVIRONMENT = re.compile(r"(^SECRET_KEY$|_API_KEY$|_TOKEN$|_SECRET$|_PASSWORD$|^JWT_SIGNING_KEY$)")
MIN_SECRET_LENGTH = 8  # shorter values would redact ordinary words


@cache
def _secret_values() -> tuple[str, ...]:
    """Values of secret-looking environment variables, longest first."""
    values = {
        value
        for name, value in os.environ.items()
        if SECRET_ENVIRONMENT.search(name) and len(value) >= MIN_SECRET_LENGTH
    }
    return tuple(sorted(values, key=len, reverse=True))


def forget_secret_values() -> None:
    """Read the environment's secrets again (after it changed)."""
    _secret_values.cache_clear()


def redact_text(text: str) -> str:
    for value in _secret_values():
        if value in text:
            text = text.replace(value, REDACTED)
    for pattern, replacement in TEXT_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact(value: Any, key: str | None = None, depth: int = 0) -> Any:
    """`value` with secrets replaced: everything under a secret-looking key, secrets in strings,
    recursively through dictionaries, lists and tuples."""
    if key is not None and SECRET_KEY_NAME.search(key) and value not in (None, ""):
        return REDACTED
    if depth > 5:
        return value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: redact(v, str(k), depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact(v, None, depth + 1) for v in value)
    return value


# Attributes every LogRecord has; anything else on a record came from `extra=` (or a filter).
STANDARD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "correlation_id",
    "correlation",  # set by PlainFormatter
    "context",
}


def extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        k: v for k, v in record.__dict__.items() if k not in STANDARD_ATTRIBUTES and not k.startswith("_")
    }


JSON_VALUES = (str, int, float, bool, type(None), list, tuple, dict)


def shown(value: Any) -> Any:
    """An extra as a log line shows it: JSON values as they are (redacted by the filter), other
    objects as their text with secrets taken out (a request shows its path and query string)."""
    return value if isinstance(value, JSON_VALUES) else redact_text(str(value))


class RedactSecrets(logging.Filter):
    """Takes secrets out of the message, its arguments, the extras and the exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a message whose arguments do not fit: log it as written
            message = str(record.msg)
        record.msg, record.args = redact_text(message), None
        for name, value in extras(record).items():
            setattr(record, name, redact(value, name))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


class CorrelationId(logging.Filter):
    """Puts the current request's or task's correlation id on the record (None outside both). A
    record about a request (Django's `django.request` lines, written once the middleware has
    returned) takes the request's."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "correlation_id", None) is None:
            of_request = getattr(getattr(record, "request", None), "correlation_id", None)
            record.correlation_id = str(of_request) if of_request else current_correlation_id()
        return True


def current_correlation_id() -> str | None:
    current = context._current.get()  # not current_request(): that makes up an id when there is none
    return str(current.correlation_id) if current is not None else None


# ---- formatters ---------------------------------------------------------------------------------


def iso_timestamp(created: float) -> str:
    return datetime.fromtimestamp(created, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(_JsonFormatter):
    """One JSON object per line: timestamp, level, logger, event, correlation_id, extras."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("json_ensure_ascii", False)
        super().__init__(*args, **kwargs)

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data["timestamp"] = iso_timestamp(record.created)
        log_data["level"] = record.levelname
        log_data["logger"] = record.name
        # A dictionary logged instead of a message gives its fields (and its "event").
        dictionary = isinstance(record.msg, dict)
        log_data["event"] = message_dict.pop("event", "") if dictionary else record.getMessage()
        log_data["correlation_id"] = getattr(record, "correlation_id", None) or current_correlation_id()
        for name, value in extras(record).items():
            log_data.setdefault(name, shown(value))
        for name, value in message_dict.items():
            log_data.setdefault(name, redact(value, name))

    def formatException(self, ei: Any) -> str:
        return redact_text(logging.Formatter.formatException(self, ei))


PLAIN_HIDDEN = frozenset({"server_time"})  # runserver's, the line's own time again


class PlainFormatter(logging.Formatter):
    """`time level logger [correlation id] message key=value...` for reading in a terminal (the
    extras that are plain values: objects such as the request are left to the JSON format)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(correlation)s] %(message)s%(context)s")

    def format(self, record: logging.LogRecord) -> str:
        record.correlation = (getattr(record, "correlation_id", None) or current_correlation_id() or "-")[:8]
        record.context = "".join(
            f" {k}={v}"
            for k, v in extras(record).items()
            if isinstance(v, JSON_VALUES) and k not in PLAIN_HIDDEN
        )
        return super().format(record)

    def formatException(self, ei: Any) -> str:
        return redact_text(super().formatException(ei))


# ---- Celery: the correlation id travels with the task ---------------------------------------------

_entered = threading.local()


def task_published(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """before_task_publish: the current correlation id goes into the message headers."""
    correlation_id = current_correlation_id()
    if headers is not None and correlation_id is not None and CORRELATION_HEADER not in headers:
        headers[CORRELATION_HEADER] = correlation_id


def _incoming(task: Any) -> uuid.UUID | None:
    request = getattr(task, "request", None)
    value = getattr(request, CORRELATION_HEADER, None) or (getattr(request, "headers", None) or {}).get(
        CORRELATION_HEADER
    )
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def task_starting(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    """task_prerun: the task runs under the correlation id it was sent with; a task run eagerly in
    a request keeps the request's; one sent from outside a request (beat) gets a new id."""
    correlation_id = _incoming(task)
    if correlation_id is None:
        eager = bool(getattr(getattr(task, "request", None), "is_eager", False))
        current = context._current.get()
        correlation_id = current.correlation_id if eager and current is not None else uuid.uuid4()
    tokens: dict[str, Any] = _entered.__dict__.setdefault("tokens", {})
    tokens[task_id or ""] = context.enter(context.RequestContext(correlation_id=correlation_id))


def task_ended(task_id: str | None = None, **_: Any) -> None:
    """task_postrun: back to what was current before the task."""
    tokens: dict[str, Any] = _entered.__dict__.setdefault("tokens", {})
    token = tokens.pop(task_id or "", None)
    if token is not None:
        # Entered in another context (a thread or greenlet switch): nothing to undo.
        with contextlib.suppress(ValueError):
            context.leave(token)
