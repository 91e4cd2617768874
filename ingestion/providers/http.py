"""The one HTTP layer every adapter uses: timeouts, retries, rate limit, circuit breaker, JSON-RPC.

Retries (tenacity) cover timeouts, connection errors, 429, 5xx and transient JSON-RPC errors,
with exponential backoff and full jitter; a `Retry-After` from the provider wins over the
backoff. A per-provider rate limit spaces requests evenly. A per-provider circuit breaker
(pybreaker) stops calling a provider that keeps failing and lets one trial call through after
a cool-down. API keys come from the environment and never appear in errors, logs or staging.
"""

from __future__ import annotations

import email.utils
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pybreaker
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from aurora.common.hashing import parse_json
from ingestion.providers.base import Exchange, ProviderSettings
from ingestion.providers.errors import (
    ProviderBadResponse,
    ProviderConnectionError,
    ProviderError,
    ProviderHttpError,
    ProviderNotConfigured,
    ProviderRateLimited,
    ProviderRpcError,
    ProviderTimeout,
    ProviderUnavailable,
)

logger = logging.getLogger(__name__)

SCOPE_EXTENSION = "aurora.scope"
MAX_RETRY_AFTER_SECONDS = 120.0
RATE_LIMIT_RPC_CODES = frozenset({-32029, -32429})


def _option(options: Mapping[str, Any], name: str, default: float) -> float:
    value = options.get(name, default)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


class RateLimiter:
    """Spaces calls at least 60/limit seconds apart (per provider, shared by threads)."""

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = 60.0 / per_minute
        self._clock = clock
        self._next_free = 0.0
        self._lock = threading.Lock()

    def wait_time(self) -> float:
        """Reserve the next slot; return how long the caller must wait for it."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next_free)
            self._next_free = start + self.interval
            return start - now


_limiters: dict[str, RateLimiter] = {}
_breakers: dict[str, pybreaker.CircuitBreaker] = {}
_registry_lock = threading.Lock()


def _counts_against_provider(error: BaseException) -> bool:
    """Failures that say the provider is unwell (not a wrong request or an answer about data)."""
    if isinstance(error, ProviderBadResponse):
        return True
    return isinstance(error, ProviderError) and error.retryable


def circuit_breaker(settings: ProviderSettings) -> pybreaker.CircuitBreaker:
    with _registry_lock:
        breaker = _breakers.get(settings.name)
        if breaker is None:
            breaker = pybreaker.CircuitBreaker(
                fail_max=int(_option(settings.options, "circuit_failure_threshold", 5)),
                reset_timeout=_option(settings.options, "circuit_reset_seconds", 60),
                exclude=[lambda error: not _counts_against_provider(error)],
                throw_new_error_on_trip=False,
                name=settings.name,
            )
            _breakers[settings.name] = breaker
        return breaker


def rate_limiter(settings: ProviderSettings) -> RateLimiter | None:
    if not settings.rate_limit_per_minute:
        return None
    with _registry_lock:
        limiter = _limiters.get(settings.name)
        if limiter is None or limiter.interval != 60.0 / settings.rate_limit_per_minute:
            limiter = _limiters[settings.name] = RateLimiter(settings.rate_limit_per_minute)
        return limiter


def reset_provider_state() -> None:
    """Forget rate-limit and circuit-breaker state (a new process starts clean too)."""
    with _registry_lock:
        _limiters.clear()
        _breakers.clear()


@dataclass(frozen=True)
class RpcCall:
    method: str
    params: list[Any]


@dataclass(frozen=True)
class RpcOutcome:
    """One call's answer in a batch: a result, or the JSON-RPC error the node gave for it."""

    call: RpcCall
    result: Any = None
    error: ProviderError | None = None


class _WaitRetryAfterOrBackoff:
    def __init__(self, backoff: Callable[[RetryCallState], float]) -> None:
        self.backoff = backoff

    def __call__(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, ProviderRateLimited) and error.retry_after is not None:
            return error.retry_after
        return self.backoff(state)


def _should_retry(error: BaseException) -> bool:
    if isinstance(error, ProviderRateLimited) and (error.retry_after or 0) > MAX_RETRY_AFTER_SECONDS:
        return False  # the provider asked for a pause longer than a run should wait
    return isinstance(error, ProviderError) and error.retryable


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _error_text(body: Any) -> str:
    if isinstance(body, dict):
        for key in ("error", "err", "message"):
            if isinstance(body.get(key), str):
                return str(body[key])[:200]
    return ""


class ProviderClient:
    """HTTP access to one provider. `transport` replaces the network (replay, recording, tests)."""

    def __init__(
        self,
        settings: ProviderSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rate_limited: bool = True,
        require_credentials: bool = True,
    ) -> None:
        self.settings = settings
        self._sleep = sleep
        self._limiter = rate_limiter(settings) if rate_limited else None
        self._breaker = circuit_breaker(settings)
        options = settings.options
        self._max_attempts = int(_option(options, "max_attempts", 5))
        self._backoff = wait_random_exponential(
            multiplier=_option(options, "backoff_seconds", 0.5),
            max=_option(options, "backoff_max_seconds", 30),
        )
        self.max_batch_size = max(1, int(_option(options, "max_batch_size", 100)))
        self._secret = self._api_key(require_credentials)
        self._key_param = options.get("api_key_param") if self._secret else None
        headers = {"Accept": "application/json", "User-Agent": "aurora-ingestion"}
        if self._secret and not self._key_param:
            header = str(options.get("api_key_header", "Authorization"))
            prefix = str(options.get("api_key_prefix", "Bearer " if header == "Authorization" else ""))
            headers[header] = f"{prefix}{self._secret}"
        self._http = httpx.Client(
            base_url=settings.base_url or "http://provider.invalid",
            transport=transport,
            timeout=httpx.Timeout(settings.timeout_seconds),
            headers=headers,
            follow_redirects=False,
        )

    def _api_key(self, required: bool) -> str | None:
        env_name = self.settings.api_key_env
        if not env_name:
            return None
        value = os.environ.get(env_name, "").strip()
        if not value and required and self.settings.options.get("api_key_required"):
            raise ProviderNotConfigured(
                provider=self.settings.name,
                endpoint="-",
                reason=f"environment variable {env_name} is not set",
            )
        return value or None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ProviderClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- REST ----------------------------------------------------------------------------------

    def get(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        scope: str,
        request_key: str | None = None,
    ) -> Exchange:
        return self._call(
            "GET", path, params=params, body=None, scope=scope, endpoint=f"GET {path}", key=request_key
        )

    def post(self, path: str, *, json: Any, scope: str, request_key: str | None = None) -> Exchange:
        return self._call(
            "POST", path, params=None, body=json, scope=scope, endpoint=f"POST {path}", key=request_key
        )

    # ---- JSON-RPC ------------------------------------------------------------------------------

    def rpc(
        self, method: str, params: list[Any], *, scope: str, request_key: str | None = None
    ) -> tuple[Any, Exchange]:
        """One JSON-RPC call; an error object raises ProviderRpcError."""
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        exchange = self._call(
            "POST", "", params=None, body=body, scope=scope, endpoint=method, key=request_key or method
        )
        return self.rpc_result(exchange.body, method), exchange

    def rpc_batch(
        self, calls: Sequence[RpcCall], *, scope: str, request_key: str, batch_size: int | None = None
    ) -> tuple[list[RpcOutcome], list[Exchange]]:
        """Calls in batches of `batch_size` (default the provider's max_batch_size), answers matched by id."""
        size = max(1, batch_size or self.max_batch_size)
        outcomes: list[RpcOutcome] = []
        exchanges: list[Exchange] = []
        for number, start in enumerate(range(0, len(calls), size)):
            chunk = calls[start : start + size]
            body = [
                {"jsonrpc": "2.0", "id": i, "method": c.method, "params": c.params}
                for i, c in enumerate(chunk)
            ]
            endpoint = f"{chunk[0].method} batch" if chunk else "batch"
            exchange = self._call(
                "POST",
                "",
                params=None,
                body=body,
                scope=scope,
                endpoint=endpoint,
                key=f"{request_key}#{number:04d}",
            )
            outcomes.extend(self.batch_outcomes(exchange.body, chunk))
            exchanges.append(exchange)
        return outcomes, exchanges

    def rpc_result(self, body: Any, method: str) -> Any:
        if (
            not isinstance(body, dict)
            or body.get("jsonrpc") != "2.0"
            or ("result" not in body and "error" not in body)
        ):
            raise self._bad(method, "not a JSON-RPC 2.0 response")
        if body.get("error") is not None:
            raise self._rpc_error(method, body["error"])
        return body["result"]

    def batch_outcomes(self, body: Any, chunk: Sequence[RpcCall]) -> list[RpcOutcome]:
        endpoint = f"{chunk[0].method} batch" if chunk else "batch"
        if isinstance(body, dict) and body.get("error") is not None:
            raise self._rpc_error(endpoint, body["error"])
        if not isinstance(body, list):
            raise self._bad(endpoint, "a batch request was not answered with an array")
        by_id: dict[int, dict[str, Any]] = {}
        for item in body:
            if (
                not isinstance(item, dict)
                or not isinstance(item.get("id"), int)
                or isinstance(item["id"], bool)
            ):
                raise self._bad(endpoint, "a batch answer has no integer id")
            by_id[item["id"]] = item
        outcomes = []
        for index, call in enumerate(chunk):
            item = by_id.get(index)
            if item is None:
                raise self._bad(endpoint, f"no answer for call {index} ({call.method})")
            if item.get("error") is not None:
                outcomes.append(RpcOutcome(call=call, error=self._rpc_error(call.method, item["error"])))
            elif "result" in item:
                outcomes.append(RpcOutcome(call=call, result=item["result"]))
            else:
                raise self._bad(endpoint, f"answer {index} has neither result nor error")
        return outcomes

    # ---- internals -----------------------------------------------------------------------------

    def _bad(self, endpoint: str, reason: str, *, retryable: bool = False) -> ProviderBadResponse:
        error = ProviderBadResponse(
            provider=self.settings.name, endpoint=endpoint, reason=self._redact(reason)
        )
        error.retryable = retryable
        return error

    def _is_rate_limit(self, item: Any) -> bool:
        return (
            isinstance(item, dict)
            and isinstance(item.get("error"), dict)
            and isinstance(self._rpc_error("batch", item["error"]), ProviderRateLimited)
        )

    def _rpc_error(self, endpoint: str, error: Any) -> ProviderError:
        if not isinstance(error, dict) or not isinstance(error.get("code"), int):
            return self._bad(endpoint, f"malformed JSON-RPC error object: {str(error)[:120]}")
        code, message = error["code"], str(error.get("message", ""))[:300]
        if code in RATE_LIMIT_RPC_CODES or "rate limit" in message.lower():
            return ProviderRateLimited(
                provider=self.settings.name,
                endpoint=endpoint,
                reason=self._redact(f"JSON-RPC error {code}: {message}"),
            )
        return ProviderRpcError(
            provider=self.settings.name, endpoint=endpoint, code=code, message=self._redact(message)
        )

    def _redact(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None,
        body: Any,
        scope: str,
        endpoint: str,
        key: str | None,
    ) -> Exchange:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        base = (self.settings.base_url or "").rstrip("/")
        url = f"{base}/{path.lstrip('/')}" if path else f"{base}/"
        description: dict[str, Any] = {"method": method, "url": url}
        if query:
            description["query"] = {k: str(v) for k, v in query.items()}
        if body is not None:
            description["body"] = body
        if self._key_param and self._secret:
            query[str(self._key_param)] = self._secret

        def attempt() -> Exchange:
            return self._attempt(method, path, query, body, scope, endpoint, description, key or endpoint)

        retrying = Retrying(
            stop=stop_after_attempt(self._max_attempts),
            wait=_WaitRetryAfterOrBackoff(self._backoff),
            retry=retry_if_exception(_should_retry),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            return self._breaker.call(retrying, attempt)  # type: ignore[no-any-return]
        except pybreaker.CircuitBreakerError as error:
            raise ProviderUnavailable(
                provider=self.settings.name,
                endpoint=endpoint,
                reason=f"circuit open after repeated failures; retry in {self._breaker.reset_timeout:.0f} s",
            ) from error

    def _attempt(
        self,
        method: str,
        path: str,
        query: Mapping[str, Any],
        body: Any,
        scope: str,
        endpoint: str,
        description: dict[str, Any],
        key: str,
    ) -> Exchange:
        name = self.settings.name
        if self._limiter is not None:
            delay = self._limiter.wait_time()
            if delay > 0:
                self._sleep(delay)
        request = self._http.build_request(
            method, path, params=query or None, json=body, extensions={SCOPE_EXTENSION: scope}
        )
        started = time.monotonic()
        try:
            response = self._http.send(request)
        except httpx.TimeoutException as error:
            raise ProviderTimeout(
                provider=name,
                endpoint=endpoint,
                reason=f"timed out after {self.settings.timeout_seconds:g} s",
            ) from error
        except httpx.TransportError as error:
            raise ProviderConnectionError(
                provider=name, endpoint=endpoint, reason=self._redact(f"{type(error).__name__}: {error}")
            ) from error
        finally:
            logger.debug("%s %s (%s) %.3f s", name, endpoint, scope, time.monotonic() - started)
        try:
            parsed = parse_json(response.content)
            parse_error = ""
        except ValueError as error:  # also JSONDecodeError and UnicodeDecodeError
            parsed = None
            content_type = response.headers.get("content-type", "unknown content type")
            size = len(response.content)
            parse_error = f"body is not JSON ({content_type}, {size} bytes: {str(error)[:120]})"
        status = response.status_code
        if status == 429:
            raise ProviderRateLimited(
                provider=name,
                endpoint=endpoint,
                reason="HTTP 429 Too Many Requests",
                retry_after=_retry_after_seconds(response.headers.get("retry-after")),
            )
        if status >= 400:
            detail = _error_text(parsed) or parse_error or "no details"
            raise ProviderHttpError(
                provider=name,
                endpoint=endpoint,
                reason=self._redact(f"HTTP {status}: {detail}"),
                status=status,
            )
        if parse_error:
            # A truncated body or a proxy's HTML page is usually transient: worth another try.
            raise self._bad(endpoint, parse_error, retryable=True)
        if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict) and parsed.get("jsonrpc"):
            # A whole-request JSON-RPC error (rate limit, node behind) is worth retrying here.
            whole_request_error = self._rpc_error(endpoint, parsed["error"])
            if whole_request_error.retryable:
                raise whole_request_error
        if isinstance(parsed, list) and any(self._is_rate_limit(item) for item in parsed):
            raise ProviderRateLimited(
                provider=name, endpoint=endpoint, reason="rate limited inside a batch answer"
            )
        return Exchange(
            request_key=key,
            request=description,
            status=status,
            body=parsed,
            fetched_at=datetime.now(UTC),
            scope=scope,
        )
