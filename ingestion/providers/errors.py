"""Typed provider failures. Each names the provider, the endpoint and the reason, never a secret."""


class ProviderError(Exception):
    """A provider call that did not give a usable answer."""

    retryable = False
    kind = "error"

    def __init__(self, *, provider: str, endpoint: str, reason: str) -> None:
        self.provider = provider
        self.endpoint = endpoint
        self.reason = reason
        super().__init__(f"{provider} {endpoint}: {reason}")

    def as_dict(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "provider": self.provider,
            "endpoint": self.endpoint,
            "reason": self.reason,
        }


class ProviderTimeout(ProviderError):
    retryable = True
    kind = "timeout"


class ProviderConnectionError(ProviderError):
    retryable = True
    kind = "connection"


class ProviderRateLimited(ProviderError):
    """HTTP 429 or a JSON-RPC "rate limit" error; `retry_after` seconds when the provider said so."""

    retryable = True
    kind = "rate_limited"

    def __init__(
        self, *, provider: str, endpoint: str, reason: str, retry_after: float | None = None
    ) -> None:
        super().__init__(provider=provider, endpoint=endpoint, reason=reason)
        self.retry_after = retry_after


class ProviderHttpError(ProviderError):
    """A non-success HTTP status; 5xx are worth retrying, 4xx are not."""

    kind = "http"

    def __init__(self, *, provider: str, endpoint: str, reason: str, status: int) -> None:
        super().__init__(provider=provider, endpoint=endpoint, reason=reason)
        self.status = status
        self.retryable = status >= 500


class ProviderBadResponse(ProviderError):
    """The body is not what the provider documents: not JSON, truncated, HTML, or the wrong shape."""

    kind = "bad_response"


class ProviderRpcError(ProviderError):
    """A JSON-RPC error object."""

    kind = "rpc"
    # Transient node conditions worth another try (Agave custom errors).
    RETRYABLE_CODES = frozenset({-32004, -32005, -32014, -32016})

    def __init__(self, *, provider: str, endpoint: str, code: int, message: str) -> None:
        super().__init__(provider=provider, endpoint=endpoint, reason=f"JSON-RPC error {code}: {message}")
        self.code = code
        self.message = message
        self.retryable = code in self.RETRYABLE_CODES


class ProviderUnavailable(ProviderError):
    """The circuit breaker is open: the provider failed repeatedly and is left alone for a while."""

    kind = "unavailable"


class ProviderNotConfigured(ProviderError):
    """The provider cannot be called as configured (missing API key, no base URL, unknown adapter)."""

    kind = "not_configured"


class RecordingMissing(ProviderError):
    """Replay was asked for a request that was never recorded."""

    kind = "recording_missing"
