"""Staging layer: ingestion runs and the raw provider payloads they fetched, kept verbatim."""

from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Now

from aurora.common.dbroles import APPEND_ONLY
from aurora.common.models import TimeStampedModel, non_negative, one_of, uuid_primary_key


class IngestionStatus(models.TextChoices):
    PENDING = "PENDING", "Pending"
    RUNNING = "RUNNING", "Running"
    SUCCESS = "SUCCESS", "Success"
    FAILED = "FAILED", "Failed"
    PARTIAL = "PARTIAL", "Partial"


class DataType(models.TextChoices):
    FEES = "FEES", "Fees"
    MEV = "MEV", "MEV"
    REWARDS = "REWARDS", "Rewards"
    META = "META", "Metadata"


class IngestionRun(TimeStampedModel):
    """One execution of ingestion for a chain (and usually one period)."""

    id = uuid_primary_key("run_id")
    chain = models.ForeignKey("chains.Chain", on_delete=models.CASCADE, related_name="ingestion_runs")
    period = models.ForeignKey(
        "chains.Period", on_delete=models.SET_NULL, null=True, blank=True, related_name="ingestion_runs"
    )
    started_at = models.DateTimeField(auto_now_add=True, db_default=Now())
    completed_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=IngestionStatus.choices, default=IngestionStatus.PENDING)
    error_message = models.TextField(null=True, blank=True)
    records_fetched = models.PositiveIntegerField(default=0, db_default=0)
    records_staged = models.PositiveIntegerField(default=0, db_default=0)
    metadata = models.JSONField(null=True, blank=True)
    items_total = models.PositiveIntegerField(default=0, db_default=0, help_text="Fetch items planned.")
    items_succeeded = models.PositiveIntegerField(default=0, db_default=0)
    items_skipped = models.PositiveIntegerField(
        default=0, db_default=0, help_text="Items already staged by an earlier run."
    )
    items_failed = models.PositiveIntegerField(default=0, db_default=0)
    failures = models.JSONField(
        default=list,
        blank=True,
        help_text="One entry per failed item: validator, provider, data type, error.",
    )

    class Meta:
        db_table = "ingestion_runs"
        ordering = ["-started_at"]
        constraints = [
            one_of("status", IngestionStatus, prefix="ingestion_runs"),
            *non_negative(
                "records_fetched",
                "records_staged",
                "items_total",
                "items_succeeded",
                "items_skipped",
                "items_failed",
                prefix="ingestion_runs",
            ),
            models.CheckConstraint(
                condition=Q(completed_at__isnull=True) | Q(completed_at__gte=F("started_at")),
                name="ingestion_runs_completed_after_start",
            ),
        ]
        indexes = [
            models.Index(fields=["status"], name="idx_ingestion_runs_status"),
            models.Index(fields=["started_at"], name="idx_ingestion_runs_started"),
        ]

    def __str__(self) -> str:
        return f"run {self.id} {self.chain_id} {self.status}"


class StagingPayload(models.Model):
    """A provider response exactly as received, with its SHA-256 for idempotency and verification.

    One row per request: `request_key` tells apart the several requests one (provider, data type,
    validator) may need (an endpoint, a page, a batch). The same response to the same request is
    stored once, whichever run fetched it; a provider that later answers differently adds a row.
    """

    database_privileges = APPEND_ONLY  # a response is evidence: never edited, never deleted

    id = uuid_primary_key("payload_id")
    run = models.ForeignKey(IngestionRun, on_delete=models.CASCADE, related_name="payloads")
    chain = models.ForeignKey("chains.Chain", on_delete=models.CASCADE, related_name="staging_payloads")
    period = models.ForeignKey("chains.Period", on_delete=models.CASCADE, related_name="staging_payloads")
    validator_key = models.CharField(max_length=100)
    provider = models.ForeignKey("chains.Provider", on_delete=models.CASCADE, related_name="staging_payloads")
    provider_version = models.CharField(max_length=50, default="", blank=True)
    data_type = models.CharField(max_length=10, choices=DataType.choices)
    request_key = models.CharField(max_length=200, default="", blank=True)
    request = models.JSONField(
        default=dict, blank=True, help_text="The request that produced the response, without credentials."
    )
    fetch_timestamp = models.DateTimeField(auto_now_add=True, db_default=Now())
    response_hash = models.CharField(max_length=64)
    raw_payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())

    class Meta:
        db_table = "staging_payloads"
        ordering = ["-fetch_timestamp"]
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "chain",
                    "period",
                    "validator_key",
                    "provider",
                    "data_type",
                    "request_key",
                    "response_hash",
                ],
                name="staging_payloads_idempotency",
            ),
            one_of("data_type", DataType, prefix="staging_payloads"),
            models.CheckConstraint(
                condition=Q(response_hash__regex=r"^[0-9a-f]{64}$"), name="staging_payloads_response_hash_hex"
            ),
        ]
        indexes = [
            models.Index(fields=["chain", "period"], name="idx_staging_chain_period"),
            models.Index(fields=["validator_key"], name="idx_staging_validator"),
            models.Index(fields=["data_type"], name="idx_staging_data_type"),
            models.Index(fields=["response_hash"], name="idx_staging_response_hash"),
            # jsonb_path_ops: containment queries (@>) only, at a fraction of the default's size and
            # write cost; staging is written far more often than it is searched.
            GinIndex(fields=["raw_payload"], name="idx_staging_raw_payload", opclasses=["jsonb_path_ops"]),
        ]

    def __str__(self) -> str:
        return f"{self.data_type} {self.validator_key} ({self.response_hash[:12]})"
