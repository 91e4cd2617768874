"""Celery tasks of the serving app."""

from __future__ import annotations

from celery import shared_task

from serving.versions import compact_changes


@shared_task(name="serving.tasks.compact_read_model_changes")  # type: ignore[untyped-decorator]
def compact_read_model_changes() -> int:
    """Keeps the data version a one-row read (beat: hourly)."""
    return compact_changes()
