"""Canonical layer: provider-independent facts per (chain, period, validator), never deleted.

A changed value does not update a row: the old row gets `superseded_at` / `superseded_by` and a
new current row is written. The database keeps at most one current row per key.
"""

from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Now

from aurora.common.dbroles import NO_DELETE
from aurora.common.fields import NativeAmountField
from aurora.common.models import TimeStampedModel, basis_points, non_negative, one_of, uuid_primary_key

CURRENT = Q(superseded_at__isnull=True)


class CanonicalRecord(models.Model):
    """Columns and rules every canonical table shares; `source_*` trace the row to its payload."""

    database_privileges = NO_DELETE  # rows are superseded, never deleted

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
    total_mev_native = NativeAmountField(help_text="The validator's share: gross MEV x its MEV commission.")
    tip_count = models.PositiveIntegerField(default=0, db_default=0)
    gross_mev_native = NativeAmountField(
        null=True, blank=True, help_text="All MEV of the period, before the validator/staker split."
    )
    mev_commission_bps = models.IntegerField(null=True, blank=True)

    class Meta(CanonicalRecord.Meta):
        db_table = "canonical_validator_mev"
        verbose_name = "canonical validator MEV"
        verbose_name_plural = "canonical validator MEV"
        constraints = [
            current_row_unique("canonical_validator_mev", "chain", "period", "validator_key"),
            *non_negative(
                "total_mev_native", "tip_count", "gross_mev_native", prefix="canonical_validator_mev"
            ),
            basis_points("mev_commission_bps", prefix="canonical_validator_mev"),
            *supersession_rules("canonical_validator_mev"),
        ]
        indexes = [key_index("idx_mev_chain_period_val")]

    def __str__(self) -> str:
        return f"MEV {self.validator_key} {self.total_mev_native}"


class CanonicalStakeReward(CanonicalRecord):
    """Staking rewards of a period: one validator-level row (`staker_address` empty) and one row
    per stake account. `rewards_native` is the staker's reward before commission and
    `commission_native` the validator's cut of it. On Ethereum the staker of a validator is its
    withdrawal address (one staker row per validator), `rewards_native` the consensus income
    earned, `penalties_native` what missed duties cost (both >= 0) and `commission_native` the
    operator's contractual fee.

    This is the high-volume table (a row per stake account per period, millions a month), so its
    references are checked once per statement instead of once per row: a statement trigger
    (migration 0004) refuses any row whose source payload is not a staged payload of the same
    chain, period, validator and provider, and staged payloads cannot be deleted while a row
    names them. A superseded row's successor is checked at commit by a deferred trigger that fires
    on supersession only. Together: the guarantees of the per-row foreign keys, and more (same
    chain, period, validator and provider), at a fraction of the cost.
    """

    id = uuid_primary_key("reward_id")
    chain = models.ForeignKey(
        "chains.Chain", on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    period = models.ForeignKey(
        "chains.Period", on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    source_provider = models.ForeignKey(
        "chains.Provider", on_delete=models.RESTRICT, related_name="+", db_constraint=False, db_index=False
    )
    source_payload = models.ForeignKey(
        "ingestion.StagingPayload", on_delete=models.RESTRICT, related_name="+", db_constraint=False
    )
    superseded_by = models.ForeignKey(
        "self",
        on_delete=models.RESTRICT,
        null=True,
        blank=True,
        related_name="supersedes",
        db_constraint=False,
        db_index=False,
    )
    staker_address = models.CharField(
        max_length=100, null=True, blank=True, help_text="Stake account; empty = validator total."
    )
    withdraw_authority = models.CharField(max_length=100, null=True, blank=True)
    active_stake_native = NativeAmountField(null=True, blank=True)
    rewards_native = NativeAmountField()
    penalties_native = NativeAmountField(
        default=0,
        db_default=0,
        help_text="What the protocol took back in the period (missed duties), as a positive amount; "
        "the staker's net income is rewards - penalties - commission. 0 where the chain has none.",
    )
    commission_native = NativeAmountField(default=0, db_default=0)
    commission_rate_bps = models.IntegerField(
        null=True, blank=True, help_text="The validator's commission when the reward was paid."
    )

    class Meta(CanonicalRecord.Meta):
        db_table = "canonical_stake_rewards"
        constraints = [
            current_row_unique(
                "canonical_stake_rewards", "chain", "period", "validator_key", "staker_address"
            ),
            *non_negative(
                "rewards_native",
                "penalties_native",
                "commission_native",
                "active_stake_native",
                prefix="canonical_stake_rewards",
            ),
            basis_points("commission_rate_bps", prefix="canonical_stake_rewards"),
            *supersession_rules("canonical_stake_rewards"),
        ]
        indexes = [
            key_index("idx_rewards_chain_period_val"),
            models.Index(fields=["staker_address"], name="idx_rewards_staker"),
            models.Index(fields=["withdraw_authority"], name="idx_rewards_withdraw_auth"),
            # Only superseded rows point at their successor: current rows cost this index nothing.
            models.Index(
                fields=["superseded_by"],
                condition=Q(superseded_by__isnull=False),
                name="idx_rewards_superseded_by",
            ),
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
    field_sources = models.JSONField(
        default=dict,
        blank=True,
        help_text="Which provider supplied each field that did not come from the row's source provider.",
    )

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


CANONICAL_MODELS: tuple[type[CanonicalRecord], ...] = (
    CanonicalValidatorFees,
    CanonicalValidatorMev,
    CanonicalStakeReward,
    CanonicalValidatorMeta,
)


class CanonicalPeriodRevision(models.Model):
    """How many statements have written a period's canonical fees, MEV and stake rows: bumped by
    database triggers (migration 0006) on every insert or update, whoever writes. Readers compare
    it instead of scanning the period's rows (200,000 stake accounts) to learn whether anything
    changed; nothing in the application writes it."""

    period = models.OneToOneField(
        "chains.Period", on_delete=models.CASCADE, primary_key=True, db_column="period_id", related_name="+"
    )
    revision = models.BigIntegerField(default=0)

    class Meta:
        db_table = "canonical_period_revisions"

    def __str__(self) -> str:
        return f"{self.period_id}: revision {self.revision}"


# ---- normalization runs and reconciliation ------------------------------------------------------


class NormalizationStatus(models.TextChoices):
    RUNNING = "RUNNING", "Running"
    SUCCESS = "SUCCESS", "Success"
    PARTIAL = "PARTIAL", "Partial"
    FAILED = "FAILED", "Failed"


class NormalizationRun(TimeStampedModel):
    """One normalization of one (chain, period): staged payloads in, canonical rows out.

    The canonical writes of a run are one transaction: a FAILED run changed nothing. A PARTIAL run
    committed what it could; the items with no usable data are listed in `failures`.
    """

    id = uuid_primary_key("normalization_run_id")
    chain = models.ForeignKey("chains.Chain", on_delete=models.CASCADE, related_name="normalization_runs")
    period = models.ForeignKey("chains.Period", on_delete=models.CASCADE, related_name="normalization_runs")
    status = models.CharField(
        max_length=10, choices=NormalizationStatus.choices, default=NormalizationStatus.RUNNING
    )
    started_at = models.DateTimeField(auto_now_add=True, db_default=Now())
    completed_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.DecimalField(max_digits=12, decimal_places=3, null=True, blank=True)
    triggered_by = models.CharField(max_length=150, default="", blank=True)
    validators_total = models.PositiveIntegerField(default=0, db_default=0)
    validators_unchanged = models.PositiveIntegerField(
        default=0, db_default=0, help_text="Validators whose staged inputs were already normalized."
    )
    items_failed = models.PositiveIntegerField(default=0, db_default=0)
    payloads_read = models.PositiveIntegerField(default=0, db_default=0)
    rows_inserted = models.PositiveIntegerField(default=0, db_default=0)
    rows_superseded = models.PositiveIntegerField(default=0, db_default=0)
    rows_unchanged = models.PositiveIntegerField(default=0, db_default=0)
    failures = models.JSONField(default=list, blank=True)
    timings = models.JSONField(default=dict, blank=True, help_text="Seconds spent per phase.")
    error_message = models.TextField(null=True, blank=True)

    class Meta:
        db_table = "normalization_runs"
        ordering = ["-started_at"]
        constraints = [
            one_of("status", NormalizationStatus, prefix="normalization_runs"),
            *non_negative(
                "validators_total",
                "validators_unchanged",
                "items_failed",
                "payloads_read",
                "rows_inserted",
                "rows_superseded",
                "rows_unchanged",
                prefix="normalization_runs",
            ),
            models.CheckConstraint(
                condition=Q(completed_at__isnull=True) | Q(completed_at__gte=F("started_at")),
                name="normalization_runs_completed_after_start",
            ),
        ]
        indexes = [models.Index(fields=["chain", "period", "-started_at"], name="idx_norm_runs_period")]

    def __str__(self) -> str:
        return f"normalization {self.chain_id} {self.period_id} {self.status}"


class NormalizedInput(models.Model):
    """What a validator's current canonical rows of a period were computed from: a fingerprint of
    the staged payloads chosen (newest per request, every mapped provider in priority order) and
    of the normalizer's version. The same fingerprint again means nothing to do."""

    chain = models.ForeignKey("chains.Chain", on_delete=models.CASCADE, related_name="+")
    period = models.ForeignKey("chains.Period", on_delete=models.CASCADE, related_name="+")
    validator_key = models.CharField(max_length=100)
    fingerprint = models.CharField(max_length=64)
    run = models.ForeignKey(NormalizationRun, on_delete=models.CASCADE, related_name="+")
    updated_at = models.DateTimeField(auto_now=True, db_default=Now())

    class Meta:
        db_table = "normalization_inputs"
        constraints = [
            models.UniqueConstraint(
                fields=["chain", "period", "validator_key"], name="normalization_inputs_one_per_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.validator_key} {self.fingerprint[:12]}"


class FindingKind(models.TextChoices):
    VALUE_CHANGED = "VALUE_CHANGED", "Value changed"
    PERIOD_DELTA = "PERIOD_DELTA", "Period-over-period delta"
    MISSING_DATA = "MISSING_DATA", "Missing data"
    PROVIDER_DISAGREEMENT = "PROVIDER_DISAGREEMENT", "Providers disagree"
    INCONSISTENCY = "INCONSISTENCY", "Internal inconsistency"
    UNUSABLE_PAYLOAD = "UNUSABLE_PAYLOAD", "Unusable payload"


class Severity(models.TextChoices):
    INFO = "INFO", "Info"
    WARNING = "WARNING", "Warning"
    ERROR = "ERROR", "Error"


class ReconciliationReport(models.Model):
    """The findings of one normalization run, with their counts per severity."""

    id = uuid_primary_key("report_id")
    run = models.OneToOneField(NormalizationRun, on_delete=models.CASCADE, related_name="report")
    chain = models.ForeignKey("chains.Chain", on_delete=models.CASCADE, related_name="+")
    period = models.ForeignKey("chains.Period", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())
    info_count = models.PositiveIntegerField(default=0, db_default=0)
    warning_count = models.PositiveIntegerField(default=0, db_default=0)
    error_count = models.PositiveIntegerField(default=0, db_default=0)
    summary = models.TextField(default="", blank=True)

    class Meta:
        db_table = "reconciliation_reports"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["chain", "period"], name="idx_recon_reports_period")]

    def __str__(self) -> str:
        return f"reconciliation {self.chain_id} {self.period_id}: {self.error_count} errors"

    @property
    def worst_severity(self) -> str | None:
        if self.error_count:
            return Severity.ERROR
        if self.warning_count:
            return Severity.WARNING
        return Severity.INFO if self.info_count else None


class ReconciliationFinding(models.Model):
    """One thing reconciliation noticed: what, where, how bad, and the numbers behind it."""

    id = uuid_primary_key("finding_id")
    report = models.ForeignKey(ReconciliationReport, on_delete=models.CASCADE, related_name="findings")
    kind = models.CharField(max_length=24, choices=FindingKind.choices)
    severity = models.CharField(max_length=8, choices=Severity.choices)
    chain = models.ForeignKey("chains.Chain", on_delete=models.CASCADE, related_name="+")
    period = models.ForeignKey("chains.Period", on_delete=models.CASCADE, related_name="+")
    validator_key = models.CharField(max_length=100, default="", blank=True)
    data_type = models.CharField(max_length=10, default="", blank=True)
    field = models.CharField(max_length=50, default="", blank=True)
    providers = models.CharField(max_length=200, default="", blank=True)
    expected_value = models.DecimalField(max_digits=48, decimal_places=18, null=True, blank=True)
    observed_value = models.DecimalField(max_digits=48, decimal_places=18, null=True, blank=True)
    delta_pct = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    message = models.TextField()
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        db_table = "reconciliation_findings"
        ordering = ["report", "severity", "kind", "validator_key"]
        constraints = [
            one_of("kind", FindingKind, prefix="reconciliation_findings"),
            one_of("severity", Severity, prefix="reconciliation_findings"),
        ]
        indexes = [
            models.Index(fields=["chain", "period", "severity"], name="idx_findings_period_sev"),
            models.Index(fields=["kind"], name="idx_findings_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.severity} {self.kind} {self.validator_key}: {self.message[:60]}"
