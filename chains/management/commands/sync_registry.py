from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from chains.registry import RegistryError
from chains.services import registry_sync


class Command(BaseCommand):
    help = "Load config/chains.yaml and config/providers.yaml into the database (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--chains", type=Path, default=settings.AURORA_CHAINS_FILE, help="chains file")
        parser.add_argument(
            "--providers", type=Path, default=settings.AURORA_PROVIDERS_FILE, help="providers file"
        )
        parser.add_argument("--dry-run", action="store_true", help="show what would change, write nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = registry_sync(
                chains_file=options["chains"], providers_file=options["providers"], dry_run=options["dry_run"]
            )
        except RegistryError as exc:
            raise CommandError(
                "the registry files are invalid; nothing was changed:\n  " + "\n  ".join(exc.problems)
            ) from None
        except DatabaseError as exc:
            reason = " ".join(str(exc).split("\n", 1)[0].split())
            raise CommandError(
                f"the database refused the registry; nothing was changed ({reason}). "
                "Is it reachable and migrated (manage.py migrate)?"
            ) from None
        prefix = "[dry run] " if options["dry_run"] else ""
        for line in report.lines():
            self.stdout.write(prefix + line)
