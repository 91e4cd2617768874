"""The probe the Solana validator-page providers share (Stakewiz, Solana Beach)."""

from __future__ import annotations

from typing import Any

from ingestion.providers.base import PROBE_SCOPE, ProbeOutcome, ProviderAdapter, ValidatorRef
from ingestion.providers.parsing import validate

VALIDATOR_PAGE = "GET /validator/{vote}"


def probe_validator_page(
    adapter: ProviderAdapter, validator: ValidatorRef | None, shape: Any
) -> ProbeOutcome:
    """Ask for the registered validator's page and check it has the provider's shape."""
    if validator is None:
        return ProbeOutcome("no registered validator to ask about (register_validators)", skipped=True)
    exchange = adapter.client.get(f"/validator/{validator.key}", scope=PROBE_SCOPE, request_key="probe")
    validate(shape, exchange.body, provider=adapter.settings.name, endpoint=VALIDATOR_PAGE)
    return ProbeOutcome(f"answered for {validator.key[:8]}…")
