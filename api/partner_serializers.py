"""What the partner endpoints send: partners, their clients, commission lines and statements.
Amounts are `AmountField` strings of base units next to the chain's `unit`. Override reasons and
the statement workflow's internal timestamps are for staff; partner users get null there
(the serializer context's `partner_view`)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.envelope import RawJson
from api.fields import AmountField, ChainUnitSerializer
from api.partner_selectors import StatementView
from aurora.common.amounts import plain_amount
from commissions.models import CommissionLine, StatementStatus
from partners.models import Partner, PartnerClient


class PartnerSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    partner_id = serializers.UUIDField(source="pk", read_only=True)
    has_active_agreement = serializers.BooleanField(
        read_only=True, help_text="An ACTIVE agreement that has not ended."
    )

    class Meta:
        model = Partner
        fields = [
            "partner_id",
            "partner_name",
            "legal_entity_name",
            "contact_name",
            "contact_email",
            "is_active",
            "portal_shows_open_amounts",
            "has_active_agreement",
            "created_at",
        ]


class PartnerClientSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    client_id = serializers.UUIDField(source="pk", read_only=True)
    chain_id = serializers.CharField(read_only=True)

    class Meta:
        model = PartnerClient
        fields = ["client_id", "chain_id", "address", "kind", "effective_from", "effective_until"]


class StatementLineSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    """A commission line as listed in a statement."""

    line_id = serializers.UUIDField(source="pk", read_only=True)
    chain_id = serializers.CharField(read_only=True)
    period_identifier = serializers.CharField(source="period.period_identifier", read_only=True)
    period_start = serializers.DateTimeField(source="period.period_start", read_only=True)
    period_end = serializers.DateTimeField(source="period.period_end", read_only=True)
    agreement_id = serializers.UUIDField(read_only=True)
    agreement_name = serializers.CharField(source="agreement.agreement_name", read_only=True)
    base_amount_native = AmountField()
    pre_override_amount_native = AmountField()
    override_amount_native = AmountField(allow_null=True)
    final_amount_native = AmountField()
    override_reason = serializers.SerializerMethodField()
    statement_id = serializers.UUIDField(read_only=True, allow_null=True)
    statement_month = serializers.SerializerMethodField()
    statement_status = serializers.SerializerMethodField()
    adjusts_month = serializers.SerializerMethodField()
    unit = ChainUnitSerializer(source="chain", read_only=True)

    class Meta:
        model = CommissionLine
        fields = [
            "line_id",
            "chain_id",
            "period_identifier",
            "period_start",
            "period_end",
            "agreement_id",
            "agreement_name",
            "agreement_version",
            "rule_order",
            "validator_key",
            "revenue_component",
            "attribution_method",
            "base_amount_native",
            "commission_rate_bps",
            "pre_override_amount_native",
            "override_amount_native",
            "final_amount_native",
            "override_reason",
            "statement_id",
            "statement_month",
            "statement_status",
            "adjusts_month",
            "computed_at",
            "unit",
        ]

    @extend_schema_field(
        {"type": "string", "nullable": True, "description": "Why the amount was overridden (staff only)."}
    )
    def get_override_reason(self, line: CommissionLine) -> str | None:
        if self.context.get("partner_view", True):
            return None
        return line.override_reason

    @extend_schema_field({"type": "string", "nullable": True, "example": "2025-09", "description": "YYYY-MM"})
    def get_statement_month(self, line: CommissionLine) -> str | None:
        return line.statement.month if line.statement is not None else None

    @extend_schema_field({"type": "string", "nullable": True, "enum": [*StatementStatus.values, None]})
    def get_statement_status(self, line: CommissionLine) -> str | None:
        return line.statement.status if line.statement is not None else None

    @extend_schema_field(
        {
            "type": "string",
            "nullable": True,
            "example": "2025-08",
            "description": "The earlier month this adjustment line corrects; null for a regular line.",
        }
    )
    def get_adjusts_month(self, line: CommissionLine) -> str | None:
        return line.adjusts_statement.month if line.adjusts_statement is not None else None


class CommissionLineSerializer(StatementLineSerializer):
    """A commission line with the basis it was computed on."""

    breakdown = serializers.JSONField(
        read_only=True, help_text="How the base was computed: the method, per-validator bases, tiers."
    )

    class Meta(StatementLineSerializer.Meta):
        fields = [*StatementLineSerializer.Meta.fields[:-2], "breakdown", "computed_at", "unit"]


class StatementTotalsSerializer(serializers.Serializer):  # type: ignore[type-arg]
    lines_total = AmountField(allow_null=True)
    adjustments_total = AmountField(allow_null=True)
    total = AmountField(allow_null=True)


STAFF_DATETIME = {
    "type": "string",
    "format": "date-time",
    "nullable": True,
    "description": "A step of the approval workflow (staff only; null for partner users).",
}


class StatementSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """Reads a `StatementView`."""

    statement_id = serializers.UUIDField(source="statement.pk")
    partner_id = serializers.UUIDField(source="statement.partner_id")
    partner_name = serializers.CharField(source="statement.partner.partner_name")
    chain_id = serializers.CharField(source="statement.chain_id")
    month = serializers.CharField(source="statement.month")
    status = serializers.ChoiceField(source="statement.status", choices=StatementStatus.choices)
    amounts_visible = serializers.BooleanField(
        help_text="False: the statement is in preparation and its amounts are not shown to the partner "
        "yet (amounts are null, lines empty)."
    )
    provisional = serializers.BooleanField(help_text="Not released yet: the amounts can still change.")
    total_commission_native = serializers.SerializerMethodField()
    line_count = serializers.SerializerMethodField()
    submitted_at = serializers.SerializerMethodField()
    first_approved_at = serializers.SerializerMethodField()
    approved_at = serializers.SerializerMethodField()
    released_at = serializers.DateTimeField(source="statement.released_at", allow_null=True)
    paid_at = serializers.DateTimeField(source="statement.paid_at", allow_null=True)
    lines = serializers.SerializerMethodField()
    adjustments = serializers.SerializerMethodField()
    totals = serializers.SerializerMethodField()
    unit = ChainUnitSerializer(source="statement.chain")

    @extend_schema_field(StatementLineSerializer(many=True))
    def get_lines(self, view: StatementView) -> list[RawJson]:
        return [RawJson(line.document) for line in view.lines]

    @extend_schema_field(StatementLineSerializer(many=True))
    def get_adjustments(self, view: StatementView) -> list[RawJson]:
        return [RawJson(line.document) for line in view.adjustments]

    @extend_schema_field(AmountField(allow_null=True))
    def get_total_commission_native(self, view: StatementView) -> str | None:
        if not view.amounts_visible:
            return None
        return plain_amount(view.statement.total_commission_native)

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_line_count(self, view: StatementView) -> int | None:
        return view.statement.line_count if view.amounts_visible else None

    def _staff_timestamp(self, view: StatementView, name: str) -> str | None:
        value = None if view.partner_view else getattr(view.statement, name)
        return serializers.DateTimeField().to_representation(value) if value is not None else None

    @extend_schema_field(STAFF_DATETIME)
    def get_submitted_at(self, view: StatementView) -> str | None:
        return self._staff_timestamp(view, "submitted_at")

    @extend_schema_field(STAFF_DATETIME)
    def get_first_approved_at(self, view: StatementView) -> str | None:
        return self._staff_timestamp(view, "first_approved_at")

    @extend_schema_field(STAFF_DATETIME)
    def get_approved_at(self, view: StatementView) -> str | None:
        return self._staff_timestamp(view, "approved_at")

    @extend_schema_field(StatementTotalsSerializer)
    def get_totals(self, view: StatementView) -> dict[str, Any]:
        return dict(
            StatementTotalsSerializer(
                {
                    "lines_total": view.lines_total,
                    "adjustments_total": view.adjustments_total,
                    "total": view.total,
                }
            ).data
        )
