"""The shipped Ethereum recordings (4 validators x 2 windows of 4 epochs) and how tests load them.

ethereum-mainnet is inactive in config/chains.yaml until it is configured against real nodes;
`load_registry` switches it on in the test database. The recordings' windows are 4 epochs long
(their recording.json says so, and replay uses it), so periods are 395000 and 395004.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings

from chains.models import Chain
from chains.services import registry_sync
from ingestion.models import IngestionRun
from ingestion.providers.registry import TransportMode
from ingestion.services import IngestOptions, ingest_range, register_validators

CHAIN = "ethereum-mainnet"
RECORDINGS = Path(settings.AURORA_RECORDINGS_DIR) / CHAIN
MANIFEST = json.loads((RECORDINGS / "validators.json").read_text())
RECORDING = json.loads((RECORDINGS / "recording.json").read_text())
VALIDATORS = [entry["validator_key"] for entry in MANIFEST]
BY_NAME = {entry["display_name"]: entry["validator_key"] for entry in MANIFEST}
PERIOD_LENGTH = RECORDING["chain"]["period_length_epochs"]
PERIODS = tuple(int(period) for period in RECORDING["periods"])


def load_registry() -> None:
    """config/*.yaml, ethereum-mainnet switched on, and the recordings' validators."""
    registry_sync(chains_file=settings.AURORA_CHAINS_FILE, providers_file=settings.AURORA_PROVIDERS_FILE)
    chain = Chain.objects.get(pk=CHAIN)
    chain.is_active = True
    chain.save(update_fields=["is_active", "updated_at"])
    register_validators(chain_id=CHAIN, validators=MANIFEST)


def replay(**kwargs: Any) -> list[IngestionRun]:
    """Ingest the recordings (both windows unless `first`/`last` say otherwise)."""
    options = IngestOptions(mode=TransportMode.REPLAY, sleep=lambda _s: None, **kwargs.pop("options", {}))
    first, last = kwargs.pop("first", PERIODS[0]), kwargs.pop("last", PERIODS[-1])
    return ingest_range(chain_id=CHAIN, first=first, last=last, options=options, **kwargs)
