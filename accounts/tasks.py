"""Celery tasks of the accounts app (scheduled by operations' beat migrations)."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from accounts.checkpoints import CheckpointError, take_checkpoint

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)  # type: ignore[untyped-decorator]
def audit_checkpoint_task() -> dict[str, Any]:
    """Append the audit chain's head, signed, to the checkpoint file (unless it has not moved).
    A broken chain is refused and logged as an error: the last good checkpoint stays the anchor."""
    try:
        checkpoint, written = take_checkpoint()
    except CheckpointError as error:
        logger.error("audit checkpoint refused: %s", error)
        return {"written": False, "error": str(error)}
    return {"written": written, "sequence": checkpoint.sequence, "error": ""}
