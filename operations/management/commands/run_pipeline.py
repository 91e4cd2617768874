"""`manage.py run_pipeline`: queue the pipeline (ingest, normalize, recompute) of periods for the
Celery workers, and with --wait follow it period by period and stage by stage until it ends."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any
from uuid import UUID

from django.core.management.base import BaseCommand, CommandError, CommandParser

from operations import pipeline
from operations.models import ACTIVE_STATUSES, Job, JobStatus
from operations.recovery import jobs_recover

NO_WORKER_HINT_AFTER = 15.0  # seconds without any stage starting
RECOVERY_SWEEP_EVERY = 5.0  # seconds: a pipeline whose worker died is sent again while we wait


class Command(BaseCommand):
    help = (
        "Queue the pipeline (ingest, normalize, recompute; recompute drafts the statements) of a range "
        "of periods, or of the newly final ones (discovery), for the Celery workers; --wait follows it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--chain", required=True, help="chain id from chains.yaml, e.g. solana-mainnet")
        parser.add_argument("--from-period", type=int, help="first period (Solana: epoch)")
        parser.add_argument(
            "--to-period", type=int, help="last period, inclusive; without a range: the newly final ones"
        )
        parser.add_argument(
            "--provider",
            help="live, or a replay provider (e.g. replay: the recorded responses); default: the chain's "
            "pipeline_provider parameter, else AURORA_PIPELINE_PROVIDER",
        )
        parser.add_argument(
            "--stages",
            default=",".join(pipeline.STAGES),
            help=f"comma-separated, run in this order: {', '.join(pipeline.STAGES)} (default: all)",
        )
        parser.add_argument("--wait", action="store_true", help="follow the pipelines until they end")
        parser.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait (default 3600)")
        parser.add_argument("--poll", type=float, default=0.5, help="seconds between checks while waiting")

    def handle(self, *args: Any, **options: Any) -> None:
        first, last = options["from_period"], options["to_period"]
        if (first is None) != (last is None):
            raise CommandError("give both --from-period and --to-period, or neither (newly final periods)")
        stages = [stage for stage in options["stages"].split(",") if stage.strip()]
        try:
            if first is None:
                jobs = self._discover(options["chain"], options["provider"], stages)
            else:
                if first > last:
                    raise CommandError("--from-period must not be after --to-period")
                jobs = self._trigger(options["chain"], first, last, options["provider"], stages)
        except pipeline.PipelineError as error:
            raise CommandError(str(error)) from error
        if not jobs:
            self.stdout.write("nothing to do")
            return
        if not options["wait"]:
            self.stdout.write(
                "queued; follow the jobs in the admin (Operations > Jobs) or at /v1/jobs/<job id>, "
                "or run again with --wait"
            )
            return
        self._wait(jobs, timeout=options["timeout"], poll=options["poll"])

    def _trigger(
        self, chain_id: str, first: int, last: int, provider: str | None, stages: list[str]
    ) -> list[UUID]:
        jobs = []
        for period in range(first, last + 1):
            trigger = pipeline.pipeline_trigger(
                chain_id=chain_id, period=period, provider=provider, stages=stages
            )
            self.stdout.write(trigger.describe())
            jobs.append(trigger.job.pk)
        return jobs

    def _discover(self, chain_id: str, provider: str | None, stages: list[str]) -> list[UUID]:
        if set(stages) != set(pipeline.STAGES):
            raise CommandError("--stages needs a range (--from-period, --to-period)")
        found = pipeline.discover(chain_id, provider=provider)
        self.stdout.write(found.describe())
        if found.error:
            raise CommandError(found.error)
        periods = sorted(found.started + found.running)
        active = [pipeline.active_pipeline(found.chain_id, period) for period in periods]
        return [job.pk for job in active if job is not None]

    # ---- following ------------------------------------------------------------------------------

    def _wait(self, job_ids: list[UUID], *, timeout: float, poll: float) -> None:
        started = time.monotonic()
        shown: dict[tuple[UUID, str], tuple[Any, ...]] = {}
        ended: set[UUID] = set()
        waiting: dict[UUID, str] = {}
        hinted = False
        swept = started
        while True:
            if time.monotonic() - swept > RECOVERY_SWEEP_EVERY:
                swept = time.monotonic()
                recovered = jobs_recover()
                if recovered:
                    self.stdout.write(
                        self.style.WARNING(
                            f"a worker stopped: sent again {len(recovered.resent)} job(s), "
                            f"gave up on {len(recovered.failed)}"
                        )
                    )
            jobs = sorted(Job.objects.filter(pk__in=job_ids), key=lambda job: job.parameters["from_period"])
            for job in jobs:
                self._show_stages(job, shown)
                if "waits for" in job.progress_message and waiting.get(job.pk) != job.progress_message:
                    waiting[job.pk] = job.progress_message
                    self.stdout.write(job.progress_message)
                if job.status not in ACTIVE_STATUSES and job.pk not in ended:
                    ended.add(job.pk)
                    self._show_end(job)
            if len(ended) == len(job_ids):
                break
            elapsed = time.monotonic() - started
            idle = not any(pipeline.stage_states(job) for job in jobs)
            if not hinted and idle and elapsed > NO_WORKER_HINT_AFTER:
                hinted = True
                self.stdout.write(
                    self.style.WARNING(
                        "no stage has started yet: is a Celery worker running? (celery -A aurora worker)"
                    )
                )
            if elapsed > timeout:
                raise CommandError(f"gave up waiting after {timeout:.0f} s; the jobs go on in the background")
            time.sleep(poll)
        failed = [job for job in jobs if job.status != JobStatus.SUCCESS]
        took = time.monotonic() - started
        if failed:
            detail = "; ".join(f"period {job.parameters['from_period']}: {job.error}" for job in failed)
            raise CommandError(f"{len(failed)} of {len(jobs)} pipelines failed ({took:.1f} s): {detail}")
        self.stdout.write(self.style.SUCCESS(f"{len(jobs)} pipelines done in {took:.1f} s"))

    def _show_stages(self, job: Job, shown: dict[tuple[UUID, str], tuple[Any, ...]]) -> None:
        states = pipeline.stage_states(job)
        for stage in job.parameters["stages"]:
            state = states.get(stage)
            if state is None:
                continue
            key = (state["status"], state.get("attempts"), state.get("run_id"))
            if shown.get((job.pk, stage)) == key:
                continue
            shown[(job.pk, stage)] = key
            status = state["status"]
            line = f"period {job.parameters['from_period']}  {stage:<9}  {status:<8}"
            if state.get("attempts", 1) > 1:
                line += f"  attempt {state['attempts']}"
            if state.get("detail"):
                line += f"  {state['detail']}"
            if state.get("error"):
                line += f"  {state['error']}"
            if state.get("run_id") and status != JobStatus.RUNNING:
                line += f"  (run {str(state['run_id'])[:8]}{_took(state)})"
            style = {
                JobStatus.SUCCESS: self.style.SUCCESS,
                JobStatus.FAILED: self.style.ERROR,
                pipeline.RETRYING: self.style.WARNING,
            }.get(status, str)
            self.stdout.write(style(line.rstrip()))

    def _show_end(self, job: Job) -> None:
        period = job.parameters["from_period"]
        took = f" in {job.duration.total_seconds():.1f} s" if job.duration is not None else ""
        if job.status == JobStatus.SUCCESS:
            self.stdout.write(self.style.SUCCESS(f"period {period}: pipeline done{took} (job {job.pk})"))
        else:
            self.stdout.write(self.style.ERROR(f"period {period}: pipeline failed{took}: {job.error}"))


def _took(state: dict[str, Any]) -> str:
    """ ", 1.2 s" from the stage's start to its last update, when both are known."""
    try:
        started = datetime.fromisoformat(state["started_at"])
        ended = datetime.fromisoformat(state["updated_at"])
    except (KeyError, TypeError, ValueError):
        return ""
    return f", {(ended - started).total_seconds():.1f} s"
