"""`manage.py normalize`: staged payloads of final periods into canonical rows, with a report."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from canonical.models import NormalizationRun, NormalizationStatus
from canonical.services import NormalizationError, normalize_range, shortfall


def describe(run: NormalizationRun) -> str:
    line = (
        f"period {run.period.period_identifier}: {run.status}  rows {run.rows_inserted} written, "
        f"{run.rows_superseded} superseded, {run.rows_unchanged} unchanged  "
        f"validators {run.validators_total - run.validators_unchanged} normalized, "
        f"{run.validators_unchanged} unchanged  payloads read {run.payloads_read}  {run.duration_seconds} s"
    )
    report = getattr(run, "report", None)
    if report is not None:
        line += f"\n  reconciliation: {report.summary}"
    if run.error_message:
        line += f"\n  {run.error_message}"
    return line


class Command(BaseCommand):
    help = (
        "Normalize staged payloads of final periods into the canonical tables and reconcile them. "
        "Exits 1, naming each period and why, when a period is not normalized in full: FAILED, or "
        "PARTIAL (its input ingestion was PARTIAL or FAILED, or staged data was unusable)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--chain", required=True, help="chain id from chains.yaml, e.g. solana-mainnet")
        parser.add_argument("--from-period", type=int, required=True, help="first period (Solana: epoch)")
        parser.add_argument("--to-period", type=int, required=True, help="last period, inclusive")
        parser.add_argument(
            "--validator", action="append", default=[], metavar="KEY", help="only this validator (repeatable)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["from_period"] > options["to_period"]:
            raise CommandError("--from-period must not be after --to-period")
        try:
            runs = normalize_range(
                chain_id=options["chain"],
                first=options["from_period"],
                last=options["to_period"],
                validator_keys=options["validator"],
                triggered_by="manage.py normalize",
            )
        except NormalizationError as error:
            raise CommandError(str(error)) from error
        for run in runs:
            style = self.style.SUCCESS if run.status == NormalizationStatus.SUCCESS else self.style.WARNING
            self.stdout.write(style(describe(run)))
        unfinished = [run for run in runs if run.status != NormalizationStatus.SUCCESS]
        if unfinished:
            raise CommandError(
                "some periods were not normalized in full (see the normalization runs in the admin):\n  "
                + "\n  ".join(
                    f"period {run.period.period_identifier}: {run.status}: {shortfall(run)}"
                    for run in unfinished
                )
            )
