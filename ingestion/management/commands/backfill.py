"""`manage.py backfill`: ingest a long range period by period, with a progress bar."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from ingestion.management.commands._ingest_args import add_range_arguments, ingest_options
from ingestion.management.commands.ingest import describe
from ingestion.models import IngestionRun, IngestionStatus
from ingestion.services import IngestionError, ItemOutcome, ingest_plan, ingest_range


class Command(BaseCommand):
    help = "Ingest a long range of periods (resumable: staged items are skipped), showing progress."

    def add_arguments(self, parser: CommandParser) -> None:
        add_range_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        providers, settings = ingest_options(options)
        first, last = options["from_period"], options["to_period"]
        try:
            plan = ingest_plan(
                chain_id=options["chain"], validator_keys=options["validator"], provider_names=providers
            )
        except IngestionError as error:
            raise CommandError(str(error)) from error
        total = len(plan.items()) * (last - first + 1)
        failed: list[IngestionRun] = []
        with tqdm(total=total, unit="item", file=self.stderr, dynamic_ncols=True, mininterval=0.5) as bar:

            def on_item(outcome: ItemOutcome) -> None:
                bar.set_description(f"period {outcome.period}", refresh=False)
                bar.update(1)

            def on_period(run: IngestionRun) -> None:
                if run.status != IngestionStatus.SUCCESS:
                    failed.append(run)
                    bar.write(describe(run))

            settings.on_item, settings.on_period = on_item, on_period
            try:
                runs = ingest_range(
                    chain_id=options["chain"],
                    first=first,
                    last=last,
                    validator_keys=options["validator"],
                    provider_names=providers,
                    options=settings,
                )
            except IngestionError as error:
                raise CommandError(str(error)) from error
        staged = sum(run.records_staged for run in runs)
        self.stdout.write(
            f"{len(runs)} period(s) ingested, {staged} payload(s) staged, {len(failed)} not clean"
        )
        if any(run.status == IngestionStatus.FAILED for run in runs):
            raise CommandError("some periods failed; re-run the same command to retry only what is missing")
