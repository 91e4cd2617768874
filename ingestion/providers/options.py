"""The `options:` an adapter accepts in providers.yaml, declared per adapter class as `Options`.

`sync_registry` validates every provider's options against its adapter's model before it writes,
so a typo or a wrong type is a one-line error naming the key, not a traceback during ingestion.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StringConstraints

Seconds = Annotated[StrictInt | StrictFloat, Field(ge=0, le=3600)]
HeaderText = Annotated[str, StringConstraints(min_length=1, max_length=100)]
ProviderName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=50)]
# A companion set to null or false: the adapter reads no such provider.
Companion = ProviderName | Literal[False] | None


class AdapterOptions(BaseModel):
    """Options every adapter ignores but none refuses: none. Subclasses list what they read."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ClientOptions(AdapterOptions):
    """What the shared HTTP client reads (retries, circuit breaker, batching, credentials)."""

    max_attempts: Annotated[StrictInt, Field(ge=1, le=20)] = 5
    backoff_seconds: Seconds = 0.5
    backoff_max_seconds: Seconds = 30
    circuit_failure_threshold: Annotated[StrictInt, Field(ge=1, le=1000)] = 5
    circuit_reset_seconds: Seconds = 60
    max_batch_size: Annotated[StrictInt, Field(ge=1, le=1000)] = 100
    api_key_required: StrictBool = False
    api_key_header: HeaderText | None = None
    api_key_prefix: Annotated[str, StringConstraints(max_length=100)] | None = None
    api_key_param: HeaderText | None = None


class ReplayOptions(AdapterOptions):
    """The replay provider: where recordings live (AURORA_RECORDINGS_DIR in the environment wins)."""

    recordings_dir: Annotated[str, StringConstraints(min_length=1, max_length=1000)] | None = None
