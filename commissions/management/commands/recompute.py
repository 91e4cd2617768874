"""`manage.py recompute`: validator P&L, commission lines and draft statements of final periods."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from commissions.models import ComputationRun, ComputationStatus
from commissions.services.recompute import RecomputeError, recompute_range
from commissions.tasks import recompute_range_on_workers


def describe(run: ComputationRun) -> str:
    if run.inputs_unchanged:
        return (
            f"period {run.period.period_identifier}: {run.status}  inputs unchanged since the last run: "
            f"nothing recomputed  {run.duration_seconds} s  fingerprint {run.fingerprint[:16]}"
        )
    line = (
        f"period {run.period.period_identifier}: {run.status}  P&L {run.pnl_written} written, "
        f"{run.pnl_unchanged} unchanged  lines {run.lines_inserted} new, {run.lines_updated} updated, "
        f"{run.lines_unchanged} unchanged, {run.lines_removed} removed  "
        f"adjustments {run.adjustments_written}  "
        f"{run.duration_seconds} s  fingerprint {run.fingerprint[:16]}"
    )
    if run.overrides_flagged:
        line += f"\n  {run.overrides_flagged} overridden line(s) changed underneath: review them"
    if run.error_message:
        line += f"\n  {run.error_message}"
    return line


class Command(BaseCommand):
    help = "Recompute validator P&L and partner commission lines (and draft statements) for final periods."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--chain", required=True, help="chain id from chains.yaml, e.g. solana-mainnet")
        parser.add_argument("--from-period", type=int, required=True, help="first period (Solana: epoch)")
        parser.add_argument("--to-period", type=int, required=True, help="last period, inclusive")
        parser.add_argument(
            "--on-workers",
            action="store_true",
            help="one Celery task per period, run in parallel by the workers (they must be running); "
            "the same results as the serial run here",
        )
        parser.add_argument(
            "--timeout", type=float, default=None, help="with --on-workers: seconds to wait for the workers"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["from_period"] > options["to_period"]:
            raise CommandError("--from-period must not be after --to-period")
        try:
            chosen: dict[str, Any] = {
                "chain_id": options["chain"],
                "first": options["from_period"],
                "last": options["to_period"],
                "triggered_by": "manage.py recompute",
            }
            if options["on_workers"]:
                runs = recompute_range_on_workers(**chosen, timeout=options["timeout"])
            else:
                runs = recompute_range(**chosen)
        except RecomputeError as error:
            raise CommandError(str(error)) from error
        for run in runs:
            style = self.style.SUCCESS if run.status == ComputationStatus.SUCCESS else self.style.WARNING
            self.stdout.write(style(describe(run)))
        if any(run.status == ComputationStatus.FAILED for run in runs):
            raise CommandError("some periods failed; see the runs above (and computation runs in the admin)")
