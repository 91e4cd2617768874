"""`manage.py register_validators`: declare the operator's validators (what ingestion fetches)."""

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ingestion.services import IngestionError, register_validators


class Command(BaseCommand):
    help = "Create or update the operator's validators for a chain, from arguments or a JSON file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--chain", required=True)
        parser.add_argument("--key", help="validator key (Solana: vote account)")
        parser.add_argument("--node", help="node identity (Solana: the leader key that earns block fees)")
        parser.add_argument("--name", help="display name")
        parser.add_argument(
            "--file",
            type=Path,
            help='JSON list of {"validator_key", "node_pubkey", "display_name"} objects',
        )

    def handle(self, *args: Any, **options: Any) -> None:
        entries: list[dict[str, Any]] = []
        if options["file"]:
            try:
                loaded = json.loads(options["file"].read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                raise CommandError(f"{options['file']}: {error}") from error
            if not isinstance(loaded, list) or not all(isinstance(entry, dict) for entry in loaded):
                raise CommandError(f"{options['file']}: expected a JSON list of objects")
            entries.extend(loaded)
        if options["key"]:
            entries.append(
                {
                    "validator_key": options["key"],
                    "node_pubkey": options["node"],
                    "display_name": options["name"],
                }
            )
        if not entries:
            raise CommandError("give --key or --file")
        try:
            saved = register_validators(chain_id=options["chain"], validators=entries)
        except IngestionError as error:
            raise CommandError(str(error)) from error
        for identity in saved:
            self.stdout.write(
                f"{identity.chain_id} {identity.validator_key} {identity.display_name or ''}".rstrip()
            )
