"""What the job and ingestion health endpoints send and accept."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.fields import StrictCharField
from operations.models import Job
from operations.selectors import IngestionHealthStatus

# ---- jobs ---------------------------------------------------------------------------------------


MAX_PERIOD_NUMBER = 2**63 - 1
MAX_PERIOD_DIGITS = 18  # every such string is within MAX_PERIOD_NUMBER


@extend_schema_field(
    {
        "oneOf": [
            {"type": "integer", "minimum": 0, "maximum": MAX_PERIOD_NUMBER},
            {"type": "string", "pattern": rf"^[0-9]{{1,{MAX_PERIOD_DIGITS}}}$"},
        ],
        "description": "A period identifier: a whole number (a Solana epoch, e.g. 850).",
        "example": 850,
    }
)
class PeriodNumberField(serializers.Field):  # type: ignore[type-arg]
    default_error_messages = {"invalid": "A period identifier: a whole number such as 850."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool):
            self.fail("invalid")
        if isinstance(data, int):
            number = data
        elif isinstance(data, str) and data.isascii() and data.isdigit() and len(data) <= MAX_PERIOD_DIGITS:
            number = int(data)
        else:
            self.fail("invalid")
        if not 0 <= number <= MAX_PERIOD_NUMBER:
            self.fail("invalid")
        return number

    def to_representation(self, value: Any) -> int:
        return int(value)


class RecomputeSerializer(serializers.Serializer):  # type: ignore[type-arg]
    chain_id = StrictCharField(max_length=50)
    from_period = PeriodNumberField()
    to_period = PeriodNumberField()


class JobSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    job_id = serializers.UUIDField(source="pk")
    requested_by = serializers.CharField(source="requested_by.username", allow_null=True, default=None)
    parameters = serializers.JSONField()
    result = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = [
            "job_id",
            "job_type",
            "parameters",
            "status",
            "progress",
            "progress_message",
            "result",
            "error",
            "requested_by",
            "correlation_id",
            "created_at",
            "started_at",
            "finished_at",
        ]

    @extend_schema_field(
        {
            "type": "object",
            "nullable": True,
            "additionalProperties": True,
            "description": "Once the job ended: the runs it produced and their counts by status.",
        }
    )
    def get_result(self, job: Job) -> Any:
        return job.result


# ---- ingestion health ---------------------------------------------------------------------------


class ChainIngestionHealthSerializer(serializers.Serializer):  # type: ignore[type-arg]
    chain_id = serializers.CharField()
    name = serializers.CharField()
    expected_period = serializers.CharField(allow_null=True, help_text="The latest final period.")
    latest_ingested = serializers.CharField(allow_null=True)
    lag_periods = serializers.IntegerField(
        allow_null=True, help_text="Final periods after the latest ingested one; null: nothing ingested."
    )
    last_success = serializers.DateTimeField(allow_null=True)
    last_failure = serializers.DateTimeField(allow_null=True, help_text="The last FAILED or PARTIAL run.")
    status = serializers.ChoiceField(choices=[s.value for s in IngestionHealthStatus])
    reason = serializers.CharField()


class IngestionHealthSerializer(serializers.Serializer):  # type: ignore[type-arg]
    status = serializers.CharField(help_text="HEALTHY, DEGRADED or UNHEALTHY: the worst of the chains'.")
    chains = ChainIngestionHealthSerializer(many=True)
