"""What the agreement, override and job endpoints send and accept. Amounts are strings of base
units (`AmountField` out, `WholeAmountInputField` in)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.fields import (
    AmountField,
    ChainUnitSerializer,
    StrictCharField,
    StrictIntegerField,
    StrictUUIDField,
    WholeAmountInputField,
)
from commissions.engine.tiers import BASES, MAX_BPS, MODES
from commissions.models import (
    Agreement,
    AgreementRule,
    AgreementStatus,
    AgreementVersion,
    AttributionMethod,
    CommissionLine,
    RevenueComponent,
)
from commissions.services.agreements import RuleSpec, terms_token

MAX_RULE_ORDER = 1000
# WholeAmountInputField's default max_length validator would run on the converted Decimal (len()
# of a Decimal: TypeError); the field bounds amounts itself (at most 30 digits).
REASON_MAX_LENGTH = 500

TIER_AMOUNT_SCHEMA = {
    "oneOf": [
        {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?$"},
        {"type": "integer", "minimum": 0},
    ]
}
TIER_CONFIG_SCHEMA = {
    "type": "object",
    "nullable": True,
    "description": 'Tiered rates: {"basis": "base_amount" | "introduced_stake", "mode": "marginal" | '
    '"whole", "tiers": [{"from": "<base units>", "rate_bps": N}, …]} with `from` ascending; null: '
    "the flat rate.",
    "required": ["basis", "mode", "tiers"],
    "additionalProperties": False,
    "properties": {
        "basis": {"type": "string", "enum": list(BASES)},
        "mode": {"type": "string", "enum": list(MODES)},
        "tiers": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["from", "rate_bps"],
                "additionalProperties": False,
                "properties": {
                    "from": TIER_AMOUNT_SCHEMA,
                    "rate_bps": {"type": "integer", "minimum": 0, "maximum": MAX_BPS},
                },
            },
        },
    },
    "example": {"basis": "base_amount", "mode": "marginal", "tiers": [{"from": "0", "rate_bps": 500}]},
}


# ---- agreements ---------------------------------------------------------------------------------


class RuleSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    chain_id = serializers.CharField(allow_null=True)
    floor_amount_native = AmountField(allow_null=True)
    cap_amount_native = AmountField(allow_null=True)
    tier_config = serializers.SerializerMethodField()
    unit = ChainUnitSerializer(source="chain", allow_null=True, read_only=True)

    class Meta:
        model = AgreementRule
        fields = [
            "rule_order",
            "chain_id",
            "validator_key",
            "revenue_component",
            "attribution_method",
            "commission_rate_bps",
            "floor_amount_native",
            "cap_amount_native",
            "tier_config",
            "is_active",
            "unit",
        ]

    @extend_schema_field(TIER_CONFIG_SCHEMA)
    def get_tier_config(self, rule: AgreementRule) -> Any:
        return rule.tier_config


class AgreementSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    agreement_id = serializers.UUIDField(source="pk")
    partner_id = serializers.UUIDField()
    partner_name = serializers.CharField(source="partner.partner_name")
    rules = RuleSerializer(source="current_rules", many=True, help_text="The current version's rules.")
    terms_token = serializers.SerializerMethodField(
        help_text="Identifies the current terms: send it back as `based_on` when changing them "
        "(null: the agreement has no terms version)."
    )

    class Meta:
        model = Agreement
        fields = [
            "agreement_id",
            "partner_id",
            "partner_name",
            "agreement_name",
            "status",
            "current_version",
            "effective_from",
            "effective_until",
            "rules",
            "terms_token",
            "created_at",
            "updated_at",
        ]

    def get_terms_token(self, agreement: Agreement) -> str | None:
        """From the prefetched current version (`agreements_for`), else read; None without one."""
        versions = getattr(agreement, "current_versions", None)
        if versions is None:
            versions = list(
                AgreementVersion.objects.filter(agreement=agreement, version_number=agreement.current_version)
            )
        return terms_token(versions[0]) if versions else None


class VersionSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    terms_snapshot = serializers.SerializerMethodField()

    class Meta:
        model = AgreementVersion
        fields = [
            "version_number",
            "effective_from",
            "effective_until",
            "change_reason",
            "created_by",
            "created_at",
            "terms_snapshot",
        ]

    @extend_schema_field(
        {
            "type": "object",
            "description": "The terms as saved: {rules: [...]}, with the rules the caller may read.",
            "additionalProperties": True,
        }
    )
    def get_terms_snapshot(self, version: AgreementVersion) -> dict[str, Any]:
        from api.agreement_selectors import visible_terms

        snapshot = dict(version.terms_snapshot or {})
        if isinstance(snapshot.get("rules"), list):
            snapshot["rules"] = visible_terms(self.context["request"].user, snapshot["rules"])
        return snapshot


@extend_schema_field(TIER_CONFIG_SCHEMA)
class TierConfigField(serializers.JSONField):
    default_error_messages = {"not_an_object": "An object (or null for the flat rate) is required."}

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, dict):
            self.fail("not_an_object")
        return super().to_internal_value(data)


class RuleInputSerializer(serializers.Serializer):  # type: ignore[type-arg]
    rule_order = StrictIntegerField(min_value=1, max_value=MAX_RULE_ORDER)
    chain_id = StrictCharField(max_length=50, required=False, allow_null=True, allow_blank=True)
    validator_key = StrictCharField(max_length=100, required=False, allow_null=True, allow_blank=True)
    revenue_component = serializers.ChoiceField(choices=RevenueComponent.choices)
    attribution_method = serializers.ChoiceField(choices=AttributionMethod.choices)
    commission_rate_bps = StrictIntegerField(min_value=0, max_value=MAX_BPS)
    floor_amount_native = WholeAmountInputField(required=False, allow_null=True)
    cap_amount_native = WholeAmountInputField(required=False, allow_null=True)
    tier_config = TierConfigField(required=False, allow_null=True)

    def spec(self, data: dict[str, Any]) -> RuleSpec:
        return RuleSpec(
            rule_order=data["rule_order"],
            revenue_component=data["revenue_component"],
            attribution_method=data["attribution_method"],
            commission_rate_bps=data["commission_rate_bps"],
            chain_id=(data.get("chain_id") or "").strip() or None,
            validator_key=(data.get("validator_key") or "").strip() or None,
            floor_amount_native=data.get("floor_amount_native"),
            cap_amount_native=data.get("cap_amount_native"),
            tier_config=data.get("tier_config") or None,
        )


class RulesField(serializers.ListField):
    child = RuleInputSerializer()

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_length", 1)
        kwargs.setdefault("max_length", 100)
        super().__init__(**kwargs)


def rule_specs(rules: list[dict[str, Any]]) -> list[RuleSpec]:
    return [RuleInputSerializer().spec(rule) for rule in rules]


class AgreementCreateSerializer(serializers.Serializer):  # type: ignore[type-arg]
    partner_id = StrictUUIDField()
    agreement_name = StrictCharField(max_length=200)
    effective_from = serializers.DateTimeField()
    effective_until = serializers.DateTimeField(required=False, allow_null=True)
    rules = RulesField()
    reason = StrictCharField(
        max_length=REASON_MAX_LENGTH, required=False, allow_blank=True, help_text="Kept in the audit log."
    )


class AgreementUpdateSerializer(serializers.Serializer):  # type: ignore[type-arg]
    rules = RulesField(help_text="The whole new set of rules (they replace the current ones).")
    effective_from = serializers.DateTimeField(
        required=False,
        help_text="When the new terms start. Required for an agreement in use (a new version, after the "
        "current one's start); a draft keeps its start when left out.",
    )
    change_reason = StrictCharField(max_length=REASON_MAX_LENGTH)
    based_on = StrictCharField(
        max_length=64,
        help_text="The `terms_token` of the agreement as read: a change over newer terms is refused.",
    )


class AgreementStatusSerializer(serializers.Serializer):  # type: ignore[type-arg]
    status = serializers.ChoiceField(
        choices=[
            (AgreementStatus.ACTIVE, AgreementStatus.ACTIVE.label),
            (AgreementStatus.SUSPENDED, AgreementStatus.SUSPENDED.label),
            (AgreementStatus.TERMINATED, AgreementStatus.TERMINATED.label),
        ]
    )
    reason = StrictCharField(max_length=REASON_MAX_LENGTH)
    effective_at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="When it takes effect; left out: the agreement's start for an activation, else now.",
    )


# ---- overrides ----------------------------------------------------------------------------------


class OverrideLineSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    line_id = serializers.UUIDField(source="pk")
    agreement_id = serializers.UUIDField()
    agreement_name = serializers.CharField(source="agreement.agreement_name")
    partner_id = serializers.UUIDField()
    partner_name = serializers.CharField(source="partner.partner_name")
    chain_id = serializers.CharField()
    period_identifier = serializers.CharField(source="period.period_identifier")
    period_end = serializers.DateTimeField(source="period.period_end")
    base_amount_native = AmountField()
    pre_override_amount_native = AmountField()
    override_amount_native = AmountField(allow_null=True)
    final_amount_native = AmountField()
    override_user = serializers.CharField(source="override_user.username", allow_null=True, default=None)
    statement_id = serializers.UUIDField(allow_null=True)
    statement_status = serializers.CharField(source="statement.status", allow_null=True, default=None)
    statement_month = serializers.CharField(source="statement.month", allow_null=True, default=None)
    unit = ChainUnitSerializer(source="chain")

    class Meta:
        model = CommissionLine
        fields = [
            "line_id",
            "agreement_id",
            "agreement_name",
            "agreement_version",
            "rule_order",
            "partner_id",
            "partner_name",
            "chain_id",
            "period_identifier",
            "period_end",
            "validator_key",
            "revenue_component",
            "attribution_method",
            "base_amount_native",
            "commission_rate_bps",
            "pre_override_amount_native",
            "override_amount_native",
            "final_amount_native",
            "override_reason",
            "override_user",
            "override_timestamp",
            "override_needs_review",
            "statement_id",
            "statement_status",
            "statement_month",
            "unit",
        ]


class OverrideCreateSerializer(serializers.Serializer):  # type: ignore[type-arg]
    line_id = StrictUUIDField(
        required=False, help_text="The line to override. Or name it by agreement, period (and chain, rule)."
    )
    agreement_id = StrictUUIDField(required=False)
    period_id = StrictCharField(
        max_length=50, required=False, help_text="The period's identifier on its chain (a Solana epoch: 850)."
    )
    chain_id = StrictCharField(
        max_length=50, required=False, help_text="Needed when the agreement has lines on several chains."
    )
    rule_order = StrictIntegerField(
        min_value=1, max_value=MAX_RULE_ORDER, required=False, help_text="Needed when several rules paid."
    )
    amount_native = WholeAmountInputField(help_text="What to pay instead, in whole base units.")
    reason = StrictCharField(max_length=REASON_MAX_LENGTH)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("line_id") is None:
            missing = {
                name: ["Required unless line_id is given."]
                for name in ("agreement_id", "period_id")
                if not attrs.get(name)
            }
            if missing:
                raise serializers.ValidationError(missing)
        return attrs


class OverrideClearSerializer(serializers.Serializer):  # type: ignore[type-arg]
    reason = StrictCharField(max_length=REASON_MAX_LENGTH)
