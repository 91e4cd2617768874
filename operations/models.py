"""Background jobs started from the back office: ingest, normalize or recompute a range of periods.

A job records who asked for what, and follows the work as it runs (status, progress, the runs it
produced, the error if it failed). The work itself is done by the services of the layers
(ingestion, canonical, commissions); a job only drives them.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Now

from aurora.common.models import one_of, uuid_primary_key


class JobType(models.TextChoices):
    INGEST_RANGE = "INGEST_RANGE", "Ingest a range"
    NORMALIZE_RANGE = "NORMALIZE_RANGE", "Normalize a range"
    RECOMPUTE_RANGE = "RECOMPUTE_RANGE", "Recompute a range"
    PIPELINE = "PIPELINE", "Pipeline of a period"  # ingest, normalize, recompute (operations.pipeline)


class JobStatus(models.TextChoices):
    PENDING = "PENDING", "Pending"
    RUNNING = "RUNNING", "Running"
    SUCCESS = "SUCCESS", "Success"
    FAILED = "FAILED", "Failed"


ACTIVE_STATUSES = (JobStatus.PENDING, JobStatus.RUNNING)


class Job(models.Model):
    """One request for background work, and how it went."""

    id = uuid_primary_key("job_id")
    job_type = models.CharField(max_length=20, choices=JobType.choices)
    parameters = models.JSONField(default=dict, blank=True, help_text="chain_id, from_period, to_period…")
    status = models.CharField(
        max_length=10, choices=JobStatus.choices, default=JobStatus.PENDING, db_default=JobStatus.PENDING
    )
    progress = models.PositiveSmallIntegerField(default=0, db_default=0, help_text="Percent done, 0-100.")
    progress_message = models.CharField(max_length=255, default="", blank=True)
    result = models.JSONField(null=True, blank=True, help_text="The runs the job produced.")
    error = models.TextField(default="", blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="jobs"
    )
    correlation_id = models.UUIDField(
        default=uuid.uuid4, help_text="The request that queued the job; its audit entries carry it too."
    )
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="When a worker last reported on the job, or it was last sent again."
    )
    recoveries = models.PositiveSmallIntegerField(
        default=0, db_default=0, help_text="Times its worker died while running it and it was sent again."
    )
    resends = models.PositiveSmallIntegerField(
        default=0, db_default=0, help_text="Times it was sent again after waiting with nobody taking it."
    )
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "jobs"
        ordering = ["-created_at"]
        constraints = [
            one_of("job_type", JobType, prefix="jobs"),
            one_of("status", JobStatus, prefix="jobs"),
            models.CheckConstraint(
                condition=Q(progress__gte=0, progress__lte=100), name="jobs_progress_range"
            ),
            models.CheckConstraint(
                condition=Q(finished_at__isnull=True)
                | Q(started_at__isnull=True)
                | Q(finished_at__gte=F("started_at")),
                name="jobs_finished_after_start",
            ),
        ]
        indexes = [
            models.Index(fields=["status"], name="idx_jobs_status"),
            models.Index(fields=["created_at"], name="idx_jobs_created"),
        ]

    def __str__(self) -> str:
        return f"{self.get_job_type_display()} {self.describe_range()} ({self.status})"

    def describe_range(self) -> str:
        params = self.parameters or {}
        first, last = params.get("from_period"), params.get("to_period")
        span = f"{first}" if first == last else f"{first}-{last}"
        return f"{params.get('chain_id', '?')} {span}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def duration(self) -> timedelta | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at
