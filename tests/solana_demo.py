"""The shipped Solana recordings (3 validators x epochs 850-853) and how tests load them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings

from chains.services import registry_sync
from ingestion.models import IngestionRun
from ingestion.providers.registry import TransportMode
from ingestion.services import IngestOptions, ingest_range, register_validators

CHAIN = "solana-mainnet"
RECORDINGS = Path(settings.AURORA_RECORDINGS_DIR) / CHAIN
MANIFEST = json.loads((RECORDINGS / "validators.json").read_text())
VALIDATORS = [entry["validator_key"] for entry in MANIFEST]
EPOCHS = (850, 851, 852, 853)


def load_registry() -> None:
    """config/*.yaml and the demo validators (needs SOLANABEACH_API_KEY for live-mode adapters)."""
    registry_sync(chains_file=settings.AURORA_CHAINS_FILE, providers_file=settings.AURORA_PROVIDERS_FILE)
    register_validators(chain_id=CHAIN, validators=MANIFEST)


def replay(**kwargs: Any) -> list[IngestionRun]:
    """Ingest the recordings (epochs 850-853 unless `first`/`last` say otherwise)."""
    options = IngestOptions(mode=TransportMode.REPLAY, sleep=lambda _s: None, **kwargs.pop("options", {}))
    first, last = kwargs.pop("first", EPOCHS[0]), kwargs.pop("last", EPOCHS[-1])
    return ingest_range(chain_id=CHAIN, first=first, last=last, options=options, **kwargs)


def delete_staged(payloads: Any) -> None:
    """Delete staged payloads (a queryset), as an operator would as the schema owner in a
    maintenance session: the application's role may not (tests/conftest.py, test_as_owner)."""
    from django.db import connection

    ids = [str(pk) for pk in payloads.values_list("pk", flat=True)]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT test_as_owner('DELETE FROM staging_payloads WHERE payload_id = ANY($1)', %s::uuid[])",
            [ids],
        )


def delete_runs(runs: Any) -> None:
    """Delete ingestion runs (a queryset) with their staged payloads, as `delete_staged` does."""
    from django.db import connection

    ids = [str(pk) for pk in runs.values_list("pk", flat=True)]
    with connection.cursor() as cursor:
        for table in ("staging_payloads", "ingestion_runs"):
            cursor.execute(
                f"SELECT test_as_owner('DELETE FROM {table} WHERE run_id = ANY($1)', %s::uuid[])",  # noqa: S608
                [ids],
            )
