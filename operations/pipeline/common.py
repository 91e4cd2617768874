"""What the pipeline's modules share: the stages and outcomes, the errors, and where the data
comes from (live providers or a replay provider)."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings

from canonical.services import NormalizationError
from chains.models import Chain
from commissions.services.recompute import RecomputeError
from ingestion.models import IngestionRun
from ingestion.providers.errors import ProviderError
from ingestion.providers.registry import TransportMode
from ingestion.services import IngestionError, IngestOptions, replay_recordings
from operations import recovery

INGEST, NORMALIZE, RECOMPUTE = "ingest", "normalize", "recompute"
STAGES: tuple[str, ...] = (INGEST, NORMALIZE, RECOMPUTE)
# Periods of a chain pass these one at a time, oldest first (reconciliation compares a period with
# the one before); ingestion and recompute run in parallel (recomputes settle the statements they
# share one at a time, commissions.services.line_book.statements_lock). A stage waiting for an
# earlier period is tried again every second, for at most about half an hour.
ORDERED_STAGES = frozenset({NORMALIZE})
ORDER_WAIT_SECONDS = 1
ORDER_WAIT_RETRIES = 1800
# How long a stage tries for its lock before concluding that another delivery runs it.
BUSY_GRACE_SECONDS = 1.0
LIVE = "live"

# Stage outcomes (besides the runs' own SUCCESS / FAILED).
BUSY = "BUSY"  # the stage of that period is running elsewhere: this delivery did nothing
SKIPPED = "SKIPPED"  # the stage was already done for this job
MISSING = "MISSING"  # no such pipeline job
RETRYING = recovery.RETRYING  # a stage waiting to retry its providers


class PipelineError(Exception):
    """The pipeline cannot be run as asked; the message says why."""


class StageNotReady(Exception):
    """The stage waits for an earlier period of the chain to pass it first (the task retries soon)."""


class ProviderOutage(ProviderError):
    """A period's ingestion ended PARTIAL or FAILED because providers failed: worth another try."""

    retryable = True
    kind = "outage"

    def __init__(self, *, provider: str, endpoint: str, reason: str, run: IngestionRun | None = None) -> None:
        super().__init__(provider=provider, endpoint=endpoint, reason=reason)
        self.run = run

    @classmethod
    def of(cls, run: IngestionRun) -> ProviderOutage:
        """From the run's first recorded failure (it names the provider and endpoint)."""
        first = run.failures[0] if run.failures else {}
        return cls(
            provider=str(first.get("provider") or "providers"),
            endpoint=str(first.get("endpoint") or "-"),
            reason=f"ingestion run {run.pk} ended {run.status}: {run.error_message}"[:1000],
            run=run,
        )


EXPECTED_ERRORS: tuple[type[Exception], ...] = (
    PipelineError,
    IngestionError,
    NormalizationError,
    RecomputeError,
)


# ---- where the data comes from ------------------------------------------------------------------


def pipeline_provider(chain: Chain) -> str:
    """ "live" or the name of a replay provider: the chain's `pipeline_provider` parameter, else the
    AURORA_PIPELINE_PROVIDER setting."""
    parameters = chain.parameters or {}
    value = parameters.get("pipeline_provider")
    if value is None:
        value = settings.AURORA_PIPELINE_PROVIDER
    return str(value or LIVE).strip() or LIVE


def ingest_options(provider: str) -> IngestOptions:
    if provider == LIVE:
        return IngestOptions()
    recordings = replay_recordings(provider)
    if recordings is None:
        raise PipelineError(
            f"no replay provider named {provider!r} is registered (providers.yaml, adapter: replay); "
            "use 'live' or sync the registry"
        )
    return IngestOptions(mode=TransportMode.REPLAY, recordings=recordings)


def _chain(chain_id: str) -> Chain:
    chain = Chain.objects.filter(pk=chain_id).first()
    if chain is None:
        raise PipelineError(f"unknown chain {chain_id!r}; sync the registry first")
    if not chain.is_active:
        raise PipelineError(f"chain {chain.pk} is not active")
    return chain


def _stages(stages: Iterable[str]) -> tuple[str, ...]:
    wanted = {str(stage).strip().lower() for stage in stages}
    unknown = sorted(wanted - set(STAGES))
    if unknown:
        raise PipelineError(f"unknown stages: {', '.join(unknown)} (stages: {', '.join(STAGES)})")
    if not wanted:
        raise PipelineError("no stage to run")
    return tuple(stage for stage in STAGES if stage in wanted)
