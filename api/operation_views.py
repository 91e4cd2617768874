"""Operations: queue a recompute, follow a job, and ingestion health per chain. The jobs are the
back office's (operations.services): checked, recorded and audited there, run by the workers."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.access import Capability, scoped
from api.agreement_selectors import job_for
from api.base import ApiView
from api.envelope import ConflictError
from api.operation_serializers import IngestionHealthSerializer, JobSerializer, RecomputeSerializer
from chains.models import Chain
from operations.models import JobType
from operations.selectors import ingestion_health
from operations.services import JobError, job_enqueue

CONFLICT = OpenApiResponse(
    response={"$ref": "#/components/schemas/ErrorEnvelope"},
    description="A job over an overlapping range is already queued or running (`error.code` is `conflict`).",
)
JOB_EXAMPLE = OpenApiExample(
    "A queued recompute",
    value={
        "job_id": "2d1c0b9a-8f7e-4d6c-b5a4-3e2f1d0c9b80",
        "job_type": "RECOMPUTE_RANGE",
        "parameters": {"chain_id": "solana-mainnet", "from_period": 850, "to_period": 853},
        "status": "PENDING",
        "progress": 0,
        "progress_message": "",
        "result": None,
        "error": "",
        "requested_by": "finance.jane",
        "correlation_id": "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d",
        "created_at": "2025-09-20T11:00:00Z",
        "started_at": None,
        "finished_at": None,
    },
    response_only=True,
)

# The start of a refusal by job_enqueue -> (the request field it is about, whether it is a conflict).
JOB_REFUSALS: list[tuple[str, str, bool]] = [
    ("chain_id", "chain_id", False),
    ("unknown chain", "chain_id", False),
    ("chain ", "chain_id", False),
    ("from_period", "from_period", False),
    ("to_period", "to_period", False),
    ("from period", "to_period", False),
]


def job_refusal(error: JobError) -> ValidationError:
    message = str(error)
    if message.endswith("wait for it to finish"):
        return ConflictError({"non_field_errors": [message]})
    for start, field, _ in JOB_REFUSALS:
        if message.startswith(start):
            return ValidationError({field: [message]})
    return ValidationError({"non_field_errors": [message]})


@extend_schema(
    tags=["operations"],
    summary="Recompute P&L and commissions over a range",
    description="Queues a job that recomputes validator P&L and commission lines for each final period "
    "of the range, one period at a time; follow it at `/v1/jobs/{job_id}` (also in the `Location` "
    "header). A job already queued or running over an overlapping range of the chain: 409.",
    request=RecomputeSerializer,
    responses={202: JobSerializer, 409: CONFLICT},
    parameters=[
        OpenApiParameter(
            "Location",
            OpenApiTypes.STR,
            OpenApiParameter.HEADER,
            response=[202],
            description="The job's URL.",
        )
    ],
    examples=[
        OpenApiExample(
            "Epochs 850 to 853",
            value={"chain_id": "solana-mainnet", "from_period": 850, "to_period": 853},
            request_only=True,
        ),
        JOB_EXAMPLE,
    ],
)
class RecomputeView(ApiView):
    """Queue a recompute of a chain's periods."""

    read_capabilities = (Capability.RECOMPUTE,)
    write_capability = Capability.RECOMPUTE

    def post(self, request: Request) -> Response:
        serializer = RecomputeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        chain_id = data["chain_id"].strip()
        if not scoped(Chain.objects.filter(pk=chain_id), request.user).exists():
            raise ValidationError({"chain_id": [f"No chain {chain_id!r}."]})
        parameters: dict[str, Any] = {
            "chain_id": chain_id,
            "from_period": data["from_period"],
            "to_period": data["to_period"],
        }
        try:
            job = job_enqueue(job_type=JobType.RECOMPUTE_RANGE, parameters=parameters, actor=request.user)  # type: ignore[arg-type]
        except JobError as error:
            raise job_refusal(error) from None
        return Response(
            JobSerializer(job_for(request.user, job.pk)).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": f"/v1/jobs/{job.pk}"},
        )


@extend_schema(
    tags=["operations"],
    summary="A job",
    description="A background job: its parameters, status, progress (percent), and once it ended its "
    "result (the runs it produced) or error.",
    responses={200: JobSerializer},
    examples=[JOB_EXAMPLE],
)
class JobView(ApiView):
    """Follow a queued job."""

    read_capabilities = (Capability.VIEW_OPERATIONS, Capability.RECOMPUTE)

    def get(self, request: Request, job_id: UUID) -> Response:
        return Response(JobSerializer(job_for(request.user, job_id)).data)


@extend_schema(
    tags=["operations"],
    summary="Ingestion health and lag",
    description="Per active chain: the latest final period, the latest ingested one, how many final "
    "periods lie beyond it, and when ingestion last succeeded and failed. HEALTHY: at most 1 period "
    "behind and no failure since the last success; DEGRADED: 2 to 5 behind, or the last run failed; "
    "UNHEALTHY: more than 5 behind, or nothing ingested.",
    responses={200: IngestionHealthSerializer},
    examples=[
        OpenApiExample(
            "One chain behind",
            value={
                "status": "DEGRADED",
                "chains": [
                    {
                        "chain_id": "solana-mainnet",
                        "name": "Solana Mainnet Beta",
                        "expected_period": "853",
                        "latest_ingested": "850",
                        "lag_periods": 3,
                        "last_success": "2025-09-20T10:00:00Z",
                        "last_failure": None,
                        "status": "DEGRADED",
                        "reason": "3 final periods not ingested",
                    }
                ],
            },
            response_only=True,
        )
    ],
)
class IngestionHealthView(ApiView):
    """How far behind ingestion is on each chain."""

    read_capabilities = (Capability.VIEW_OPERATIONS,)

    def get(self, request: Request) -> Response:
        return Response(IngestionHealthSerializer(ingestion_health(request.user)).data)
