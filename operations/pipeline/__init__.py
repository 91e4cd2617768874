"""The pipeline: each newly final period ingested, normalized and recomputed in the background.

Discovery (Celery beat, every few minutes, per active chain) asks the chain's head which periods
are final, compares them with what has been done, and starts a pipeline for each period not done
yet: oldest first, at most `AURORA_PIPELINE_MAX_PERIODS_PER_TICK` per run. A period is done when
its latest ingestion, normalization and computation runs all succeeded; one that failed is taken
up again by the next discovery.

A pipeline is a Job (type PIPELINE, one chain and period), so it shows in the admin and /v1/jobs
with its progress and the run of each stage. Its stages (ingest, normalize, recompute; recompute
also drafts the month's statements) run as a Celery chain, one task per stage:

- one pipeline per (chain, period) at a time: a trigger for a period whose pipeline is queued or
  running returns that job and starts nothing;
- a stage holds a PostgreSQL advisory lock per (chain, period, stage) while it runs, so a second
  delivery of the same stage (a duplicate trigger, a redelivery) does nothing and says so;
- periods are ingested in parallel, but normalized and recomputed one at a time and oldest first
  per chain, as a sequential run would (reconciliation compares a period with the one before it,
  and the periods of a month share their statements);
- stages are idempotent (the layers skip what is already staged, written or unchanged), so a
  stage killed midway and delivered again (acks_late, reject_on_worker_lost) ends with exactly
  the rows of an uninterrupted run; a pipeline whose whole worker died is sent again from the
  interrupted stage by operations.recovery, within a minute, instead of waiting hours for Redis;
- provider errors during ingestion raise `ProviderOutage` (a ProviderError), which the ingest task
  retries with exponential backoff; after the last retry the job fails.

Where the data comes from: the chain's mapped providers ("live"), or a replay provider (the
recorded responses, for the demo); the chain's `pipeline_provider` parameter, else the
`AURORA_PIPELINE_PROVIDER` setting, decides. When replaying, the head is the recorded one (the
period provider's recorded `head` answers) and only recorded periods are candidates.

The package, by concern: `common` (the stages, outcomes and errors; where the data comes from),
`trigger` (the job of a period and the Celery chain of its stages), `discovery` (which periods to
run), `runner` (running one stage: locks, ordering, the job's bookkeeping), `stages` (the stage
functions) and `statements` (the monthly statements check, the reconciliation summary).
"""

from __future__ import annotations

from operations.pipeline.common import (
    BUSY,
    BUSY_GRACE_SECONDS,
    EXPECTED_ERRORS,
    INGEST,
    LIVE,
    MISSING,
    NORMALIZE,
    ORDER_WAIT_RETRIES,
    ORDER_WAIT_SECONDS,
    ORDERED_STAGES,
    RECOMPUTE,
    RETRYING,
    SKIPPED,
    STAGES,
    PipelineError,
    ProviderOutage,
    StageNotReady,
    ingest_options,
    pipeline_provider,
)
from operations.pipeline.discovery import (
    Discovery,
    active_chain_ids,
    candidate_periods,
    discover,
    done_periods,
)
from operations.pipeline.runner import (
    StageOutcome,
    patient_lock,
    run_stage,
    serial_lock,
    stage_lock,
    stage_states,
)
from operations.pipeline.stages import CANONICAL, STAGE_RUNNERS
from operations.pipeline.statements import (
    draft_statements,
    month_periods,
    previous_month,
    reconciliation_summary,
)
from operations.pipeline.trigger import Trigger, active_pipeline, dispatch, pipeline_trigger

__all__ = [
    "BUSY",
    "BUSY_GRACE_SECONDS",
    "CANONICAL",
    "EXPECTED_ERRORS",
    "INGEST",
    "LIVE",
    "MISSING",
    "NORMALIZE",
    "ORDERED_STAGES",
    "ORDER_WAIT_RETRIES",
    "ORDER_WAIT_SECONDS",
    "RECOMPUTE",
    "RETRYING",
    "SKIPPED",
    "STAGES",
    "STAGE_RUNNERS",
    "Discovery",
    "PipelineError",
    "ProviderOutage",
    "StageNotReady",
    "StageOutcome",
    "Trigger",
    "active_chain_ids",
    "active_pipeline",
    "candidate_periods",
    "discover",
    "dispatch",
    "done_periods",
    "draft_statements",
    "ingest_options",
    "month_periods",
    "patient_lock",
    "pipeline_provider",
    "pipeline_trigger",
    "previous_month",
    "reconciliation_summary",
    "run_stage",
    "serial_lock",
    "stage_lock",
    "stage_states",
]
