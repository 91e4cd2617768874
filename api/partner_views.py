"""Partners, their clients, commission lines and statements. Staff with view_commissions read any
partner in their scope; a partner user reads its own partner only (another partner's id answers
404), and exactly what the portal shows it. Thin: `api.partner_selectors` reads, serializers shape,
the envelope renderer wraps (a statement export is CSV, unwrapped; its errors are envelopes)."""

from __future__ import annotations

from typing import Any

import django_filters  # type: ignore[import-untyped,unused-ignore]
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.access import Capability
from api import partner_selectors as selectors
from api.base import ApiView, CachedAnswerMixin, ListApiView
from api.envelope import EnvelopeRenderer, RawJson
from api.filters import StrictBooleanFilter, StrictChoiceFilter
from api.line_rows import line_page
from api.partner_serializers import (
    CommissionLineSerializer,
    PartnerClientSerializer,
    PartnerSerializer,
    StatementSerializer,
)
from api.ranges import period_range
from api.selectors import chain_for
from api.views import RANGE_PARAMETERS
from commissions.models import CommissionLine, RevenueComponent, StatementStatus
from commissions.services.statement_documents import statement_filename
from commissions.services.statement_downloads import statement_download
from commissions.services.statements import statement_export
from partners.models import ClientKind, Partner, PartnerClient
from serving.answers import conditional, etag_of

PARTNER_READERS = (Capability.VIEW_COMMISSIONS, Capability.VIEW_OWN_PARTNER)
EXPORTERS = (Capability.EXPORT_STATEMENTS, Capability.VIEW_OWN_PARTNER)

MONTH_PARAMETER = OpenApiParameter(
    "month",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="The statement's calendar month, YYYY-MM (e.g. 2025-09).",
    pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$",
)

UNIT_EXAMPLE = {"chain_id": "solana-mainnet", "native_unit": "lamport", "native_decimals": 9, "symbol": "SOL"}
LINE_EXAMPLE: dict[str, Any] = {
    "line_id": "6f1c1b8e-7f0b-4c55-9a9e-2d4c0c6f5a10",
    "chain_id": "solana-mainnet",
    "period_identifier": "850",
    "period_start": "2025-09-02T10:00:00Z",
    "period_end": "2025-09-04T10:00:00Z",
    "agreement_id": "0d5e8e36-0a0c-4f43-8f0e-3c1f7a1f6b21",
    "agreement_name": "Northwind MEV share",
    "agreement_version": 2,
    "rule_order": 1,
    "validator_key": None,
    "revenue_component": "MEV_TIPS",
    "attribution_method": "FIXED_SHARE",
    "base_amount_native": "800000000",
    "commission_rate_bps": 500,
    "pre_override_amount_native": "40000000",
    "override_amount_native": None,
    "final_amount_native": "40000000",
    "override_reason": None,
    "statement_id": "a3c0f6a4-27a1-4a4e-9bb9-5f7f0d1f9e02",
    "statement_month": "2025-09",
    "statement_status": "RELEASED",
    "adjusts_month": None,
}


def _partner_view(user: Any) -> bool:
    return selectors.acts_as_partner(user)


# ---- partners -----------------------------------------------------------------------------------


class PartnerFilter(django_filters.FilterSet):  # type: ignore[misc]
    name = django_filters.CharFilter(
        field_name="partner_name", lookup_expr="icontains", max_length=200, help_text="Part of the name."
    )
    has_active_agreement = StrictBooleanFilter(
        field_name="has_active_agreement", help_text="Has an ACTIVE agreement that has not ended."
    )
    is_active = StrictBooleanFilter(field_name="is_active")

    class Meta:
        model = Partner
        fields: list[str] = []


@extend_schema(
    tags=["partners"],
    summary="List the partners",
    examples=[
        OpenApiExample(
            "A partner",
            value={
                "partner_id": "5b0e7c3a-1f6d-4f0e-9a77-0c9a1d2b3c4d",
                "partner_name": "Northwind Staking",
                "legal_entity_name": "Northwind Staking Ltd",
                "contact_name": "Alex Example",
                "contact_email": "ops@northwind.example",
                "is_active": True,
                "portal_shows_open_amounts": False,
                "has_active_agreement": True,
                "created_at": "2025-01-10T09:00:00Z",
            },
            response_only=True,
        )
    ],
)
class PartnerListView(ListApiView):
    """The partners the caller may read, by name: every partner for staff with view_commissions,
    the caller's own partner for a partner user."""

    serializer_class = PartnerSerializer
    filterset_class = PartnerFilter
    queryset = Partner.objects.none()
    read_capabilities = PARTNER_READERS

    def rows(self) -> QuerySet[Partner]:
        return selectors.partners(self.request.user)


class PartnerClientFilter(django_filters.FilterSet):  # type: ignore[misc]
    chain_id = django_filters.CharFilter(field_name="chain_id", max_length=100, help_text="A chain id.")
    kind = StrictChoiceFilter(field_name="kind", choices=ClientKind.choices)

    class Meta:
        model = PartnerClient
        fields: list[str] = []


@extend_schema(
    tags=["partners"],
    summary="A partner's introduced addresses",
    examples=[
        OpenApiExample(
            "A withdraw authority",
            value={
                "client_id": "9e3a1c55-8d2e-4c3b-a1f0-6b7c8d9e0f12",
                "chain_id": "solana-mainnet",
                "address": "AuthNorthwind1111111111111111111111111111111",
                "kind": "WITHDRAW_AUTHORITY",
                "effective_from": "2025-01-01T00:00:00Z",
                "effective_until": None,
            },
            response_only=True,
        )
    ],
)
class PartnerClientListView(ListApiView):
    """The addresses the partner introduced (stake accounts or withdraw authorities), with the
    dates they count for it, within the caller's chains."""

    serializer_class = PartnerClientSerializer
    filterset_class = PartnerClientFilter
    queryset = PartnerClient.objects.none()
    read_capabilities = PARTNER_READERS

    def rows(self) -> QuerySet[PartnerClient]:
        partner = selectors.partner_for(self.request.user, self.kwargs["partner_id"])
        return selectors.clients(self.request.user, partner)


# ---- commission lines ---------------------------------------------------------------------------


class CommissionLineFilter(django_filters.FilterSet):  # type: ignore[misc]
    component = StrictChoiceFilter(
        field_name="revenue_component", choices=RevenueComponent.choices, help_text="The revenue component."
    )
    validator_key = django_filters.CharFilter(
        field_name="validator_key", max_length=100, help_text="Lines of this validator."
    )
    statement_status = StrictChoiceFilter(
        field_name="statement__status",
        choices=StatementStatus.choices,
        help_text="Lines on statements with this status.",
    )

    class Meta:
        model = CommissionLine
        fields: list[str] = []


@extend_schema(
    tags=["commissions"],
    summary="A partner's commission lines on a chain",
    parameters=RANGE_PARAMETERS,
    examples=[
        OpenApiExample(
            "One line",
            value={
                **LINE_EXAMPLE,
                "breakdown": {
                    "method": "FIXED_SHARE",
                    "component": "MEV_TIPS",
                    "validators": [{"validator": "Vote1111", "base": "800000000"}],
                },
                "computed_at": "2025-09-04T11:00:00Z",
                "unit": UNIT_EXAMPLE,
            },
            response_only=True,
        )
    ],
)
class PartnerCommissionListView(CachedAnswerMixin, ListApiView):
    """One line per agreement rule and period, oldest period first, with the basis it was computed
    on. Staff see every line within their chains and validators, override reasons included; a
    partner user sees its own lines as the portal shows them (lines of released statements, or
    also provisional ones if the partner sees open amounts) and never an override reason."""

    serializer_class = CommissionLineSerializer
    filterset_class = CommissionLineFilter
    queryset = CommissionLine.objects.none()
    read_capabilities = PARTNER_READERS

    def rows(self) -> QuerySet[CommissionLine]:
        user = self.request.user
        partner = selectors.partner_for(user, self.kwargs["partner_id"])
        self.chain = chain_for(user, self.kwargs["chain_id"])
        lines = selectors.commission_lines(user, partner, self.chain)
        return lines.filter(period_range(self.request, self.chain).q("period__"))

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "partner_view": _partner_view(self.request.user)}

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """As the serializer would answer, written by PostgreSQL (api.line_rows)."""
        lines = self.filter_queryset(self.get_queryset())
        partner_view = _partner_view(request.user)

        def fetch(limit: int, offset: int) -> tuple[int, RawJson]:
            page = line_page(lines, chain=self.chain, partner_view=partner_view, limit=limit, offset=offset)
            return page.total, RawJson(page.documents)

        paginator: Any = self.paginator
        return paginator.answer(request, fetch)  # type: ignore[no-any-return]


# ---- statements ---------------------------------------------------------------------------------


@extend_schema(
    tags=["statements"],
    summary="A partner's monthly statement on a chain",
    parameters=[MONTH_PARAMETER],
    responses=StatementSerializer,
    examples=[
        OpenApiExample(
            "Released",
            value={
                "statement_id": "a3c0f6a4-27a1-4a4e-9bb9-5f7f0d1f9e02",
                "partner_id": "5b0e7c3a-1f6d-4f0e-9a77-0c9a1d2b3c4d",
                "partner_name": "Northwind Staking",
                "chain_id": "solana-mainnet",
                "month": "2025-09",
                "status": "RELEASED",
                "amounts_visible": True,
                "provisional": False,
                "total_commission_native": "40000000",
                "line_count": 1,
                "submitted_at": "2025-10-01T09:00:00Z",
                "first_approved_at": "2025-10-01T10:00:00Z",
                "approved_at": "2025-10-01T11:00:00Z",
                "released_at": "2025-10-02T09:00:00Z",
                "paid_at": None,
                "lines": [{**LINE_EXAMPLE, "computed_at": "2025-09-04T11:00:00Z", "unit": UNIT_EXAMPLE}],
                "adjustments": [],
                "totals": {"lines_total": "40000000", "adjustments_total": "0", "total": "40000000"},
                "unit": UNIT_EXAMPLE,
            },
            response_only=True,
        ),
        OpenApiExample(
            "In preparation, as a partner sees it",
            value={
                "statement_id": "b7d1e2f3-0a4b-4c5d-8e6f-7a8b9c0d1e2f",
                "partner_id": "5b0e7c3a-1f6d-4f0e-9a77-0c9a1d2b3c4d",
                "partner_name": "Northwind Staking",
                "chain_id": "solana-mainnet",
                "month": "2025-10",
                "status": "DRAFT",
                "amounts_visible": False,
                "provisional": True,
                "total_commission_native": None,
                "line_count": None,
                "submitted_at": None,
                "first_approved_at": None,
                "approved_at": None,
                "released_at": None,
                "paid_at": None,
                "lines": [],
                "adjustments": [],
                "totals": {"lines_total": None, "adjustments_total": None, "total": None},
                "unit": UNIT_EXAMPLE,
            },
            response_only=True,
        ),
    ],
)
class PartnerStatementView(CachedAnswerMixin, ApiView):
    """The partner's statement for one month on the chain: its status and workflow dates, its
    regular lines and its adjustments (lines correcting earlier months, with `adjusts_month`), and
    totals computed from the lines shown. A partner user sees the amounts of a statement not yet
    released only if the partner sees open amounts; otherwise `amounts_visible` is false, the
    amounts are null and the lists empty, as in the portal."""

    read_capabilities = PARTNER_READERS

    def get(self, request: Request, chain_id: str, partner_id: Any, month: str) -> Response:
        selectors.check_month(month)
        partner = selectors.partner_for(request.user, partner_id)
        chain = chain_for(request.user, chain_id)
        statement = selectors.statement_for(request.user, partner, chain, month)
        view = selectors.statement_view(request.user, statement)
        context = {"request": request, "partner_view": view.partner_view}
        return Response(StatementSerializer(view, context=context).data)


class CsvRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        return data if isinstance(data, bytes) else str(data).encode(self.charset)


@extend_schema(
    tags=["statements"],
    summary="Download a statement as CSV",
    parameters=[MONTH_PARAMETER],
    responses={
        (200, "text/csv"): OpenApiResponse(
            OpenApiTypes.STR,
            description="The statement as a CSV attachment (not wrapped in the envelope). Staff get one "
            "row per line with override details; a partner gets the lines as its portal download.",
        )
    },
)
class PartnerStatementExportView(ApiView):
    """The statement as a CSV file; every download is recorded in the audit log. Staff need
    export_statements and a scope covering every line of the statement (else 403). A partner user
    downloads its own statement once released or paid (before that: 404), the same file as in the
    portal. Errors are JSON envelopes like everywhere else."""

    read_capabilities = EXPORTERS
    renderer_classes = [CsvRenderer]

    def get(self, request: Request, chain_id: str, partner_id: Any, month: str) -> Response:
        user: Any = request.user
        selectors.check_month(month)
        partner = selectors.partner_for(user, partner_id)
        chain = chain_for(user, chain_id)
        statement = selectors.exportable_statement(user, partner, chain, month)
        headers = {}
        if selectors.acts_as_partner(user):
            document = statement_download(statement=statement, actor=user, export_format="csv", channel="api")
            content, filename = document.content, document.filename
            if document.sha256:  # the bytes frozen at release
                headers["X-Content-SHA256"] = document.sha256
        else:
            content = statement_export(statement=statement, actor=user).encode()
            filename = statement_filename(statement, "csv")
        headers["Content-Disposition"] = f'attachment; filename="{filename}"'
        headers["ETag"] = etag_of(content)
        # 304 when the client holds these bytes (the download is still recorded in the audit log).
        return conditional(request, Response(content, headers=headers), headers["ETag"])  # type: ignore[return-value]

    def handle_exception(self, exc: Exception) -> Response:
        """Errors are answered in the JSON envelope, whatever was negotiated for the file."""
        response = super().handle_exception(exc)
        self.request.accepted_renderer = EnvelopeRenderer()
        self.request.accepted_media_type = EnvelopeRenderer.media_type
        return response
