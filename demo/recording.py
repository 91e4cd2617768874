"""Adapters in record mode answered by a simulated world: how the shipped recordings are made."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from demo.simulated.ethereum import SimulatedEthereum
from ingestion.providers.base import ChainSettings, ProviderSettings
from ingestion.providers.registry import TransportMode, build_adapter


def recording_adapters(
    world: SimulatedEthereum, *, registry: Any, chain_id: str, root: Path, period_length_epochs: int
) -> dict[str, Any]:
    """Every provider of the chain as an adapter in record mode, answered by the simulated world."""
    spec = registry.chains[chain_id]
    chain = ChainSettings(
        chain_id=chain_id,
        finality_lag=spec.finality_lag,
        parameters=spec.parameters,
        period_length_epochs=period_length_epochs,
    )
    providers = {
        name: ProviderSettings.from_spec(name, provider) for name, provider in registry.providers.items()
    }
    return {
        name: build_adapter(
            chain,
            providers[name],
            mode=TransportMode.RECORD,
            recordings=root,
            transport=world.transport(),
            sleep=lambda _seconds: None,
            companions=providers,
        )
        for names in spec.providers.values()
        for name in names
    }
