"""What the current request (or task) is: its correlation id and where it came from.

Set by `aurora.common.middleware.RequestContextMiddleware` for web requests and by task wrappers
for background work; read by the audit log and the log formatter. Outside both, a fresh
correlation id is made per call.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RequestContext:
    correlation_id: uuid.UUID = field(default_factory=uuid.uuid4)
    ip_address: str | None = None
    user_agent: str | None = None


_current: ContextVar[RequestContext | None] = ContextVar("aurora_request_context", default=None)


def current_request() -> RequestContext:
    return _current.get() or RequestContext()


def enter(context: RequestContext) -> object:
    """Make `context` current; returns a token for `leave`."""
    return _current.set(context)


def leave(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]
