"""Chains, periods and validator P&L. Thin: selectors read, serializers shape, the envelope
renderer wraps."""

from __future__ import annotations

from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.access import Capability
from api import selectors
from api.base import ApiView, CachedAnswerMixin, ListApiView
from api.ranges import MAX_PARAM_LENGTH, period_range
from api.serializers import ChainSummarySerializer, PeriodSerializer, ValidatorPnlSerializer
from chains.models import Chain, Period
from commissions.models import ValidatorPnl

RANGE_PARAMETER_SCHEMA = {"type": "string", "maxLength": MAX_PARAM_LENGTH}
RANGE_PARAMETERS = [
    OpenApiParameter(
        "from",
        RANGE_PARAMETER_SCHEMA,
        description="First period: a period identifier of the chain (e.g. 850) or a date (YYYY-MM-DD). "
        "A period the chain does not have, or an impossible date, is a 400.",
    ),
    OpenApiParameter(
        "to",
        RANGE_PARAMETER_SCHEMA,
        description="Last period: a period identifier or a date (YYYY-MM-DD), not before `from`.",
    ),
]


@extend_schema(
    tags=["chains"],
    summary="List the chains",
    examples=[
        OpenApiExample(
            "Solana",
            value={
                "chain_id": "solana-mainnet",
                "name": "Solana Mainnet Beta",
                "period_type": "EPOCH",
                "native_unit": "lamport",
                "native_decimals": 9,
                "symbol": "SOL",
                "finality_lag": 1,
                "is_active": True,
                "latest_final_period": "853",
            },
            response_only=True,
        )
    ],
)
class ChainListView(ListApiView):
    """The chains the caller may see, with their units and latest final period."""

    serializer_class = ChainSummarySerializer
    queryset = Chain.objects.none()
    read_capabilities = (Capability.VIEW_OPERATIONS, Capability.VIEW_COMMISSIONS, Capability.VIEW_OWN_PARTNER)

    def rows(self) -> QuerySet[Chain]:
        latest = Period.objects.filter(chain=OuterRef("pk"), is_finalized=True).order_by("-period_end")
        return selectors.chains_for(self.request.user).annotate(
            latest_final_period=Subquery(latest.values("period_identifier")[:1])
        )


@extend_schema(tags=["chains"], summary="List a chain's final periods", parameters=RANGE_PARAMETERS)
class PeriodListView(ListApiView):
    """The chain's final periods, oldest first."""

    serializer_class = PeriodSerializer
    queryset = Period.objects.none()  # for the schema; get_queryset answers requests
    read_capabilities = ChainListView.read_capabilities

    def rows(self) -> QuerySet[Period]:
        chain = selectors.chain_for(self.request.user, self.kwargs["chain_id"])
        return selectors.periods_of(self.request.user, chain).filter(period_range(self.request, chain).q())


@extend_schema(
    tags=["validators"],
    summary="A validator's P&L per period",
    description="Every revenue component per final period, in base units. Staff within their chain and "
    "validator scope.",
    parameters=RANGE_PARAMETERS,
)
class ValidatorPnlView(CachedAnswerMixin, ListApiView):
    """One row per final period with the validator's revenue by component."""

    serializer_class = ValidatorPnlSerializer
    queryset = ValidatorPnl.objects.none()
    read_capabilities = (Capability.VIEW_OPERATIONS,)

    def rows(self) -> QuerySet[Any]:
        chain = selectors.chain_for(self.request.user, self.kwargs["chain_id"])
        rows = selectors.validator_pnl(self.request.user, chain, self.kwargs["validator_key"])
        return rows.filter(period_range(self.request, chain).q("period__"))


class NotFoundView(ApiView):
    """Any other path under /v1/: a 404 in the envelope, not an HTML page."""

    permission_classes = ()
    authentication_classes = ()
    schema = None

    def dispatch_404(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        raise NotFound("No such endpoint.")

    get = post = put = patch = delete = dispatch_404
    options = trace = dispatch_404  # type: ignore[assignment]  # not DRF's metadata answer
