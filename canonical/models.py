"""Canonical layer: provider-independent facts per (chain, period, validator), never deleted.

A changed value does not update a row: the old row gets `superseded_at` / `superseded_by` and a
new current row is written. The database keeps at most one current row per key.
"""

from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Now

from aurora.common.fields import NativeAmountField
from aurora.common.models import basis_points, non_negative, uuid_primary_key

CURRENT = Q(superseded_at__isnull=True)


class CanonicalRecord(models.Model):
    """Columns and rules every canonical table shares; `source_*` trace the row to its payload."""

    chain = models.ForeignKey("chains.Chain", on_delete=models.CASCADE, related_name="+")
    period = models.ForeignKey("chains.Period", on_delete=models.CASCADE, related_name="+")
    validator_key = models.CharField(max_length=100)
    source_provider = models.ForeignKey("chains.Provider", on_delete=models.RESTRICT, related_name="+")
    source_payload = models.ForeignKey(
        "ingestion.StagingPayload", on_delete=models.RESTRICT, related_name="+"
    )
    normalized_at = models.DateTimeField(auto_now_add=True, db_default=Now())
    superseded_at = models.DateTimeField(null=True, blank=True)
    superseded_by = models.ForeignKey(
        "self", on_delete=models.RESTRICT, null=True, blank=True, related_name="supersedes"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())
    updated_at = models.DateTimeField(auto_now=True, db_default=Now())

    class Meta:
        abstract = True
        ordering = ["chain_id", "period_id", "validator_key"]

    @property
    def is_current(self) -> bool:
        return self.superseded_at is None


def supersession_rules(table: str) -> list[models.BaseConstraint]:
    """A row superseded by another carries the time, and never by itself."""
    return [
        models.CheckConstraint(
            condition=Q(superseded_by__isnull=True) | Q(superseded_at__isnull=False),
            name=f"{table}_superseded_by_has_time",
        ),
        models.CheckConstraint(condition=~Q(superseded_by=F("pk")), name=f"{table}_not_superseded_by_self"),
    ]


def current_row_unique(table: str, *fields: str) -> models.UniqueConstraint:
    return models.UniqueConstraint(
        fields=list(fields), condition=CURRENT, nulls_distinct=False, name=f"{table}_one_current_row"
    )


def key_index(name: str) -> models.Index:
    return models.Index(fields=["chain", "period", "validator_key"], name=name)


class CanonicalValidatorFees(CanonicalRecord):
    """Block fees a validator earned as leader/proposer in a period."""

    id = uuid_primary_key("fee_id")
    total_fees_native = NativeAmountField()
    fee_count = models.PositiveIntegerField(default=0, db_default=0)

    class Meta(CanonicalRecord.Meta):
        db_table = "canonical_validator_fees"
        verbose_name_plural = "canonical validator fees"
        constraints = [
            current_row_unique("canonical_validator_fees", "chain", "period", "validator_key"),
            *non_negative("total_fees_native", "fee_count", prefix="canonical_validator_fees"),
            *supersession_rules("canonical_validator_fees"),
        ]
        indexes = [key_index("idx_fees_chain_period_val")]

    def __str__(self) -> str:
        return f"fees {self.validator_key} {self.total_fees_native}"


class CanonicalValidatorMev(CanonicalRecord):
    """MEV a validator earned in a period (Jito tips on Solana, relay payments on Ethereum)."""

    id = uuid_primary_key("mev_id")
    total_mev_native = NativeAmountField()
    tip_count = models.PositiveIntegerField(default=0, db_default=0)

    class Meta(CanonicalRecord.Meta):
        db_table = "canonical_validator_mev"
        verbose_name = "canonical validator MEV"
        verbose_name_plural = "canonical validator MEV"
        constraints = [
            current_row_unique("canonical_validator_mev", "chain", "period", "validator_key"),
            *non_negative("total_mev_native", "tip_count", prefix="canonical_validator_mev"),
            *supersession_rules("canonical_validator_mev"),
        ]
        indexes = [key_index("idx_mev_chain_period_val")]

    def __str__(self) -> str:
        return f"MEV {self.validator_key} {self.total_mev_native}"


class CanonicalStakeReward(CanonicalRecord):
    """Staking rewards of a period: one validator-level row (`staker_address` empty) and one row
    per stake account. `rewards_native` is the staker's reward before commission and
    `commission_native` the validator's cut of it.
    """

    id = uuid_primary_key("reward_id")
    staker_address = models.CharField(
        max_length=100, null=True, blank=True, help_text="Stake account; empty = validator total."
    )
    withdraw_authority = models.CharField(max_length=100, null=True, blank=True)
    active_stake_native = NativeAmountField(null=True, blank=True)
    rewards_native = NativeAmountField()
    commission_native = NativeAmountField(default=0, db_default=0)

    class Meta(CanonicalRecord.Meta):
        db_table = "canonical_stake_rewards"
        constraints = [
            current_row_unique(
                "canonical_stake_rewards", "chain", "period", "validator_key", "staker_address"
            ),
            *non_negative(
                "rewards_native", "commission_native", "active_stake_native", prefix="canonical_stake_rewards"
            ),
            *supersession_rules("canonical_stake_rewards"),
        ]
        indexes = [
            key_index("idx_rewards_chain_period_val"),
            models.Index(fields=["staker_address"], name="idx_rewards_staker"),
            models.Index(fields=["withdraw_authority"], name="idx_rewards_withdraw_auth"),
        ]

    def __str__(self) -> str:
        return f"rewards {self.validator_key} {self.staker_address or '(validator)'} {self.rewards_native}"


class CanonicalValidatorMeta(CanonicalRecord):
    """A validator's commission, MEV status and stake in a period."""

    id = uuid_primary_key("meta_id")
    commission_rate_bps = models.IntegerField()
    mev_commission_bps = models.IntegerField(null=True, blank=True)
    is_mev_enabled = models.BooleanField(default=False)
    total_stake_native = NativeAmountField(default=0, db_default=0)
    active_stake_native = NativeAmountField(null=True, blank=True)
    delegator_count = models.PositiveIntegerField(null=True, blank=True)
    uptime_percentage = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)

    class Meta(CanonicalRecord.Meta):
        db_table = "canonical_validator_meta"
        verbose_name = "canonical validator metadata"
        verbose_name_plural = "canonical validator metadata"
        constraints = [
            current_row_unique("canonical_validator_meta", "chain", "period", "validator_key"),
            basis_points("commission_rate_bps", prefix="canonical_validator_meta"),
            basis_points("mev_commission_bps", prefix="canonical_validator_meta"),
            *non_negative(
                "total_stake_native",
                "active_stake_native",
                "delegator_count",
                prefix="canonical_validator_meta",
            ),
            models.CheckConstraint(
                condition=Q(uptime_percentage__gte=0, uptime_percentage__lte=100),
                name="canonical_validator_meta_uptime_range",
            ),
            *supersession_rules("canonical_validator_meta"),
        ]
        indexes = [
            key_index("idx_meta_chain_period_val"),
            models.Index(fields=["is_mev_enabled"], name="idx_meta_mev_enabled"),
        ]

    def __str__(self) -> str:
        return f"meta {self.validator_key} {self.commission_rate_bps} bps"
