"""Arguments and option handling shared by `ingest` and `backfill`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError

from ingestion.providers.registry import TransportMode
from ingestion.services import IngestOptions, replay_recordings


def add_range_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--chain", required=True, help="chain id from chains.yaml, e.g. solana-mainnet")
    parser.add_argument(
        "--from-period",
        type=int,
        required=True,
        help="first period (Solana: an epoch; Ethereum: a window's first epoch, a multiple of its length)",
    )
    parser.add_argument(
        "--to-period",
        type=int,
        required=True,
        help="last period, inclusive (Ethereum: a window's first epoch)",
    )
    parser.add_argument(
        "--validator", action="append", default=[], metavar="KEY", help="only this validator (repeatable)"
    )
    parser.add_argument(
        "--provider",
        action="append",
        default=[],
        metavar="NAME",
        help="only this provider (repeatable); a replay provider (e.g. `replay`) serves recorded responses",
    )
    parser.add_argument(
        "--record",
        action="store_true",
        help="save every live response under the recordings directory for later replay",
    )


def ingest_options(options: dict[str, Any]) -> tuple[list[str], IngestOptions]:
    """Provider filter and transport settings from the parsed arguments."""
    if options["from_period"] > options["to_period"]:
        raise CommandError("--from-period must not be after --to-period")
    providers: list[str] = []
    replay: Path | None = None
    for name in options["provider"]:
        directory = replay_recordings(name)
        if directory is None:
            providers.append(name)
        else:
            replay = directory
    if replay is not None and options["record"]:
        raise CommandError("--record records live responses; it cannot be combined with a replay provider")
    if replay is not None:
        return providers, IngestOptions(mode=TransportMode.REPLAY, recordings=replay)
    if options["record"]:
        return providers, IngestOptions(mode=TransportMode.RECORD)
    return providers, IngestOptions()
