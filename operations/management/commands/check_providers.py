"""`manage.py check_providers`: can every provider of the active chains be reached now?"""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from operations.providers_check import (
    DEFAULT_TIMEOUT_SECONDS,
    ProviderCheckError,
    check_providers,
    render_table,
)


class Command(BaseCommand):
    help = (
        "Make one cheap call to every provider mapped to the active chains (through the adapters' "
        "HTTP client) and print latency and errors; exit status 1 if any cannot be used."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--chain",
            action="append",
            default=[],
            help="only this chain (repeatable); default: every active chain",
        )
        parser.add_argument(
            "--timeout",
            type=float,
            default=DEFAULT_TIMEOUT_SECONDS,
            help=f"seconds per call, capped by the provider's timeout (default {DEFAULT_TIMEOUT_SECONDS:g})",
        )
        parser.add_argument(
            "--attempts",
            type=int,
            default=1,
            help="attempts per provider, with the usual backoff (default 1)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            results = check_providers(
                chain_ids=options["chain"], timeout=options["timeout"], attempts=options["attempts"]
            )
        except ProviderCheckError as error:
            raise CommandError(str(error)) from error
        if not results:
            self.stdout.write("no provider is mapped to the chosen chains")
            return
        self.stdout.write(render_table(results))
        failed = [result for result in results if not result.usable]
        if failed:
            names = ", ".join(f"{r.provider} ({r.chain_id})" for r in failed)
            raise CommandError(f"{len(failed)} of {len(results)} provider(s) cannot be used: {names}")
        self.stdout.write(self.style.SUCCESS(f"all {len(results)} provider(s) usable"))
