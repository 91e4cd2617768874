"""`manage.py ingest`: fetch and stage final periods for the operator's validators."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ingestion.management.commands._ingest_args import add_range_arguments, ingest_options
from ingestion.models import IngestionRun, IngestionStatus
from ingestion.services import IngestionError, ingest_range


def describe(run: IngestionRun) -> str:
    period = run.period.period_identifier if run.period else "-"
    line = (
        f"period {period}: {run.status}  items {run.items_succeeded} staged, "
        f"{run.items_skipped} already staged, {run.items_failed} failed  payloads {run.records_staged}"
    )
    if run.error_message:
        line += f"\n  {run.error_message}"
    return line


class Command(BaseCommand):
    help = "Fetch fees, MEV, rewards and metadata for final periods and keep the raw responses in staging."

    def add_arguments(self, parser: CommandParser) -> None:
        add_range_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        providers, settings = ingest_options(options)
        try:
            runs = ingest_range(
                chain_id=options["chain"],
                first=options["from_period"],
                last=options["to_period"],
                validator_keys=options["validator"],
                provider_names=providers,
                options=settings,
            )
        except IngestionError as error:
            raise CommandError(str(error)) from error
        for run in runs:
            style = self.style.SUCCESS if run.status == IngestionStatus.SUCCESS else self.style.WARNING
            self.stdout.write(style(describe(run)))
        if not runs:
            self.stdout.write(self.style.WARNING("no final period in the range; nothing ingested"))
        if any(run.status == IngestionStatus.FAILED for run in runs):
            raise CommandError("some periods failed; see the runs above (and ingestion runs in the admin)")
