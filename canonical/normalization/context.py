"""The state of one normalization run while it works through the validators of a period."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from canonical.models import NormalizationRun, ReconciliationFinding
from canonical.normalization.plan import NormalizationPlan
from canonical.writing import Jobs, PeriodWriter
from chains.models import Period
from ingestion.providers.base import PeriodInfo


@dataclass
class RunContext:
    """Reads happen here (on the caller's connection); writes go to `writer`, in order."""

    plan: NormalizationPlan
    period: Period
    info: PeriodInfo
    run: NormalizationRun | None  # None in a parsing process (canonical.normalization.processes)
    now: datetime
    writer: PeriodWriter | Jobs
    findings: list[ReconciliationFinding] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def finding(self, **values: Any) -> ReconciliationFinding:
        return ReconciliationFinding(chain_id=self.plan.chain.pk, period=self.period, **values)

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[phase] += time.perf_counter() - started


@dataclass
class WriteCounts:
    inserted: int = 0
    superseded: int = 0
    unchanged: int = 0

    def add(self, other: WriteCounts) -> None:
        self.inserted += other.inserted
        self.superseded += other.superseded
        self.unchanged += other.unchanged
