"""Agreements (terms, versions, status) and line overrides. Thin: the commission services validate,
write and audit; a refusal comes back as a 400 naming the field, or a 409 when it is the current
state that stands in the way (terms changed since they were read, a frozen statement)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db.models import Exists, OuterRef, QuerySet
from django_filters import rest_framework as filters  # type: ignore[import-untyped,unused-ignore]
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import status
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.access import Capability, scoped
from api.agreement_selectors import (
    agreement_for,
    agreements_for,
    current_rules_outside_scope,
    current_version,
    lines_for,
    overridden_lines,
    partner_for_new_agreement,
    versions_of,
)
from api.agreement_serializers import (
    AgreementCreateSerializer,
    AgreementSerializer,
    AgreementStatusSerializer,
    AgreementUpdateSerializer,
    OverrideClearSerializer,
    OverrideCreateSerializer,
    OverrideLineSerializer,
    VersionSerializer,
    rule_specs,
)
from api.base import ApiView, ListApiView
from api.envelope import ConflictError
from api.filters import StrictBooleanFilter, StrictChoiceFilter, StrictUUIDFilter
from commissions.models import (
    Agreement,
    AgreementRule,
    AgreementStatus,
    AgreementVersion,
    CommissionLine,
)
from commissions.services.agreements import (
    AgreementError,
    agreement_create,
    agreement_set_status,
    agreement_update_terms,
    terms_token,
    version_in_use,
)
from commissions.services.statements import StatementError, line_override, line_override_clear

COMMISSION_READERS = (Capability.VIEW_COMMISSIONS,)
CONFLICT = OpenApiResponse(
    response={"$ref": "#/components/schemas/ErrorEnvelope"},
    description="Refused by the current state (`error.code` is `conflict`; `error.details` names the field).",
)


# ---- refusals from the services -----------------------------------------------------------------

# The start of a service's refusal -> (the request field it is about, whether it is a conflict with
# the current state rather than bad input).
AGREEMENT_REFUSALS: list[tuple[str, str, bool]] = [
    ("an agreement needs a name", "agreement_name", False),
    ("the agreement must end after it starts", "effective_until", False),
    ("say why the terms change", "change_reason", False),
    ("a terminated agreement's terms cannot change", "status", True),
    ("the terms changed since you opened them", "based_on", True),
    ("the new terms must start within", "effective_from", False),
    ("the new version would overlap", "effective_from", False),
    ("unknown status", "status", False),
    ("an agreement cannot go from", "status", True),
    ("say why the status changes", "reason", False),
    ("the change cannot take effect before", "effective_at", False),
]
OVERRIDE_REFUSALS: list[tuple[str, str, bool]] = [
    ("the line moved to another statement", "line_id", True),
    ("the line's statement is", "line_id", True),
    ("an adjustment line", "line_id", False),
    ("the override", "amount_native", False),
    ("an override needs a reason", "reason", False),
    ("say why the override is removed", "reason", False),
    ("the line has no override", "line_id", True),
]


def refusal(error: Exception, table: list[tuple[str, str, bool]], default_field: str) -> ValidationError:
    """The service's refusal as a 400 (or 409) naming the field it is about."""
    message = str(error)
    for start, field, conflict in table:
        if message.startswith(start):
            return (ConflictError if conflict else ValidationError)({field: [message]})
    return ValidationError({default_field: [message]})


def _require_current_terms_in_scope(user: Any, agreement: Agreement) -> None:
    """A user limited to some chains or validators changes only agreements wholly within them."""
    problems = current_rules_outside_scope(user, agreement)
    if problems:
        raise PermissionDenied(f"The agreement has terms outside your scope: {'; '.join(problems)}.")


def _agreement_data(request: Request, agreement_id: UUID) -> dict[str, Any]:
    return dict(
        AgreementSerializer(agreement_for(request.user, agreement_id), context={"request": request}).data
    )


# ---- examples -----------------------------------------------------------------------------------

UNIT_EXAMPLE = {"chain_id": "solana-mainnet", "native_unit": "lamport", "native_decimals": 9, "symbol": "SOL"}
RULE_EXAMPLE = {
    "rule_order": 1,
    "chain_id": "solana-mainnet",
    "validator_key": None,
    "revenue_component": "MEV_TIPS",
    "attribution_method": "CLIENT_REVENUE",
    "commission_rate_bps": 500,
    "floor_amount_native": None,
    "cap_amount_native": "5000000000",
    "tier_config": None,
}
AGREEMENT_EXAMPLE = OpenApiExample(
    "An active agreement",
    value={
        "agreement_id": "5b6f0c1e-8a57-4c1e-9a7e-0d3c2b1a4f00",
        "partner_id": "0f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a00",
        "partner_name": "Northwind Staking",
        "agreement_name": "MEV share 2025",
        "status": "ACTIVE",
        "current_version": 2,
        "effective_from": "2025-01-01T00:00:00Z",
        "effective_until": None,
        "rules": [
            {
                **RULE_EXAMPLE,
                "is_active": True,
                "unit": {
                    "chain_id": "solana-mainnet",
                    "native_unit": "lamport",
                    "native_decimals": 9,
                    "symbol": "SOL",
                },
            }
        ],
        "terms_token": "3f9a1c0b7d2e4a6f8b10",
        "created_at": "2024-12-20T10:00:00Z",
        "updated_at": "2025-03-01T09:30:00Z",
    },
    response_only=True,
)


# ---- agreements ---------------------------------------------------------------------------------


class AgreementFilter(filters.FilterSet):  # type: ignore[misc]
    partner_id = StrictUUIDFilter(field_name="partner_id", help_text="Agreements of this partner.")
    status = StrictChoiceFilter(choices=AgreementStatus.choices, help_text="Agreements in this status.")
    chain_id = filters.CharFilter(
        method="on_chain",
        max_length=50,
        help_text="Agreements whose current terms have a rule on this chain.",
    )

    class Meta:
        model = Agreement
        fields = ["partner_id", "status", "chain_id"]

    def on_chain(self, queryset: QuerySet[Agreement], name: str, value: str) -> QuerySet[Agreement]:
        rules = AgreementRule.objects.filter(
            agreement=OuterRef("pk"), version_number=OuterRef("current_version"), chain_id=value
        )
        return queryset.filter(Exists(rules))


@extend_schema_view(
    get=extend_schema(
        tags=["agreements"],
        summary="List agreements",
        description="Agreements with their current terms, by partner and name. A user limited to some "
        "chains or validators sees the agreements with a rule within them, and those rules only.",
        examples=[AGREEMENT_EXAMPLE],
    ),
    post=extend_schema(
        tags=["agreements"],
        summary="Create an agreement (a draft)",
        description="A DRAFT agreement with its version 1. Activate it with the status endpoint.",
        request=AgreementCreateSerializer,
        responses={201: AgreementSerializer},
        examples=[
            OpenApiExample(
                "A new agreement",
                value={
                    "partner_id": "0f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a00",
                    "agreement_name": "MEV share 2025",
                    "effective_from": "2025-01-01T00:00:00Z",
                    "effective_until": None,
                    "rules": [RULE_EXAMPLE],
                    "reason": "signed 2024-12-18",
                },
                request_only=True,
            ),
            AGREEMENT_EXAMPLE,
        ],
    ),
)
class AgreementListView(ListApiView):
    """Partner agreements: list them, or create one as a draft."""

    serializer_class = AgreementSerializer
    queryset = Agreement.objects.none()
    filterset_class = AgreementFilter
    read_capabilities = COMMISSION_READERS
    write_capability = Capability.EDIT_AGREEMENTS

    def rows(self) -> QuerySet[Agreement]:
        return agreements_for(self.request.user)

    def post(self, request: Request) -> Response:
        serializer = AgreementCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        partner = partner_for_new_agreement(request.user, data["partner_id"])
        if partner is None:
            raise ValidationError({"partner_id": [f"No active partner {data['partner_id']}."]})
        try:
            agreement = agreement_create(
                partner=partner,
                name=data["agreement_name"],
                effective_from=data["effective_from"],
                effective_until=data.get("effective_until"),
                rules=rule_specs(data["rules"]),
                actor=request.user,  # type: ignore[arg-type]
                reason=data.get("reason", ""),
            )
        except AgreementError as error:
            raise refusal(error, AGREEMENT_REFUSALS, "rules") from None
        return Response(
            _agreement_data(request, agreement.pk),
            status=status.HTTP_201_CREATED,
            headers={"Location": f"/v1/agreements/{agreement.pk}"},
        )


@extend_schema_view(
    get=extend_schema(
        tags=["agreements"],
        summary="An agreement",
        description="The agreement with its current terms and their `terms_token`.",
        responses={200: AgreementSerializer},
        examples=[AGREEMENT_EXAMPLE],
    ),
    put=extend_schema(
        tags=["agreements"],
        summary="Change an agreement's terms",
        description="New terms. A draft not yet used is edited in place; otherwise the terms become a new "
        "version from `effective_from` and the previous version ends there (a version any line used "
        "never changes). `based_on` is the `terms_token` read with the agreement: if the terms changed "
        "since, the change is refused with 409 rather than undoing the other change.",
        request=AgreementUpdateSerializer,
        responses={200: AgreementSerializer, 409: CONFLICT},
        examples=[
            OpenApiExample(
                "New terms from April",
                value={
                    "rules": [{**RULE_EXAMPLE, "commission_rate_bps": 600}],
                    "effective_from": "2025-04-01T00:00:00Z",
                    "change_reason": "rate raised to 6 % from April",
                    "based_on": "3f9a1c0b7d2e4a6f8b10",
                },
                request_only=True,
            ),
            AGREEMENT_EXAMPLE,
        ],
    ),
)
class AgreementDetailView(ApiView):
    """One agreement: read it, or change its terms."""

    read_capabilities = COMMISSION_READERS
    write_capability = Capability.EDIT_AGREEMENTS

    def get(self, request: Request, agreement_id: UUID) -> Response:
        return Response(_agreement_data(request, agreement_id))

    def put(self, request: Request, agreement_id: UUID) -> Response:
        agreement = agreement_for(request.user, agreement_id)
        serializer = AgreementUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        _require_current_terms_in_scope(request.user, agreement)
        version = current_version(agreement)
        if version is None:
            raise ConflictError({"based_on": ["The agreement has no terms version to change."]})
        if data["based_on"] != terms_token(version):
            raise ConflictError(
                {
                    "based_on": [
                        f"The terms changed since they were read (now version {version.version_number}, "
                        f"{version.change_reason!r}): read the agreement again and send its terms_token."
                    ]
                }
            )
        effective_from = data.get("effective_from")
        if effective_from is None:
            if agreement.status != AgreementStatus.DRAFT or version_in_use(agreement, version.version_number):
                raise ValidationError(
                    {
                        "effective_from": [
                            "Required: the agreement is in use, so its new terms are a new version."
                        ]
                    }
                )
            effective_from = version.effective_from
        try:
            agreement_update_terms(
                agreement_id=agreement.pk,
                rules=rule_specs(data["rules"]),
                effective_from=effective_from,
                change_reason=data["change_reason"],
                actor=request.user,  # type: ignore[arg-type]
                based_on=data["based_on"],
            )
        except AgreementError as error:
            raise refusal(error, AGREEMENT_REFUSALS, "rules") from None
        return Response(_agreement_data(request, agreement.pk))


@extend_schema(
    tags=["agreements"],
    summary="An agreement's versions",
    description="Every version of the terms, newest first, as saved (a user limited to some chains or "
    "validators sees the rules within them).",
)
class AgreementVersionListView(ListApiView):
    """The versions of an agreement's terms, newest first."""

    serializer_class = VersionSerializer
    queryset = AgreementVersion.objects.none()
    read_capabilities = COMMISSION_READERS

    def rows(self) -> QuerySet[AgreementVersion]:
        return versions_of(agreement_for(self.request.user, self.kwargs["agreement_id"]))


@extend_schema(
    tags=["agreements"],
    summary="Change an agreement's status",
    description="DRAFT → ACTIVE ⇄ SUSPENDED → TERMINATED. The change is kept on the agreement's timeline "
    "from `effective_at` (default: the agreement's start for an activation, else now); a change the "
    "current status does not allow is refused with 409.",
    request=AgreementStatusSerializer,
    responses={200: AgreementSerializer, 409: CONFLICT},
    examples=[
        OpenApiExample(
            "Activate",
            value={"status": "ACTIVE", "reason": "contract signed", "effective_at": None},
            request_only=True,
        ),
        AGREEMENT_EXAMPLE,
    ],
)
class AgreementStatusView(ApiView):
    """Move an agreement to another status, with a reason."""

    read_capabilities = COMMISSION_READERS
    write_capability = Capability.EDIT_AGREEMENTS

    def post(self, request: Request, agreement_id: UUID) -> Response:
        agreement = agreement_for(request.user, agreement_id)
        serializer = AgreementStatusSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        _require_current_terms_in_scope(request.user, agreement)
        try:
            agreement_set_status(
                agreement_id=agreement.pk,
                status=data["status"],
                actor=request.user,  # type: ignore[arg-type]
                reason=data["reason"],
                effective_at=data.get("effective_at"),
            )
        except AgreementError as error:
            raise refusal(error, AGREEMENT_REFUSALS, "status") from None
        return Response(_agreement_data(request, agreement.pk))


# ---- overrides ----------------------------------------------------------------------------------

OVERRIDE_EXAMPLE = OpenApiExample(
    "An overridden line",
    value={
        "line_id": "7c0e6a52-1f3b-4d2a-9e8f-6b5a4c3d2e10",
        "agreement_id": "5b6f0c1e-8a57-4c1e-9a7e-0d3c2b1a4f00",
        "agreement_name": "MEV share 2025",
        "agreement_version": 2,
        "rule_order": 1,
        "partner_id": "0f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a00",
        "partner_name": "Northwind Staking",
        "chain_id": "solana-mainnet",
        "period_identifier": "850",
        "period_end": "2025-09-14T08:00:00Z",
        "validator_key": None,
        "revenue_component": "MEV_TIPS",
        "attribution_method": "CLIENT_REVENUE",
        "base_amount_native": "800000000",
        "commission_rate_bps": 500,
        "pre_override_amount_native": "40000000",
        "override_amount_native": "35000000",
        "final_amount_native": "35000000",
        "override_reason": "client left mid-epoch",
        "override_user": "finance.jane",
        "override_timestamp": "2025-09-20T11:02:00Z",
        "override_needs_review": False,
        "statement_id": None,
        "statement_status": None,
        "statement_month": None,
        "unit": {
            "chain_id": "solana-mainnet",
            "native_unit": "lamport",
            "native_decimals": 9,
            "symbol": "SOL",
        },
    },
    response_only=True,
)


class OverrideFilter(filters.FilterSet):  # type: ignore[misc]
    chain_id = filters.CharFilter(field_name="chain_id", max_length=50, help_text="Lines on this chain.")
    partner_id = StrictUUIDFilter(field_name="partner_id", help_text="Lines of this partner.")
    needs_review = StrictBooleanFilter(
        field_name="override_needs_review",
        help_text="true: overrides whose computed amount changed since they were set.",
    )

    class Meta:
        model = CommissionLine
        fields = ["chain_id", "partner_id", "needs_review"]


def _line_to_override(user: Any, data: dict[str, Any]) -> CommissionLine:
    """The line named by `line_id`, or by agreement and period (and chain, rule order)."""
    lines = lines_for(user)
    if data.get("line_id") is not None:
        line = lines.filter(pk=data["line_id"]).first()
        if line is None:
            raise ValidationError({"line_id": [f"No commission line {data['line_id']}."]})
        return line
    agreement_id, period = data["agreement_id"], data["period_id"].strip()
    if not scoped(Agreement.objects.filter(pk=agreement_id), user).exists():
        raise ValidationError({"agreement_id": [f"No agreement {agreement_id}."]})
    candidates = lines.filter(
        agreement_id=agreement_id, period__period_identifier=period, adjusts_statement__isnull=True
    )
    if data.get("chain_id"):
        candidates = candidates.filter(chain_id=data["chain_id"].strip())
    if data.get("rule_order") is not None:
        candidates = candidates.filter(rule_order=data["rule_order"])
    found = list(candidates.order_by("chain_id", "rule_order")[:50])
    if not found:
        raise ValidationError({"period_id": [f"The agreement has no line for period {period!r} (as named)."]})
    if len(found) > 1:
        chains = sorted({line.chain_id for line in found})
        if len(chains) > 1:
            raise ValidationError(
                {"chain_id": [f"Lines on several chains: name one of {', '.join(chains)}."]}
            )
        orders = ", ".join(str(line.rule_order) for line in found)
        raise ValidationError(
            {"rule_order": [f"Several rules paid in this period: name one of {orders}, or send line_id."]}
        )
    return found[0]


@extend_schema_view(
    get=extend_schema(
        tags=["overrides"],
        summary="List overridden lines",
        description="Commission lines carrying an override, the latest first.",
        examples=[OVERRIDE_EXAMPLE],
    ),
    post=extend_schema(
        tags=["overrides"],
        summary="Override a commission line",
        description="Pay `amount_native` (whole base units) instead of the computed amount, with a reason. "
        "Name the line by `line_id`, or by `agreement_id` and `period_id` (adding `chain_id` and "
        "`rule_order` when several lines match). A recompute keeps the override (and flags it for "
        "review if the computed amount changes). Lines of an approved, released or paid statement are "
        "frozen: 409.",
        request=OverrideCreateSerializer,
        responses={201: OverrideLineSerializer, 409: CONFLICT},
        examples=[
            OpenApiExample(
                "By agreement and period",
                value={
                    "agreement_id": "5b6f0c1e-8a57-4c1e-9a7e-0d3c2b1a4f00",
                    "period_id": "850",
                    "amount_native": "35000000",
                    "reason": "client left mid-epoch",
                },
                request_only=True,
            ),
            OVERRIDE_EXAMPLE,
        ],
    ),
)
class OverrideListView(ListApiView):
    """Overrides of commission lines: list them, or set one."""

    serializer_class = OverrideLineSerializer
    queryset = CommissionLine.objects.none()
    filterset_class = OverrideFilter
    read_capabilities = COMMISSION_READERS
    write_capability = Capability.OVERRIDE_LINES

    def rows(self) -> QuerySet[CommissionLine]:
        return overridden_lines(self.request.user)

    def post(self, request: Request) -> Response:
        serializer = OverrideCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        line = _line_to_override(request.user, data)
        try:
            line_override(
                line_id=line.pk,
                amount=data["amount_native"],
                reason=data["reason"],
                actor=request.user,  # type: ignore[arg-type]
            )
        except StatementError as error:
            if str(error).startswith("only Finance or Admin"):
                raise PermissionDenied(str(error)) from None
            raise refusal(error, OVERRIDE_REFUSALS, "line_id") from None
        saved = lines_for(request.user).get(pk=line.pk)
        return Response(OverrideLineSerializer(saved).data, status=status.HTTP_201_CREATED)


@extend_schema(
    tags=["overrides"],
    summary="Remove a line's override",
    description="The line pays its computed amount again. Lines of a frozen statement: 409.",
    request=OverrideClearSerializer,
    responses={200: OverrideLineSerializer, 409: CONFLICT},
    examples=[
        OpenApiExample("Why", value={"reason": "entered on the wrong line"}, request_only=True),
        OVERRIDE_EXAMPLE,
    ],
)
class OverrideView(ApiView):
    """One line's override: remove it (with a reason)."""

    read_capabilities = COMMISSION_READERS
    write_capability = Capability.OVERRIDE_LINES

    def delete(self, request: Request, line_id: UUID) -> Response:
        line = lines_for(request.user).filter(pk=line_id, override_amount_native__isnull=False).first()
        if line is None:
            raise NotFound(f"No override on line {line_id}.")
        serializer = OverrideClearSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            line_override_clear(
                line_id=line.pk,
                reason=serializer.validated_data["reason"],
                actor=request.user,  # type: ignore[arg-type]
            )
        except StatementError as error:
            if str(error).startswith("only Finance or Admin"):
                raise PermissionDenied(str(error)) from None
            raise refusal(error, OVERRIDE_REFUSALS, "line_id") from None
        saved = lines_for(request.user).get(pk=line.pk)
        return Response(OverrideLineSerializer(saved).data)
