"""`manage.py check_integrity`: canonical completeness, un-normalized staging, commission lines
without sources, statement totals. Exit status 1 on findings."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from operations.integrity import IntegrityError, check_integrity, render_report


class Command(BaseCommand):
    help = (
        "Check that the stored data is whole: canonical rows for every final ingested period and "
        "active validator (or a recorded reason), staged payloads that were normalized, commission "
        "lines with their agreement version, rule and period, statement totals equal to their lines. "
        "Prints findings grouped by kind; exit status 1 if there are any."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--chain",
            action="append",
            default=[],
            help="only this chain (repeatable); default: completeness on active chains, the rest on all",
        )
        parser.add_argument(
            "--hide-explained", action="store_true", help="do not list the gaps that have a recorded reason"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = check_integrity(chain_ids=options["chain"])
        except IntegrityError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(render_report(report, show_explained=not options["hide_explained"]))
        if not report.clean:
            kinds = ", ".join(f"{len(found)} {kind}" for kind, found in report.by_kind().items())
            raise CommandError(f"{len(report.findings)} finding(s): {kinds}")
        self.stdout.write(self.style.SUCCESS("no findings"))
