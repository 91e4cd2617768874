"""Validators parsed in a pool of processes: each process reads a validator's staged payloads on
its own connection, parses them with the same adapter code and compares them with the current
rows, and hands back the prepared writes (plain data: `canonical.normalization.history.TableWrite`) with the
findings. The period's writer, in the calling process, applies them in validator order, in the
period's one transaction; so the rows, findings and reports are those of a run in one process.

Processes are started fresh (`spawn`: no connection or lock of the caller is inherited) once per
normalization and set up Django and the plan themselves. The work they read is committed and
immutable (staged payloads, the current canonical rows as of the run's start), which is why a
run inside a caller's transaction parses in place instead.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from django.db import connection

# A process of the pool unpickles its first call before Django is set up: nothing here may import
# models at the module level (they are imported by the functions, or for type checking only).
if TYPE_CHECKING:
    from canonical.models import ReconciliationFinding
    from canonical.normalization.context import WriteCounts
    from canonical.normalization.inputs import Inputs


@dataclass
class Prepared:
    """One validator's outcome: what the writer must run, what reconciliation saw, and the counts."""

    validator_key: str
    findings: list[ReconciliationFinding]
    failures: list[dict[str, str]]
    payloads_read: int
    counts: WriteCounts
    jobs: list[Callable[[], Any]] = field(default_factory=list)  # empty when written in place
    timings: dict[str, float] = field(default_factory=dict)


# Set in each process of the pool by `_start`.
_process: dict[str, Any] = {}

# How many validators are handed out ahead of the one being written, per process: enough to keep
# every process busy, few enough to bound the memory of prepared writes.
AHEAD_PER_PROCESS = 2


def _start(prepare: str, database: str, chain_id: str, validator_keys: Sequence[str]) -> None:
    import django
    from django.conf import settings
    from django.utils.module_loading import import_string

    django.setup()
    settings.DATABASES["default"]["NAME"] = database  # the caller's (a test database, say)
    from aurora.common.dbscope import SYSTEM, set_database_scope
    from canonical.normalization.plan import normalization_plan

    set_database_scope(role=SYSTEM)
    plan = normalization_plan(chain_id=chain_id, validator_keys=validator_keys)
    identities = {v.validator_key: v for v in plan.validators}
    _process.update(prepare=import_string(prepare), plan=plan, identities=identities)


def _prepare(period_id: UUID, now: datetime, validator_key: str, inputs: Inputs) -> Prepared:
    from canonical.normalization.context import RunContext
    from canonical.normalization.inputs import load_payloads, period_info
    from canonical.writing import Jobs
    from chains.models import Period

    period = _process.get(str(period_id))
    if period is None:
        period = _process[str(period_id)] = Period.objects.select_related("chain").get(pk=period_id)
    jobs = Jobs()
    ctx = RunContext(
        plan=_process["plan"], period=period, info=period_info(period), run=None, now=now, writer=jobs
    )
    with ctx.timed("load"):
        loaded = load_payloads(inputs)
    prepared: Prepared = _process["prepare"](ctx, _process["identities"][validator_key], inputs, loaded)
    prepared.jobs = list(jobs)
    prepared.timings = dict(ctx.timings)
    return prepared


class ParsingPool:
    """`processes` processes preparing validators of one chain (see the module doc)."""

    def __init__(
        self,
        prepare: Callable[..., Prepared],
        *,  # a module-level function: the processes import it by name
        chain_id: str,
        validator_keys: Sequence[str],
        processes: int,
    ) -> None:
        self.processes = processes
        self.executor = ProcessPoolExecutor(
            processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start,
            initargs=(
                f"{prepare.__module__}.{prepare.__qualname__}",
                connection.settings_dict["NAME"],
                chain_id,
                list(validator_keys),
            ),
        )

    def prepared(
        self, period_id: UUID, now: datetime, todo: Iterable[tuple[str, Inputs]]
    ) -> Iterator[Prepared]:
        """The validators' outcomes in the order of `todo`, prepared ahead by the processes."""
        pending: deque[Future[Prepared]] = deque()
        work = iter(todo)
        ahead = self.processes * AHEAD_PER_PROCESS
        for key, inputs in work:
            pending.append(self.executor.submit(_prepare, period_id, now, key, inputs))
            if len(pending) >= ahead:
                break
        while pending:
            result = pending.popleft().result()
            following = next(work, None)
            if following is not None:
                pending.append(self.executor.submit(_prepare, period_id, now, *following))
            yield result

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
