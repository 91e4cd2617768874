"""What the API sends and accepts. Amounts are `AmountField` strings of base units."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from api.fields import AmountField, ChainUnitSerializer
from chains.models import Chain, Period
from commissions.models import ValidatorPnl


class ChainSummarySerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    chain_id = serializers.CharField(source="pk")
    symbol = serializers.SerializerMethodField()
    latest_final_period = serializers.CharField(allow_null=True, read_only=True)

    class Meta:
        model = Chain
        fields = [
            "chain_id",
            "name",
            "period_type",
            "native_unit",
            "native_decimals",
            "symbol",
            "finality_lag",
            "is_active",
            "latest_final_period",
        ]

    def get_symbol(self, chain: Chain) -> str:
        return str(chain.display_symbol or chain.native_unit)


class PeriodSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    chain_id = serializers.CharField(read_only=True)

    class Meta:
        model = Period
        fields = [
            "chain_id",
            "period_identifier",
            "period_start",
            "period_end",
            "first_index",
            "last_index",
            "is_finalized",
            "finalized_at",
        ]


class ValidatorPnlSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    chain_id = serializers.CharField(read_only=True)
    period_identifier = serializers.CharField(source="period.period_identifier")
    period_start = serializers.DateTimeField(source="period.period_start")
    period_end = serializers.DateTimeField(source="period.period_end")
    exec_fees_native = AmountField()
    mev_tips_native = AmountField()
    vote_rewards_native = AmountField()
    commission_native = AmountField()
    penalties_native = AmountField(
        help_text="Penalties on the operator's own stake, subtracted in the total."
    )
    total_revenue_native = AmountField(help_text="The components less penalties; may be negative.")
    unit = ChainUnitSerializer(source="chain")

    class Meta:
        model = ValidatorPnl
        fields = [
            "chain_id",
            "validator_key",
            "period_identifier",
            "period_start",
            "period_end",
            "exec_fees_native",
            "mev_tips_native",
            "vote_rewards_native",
            "commission_native",
            "penalties_native",
            "total_revenue_native",
            "unit",
            "computed_at",
        ]


def chain_unit(chain: Chain) -> dict[str, Any]:
    return dict(ChainUnitSerializer(chain).data)
