"""Computation layer: validator P&L, versioned partner agreements, commission lines, statements."""

from decimal import Decimal

from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Coalesce, Now
from simple_history.models import HistoricalRecords

from aurora.common.dbroles import APPEND_ONLY
from aurora.common.fields import NativeAmountField
from aurora.common.models import (
    TimeStampedModel,
    basis_points,
    non_negative,
    one_of,
    uuid_primary_key,
    whole_units,
)


class RevenueComponent(models.TextChoices):
    EXEC_FEES = "EXEC_FEES", "Execution fees"
    MEV_TIPS = "MEV_TIPS", "MEV tips"
    VOTE_REWARDS = "VOTE_REWARDS", "Vote rewards"
    COMMISSION = "COMMISSION", "Commission"


class AttributionMethod(models.TextChoices):
    CLIENT_REVENUE = "CLIENT_REVENUE", "Client revenue"
    STAKE_WEIGHT = "STAKE_WEIGHT", "Stake weight"
    FIXED_SHARE = "FIXED_SHARE", "Fixed share"


class ValidatorPnl(TimeStampedModel):
    """What one validator earned in one period, by component; the total is their exact sum less
    the penalties the operator's own stake bore. Components and penalties are >= 0; the total is
    negative for a period in which penalties exceeded everything earned."""

    id = uuid_primary_key("pnl_id")
    chain = models.ForeignKey("chains.Chain", on_delete=models.CASCADE, related_name="validator_pnl")
    period = models.ForeignKey("chains.Period", on_delete=models.CASCADE, related_name="validator_pnl")
    validator_key = models.CharField(max_length=100)
    exec_fees_native = NativeAmountField(default=0, db_default=0)
    mev_tips_native = NativeAmountField(default=0, db_default=0)
    vote_rewards_native = NativeAmountField(default=0, db_default=0)
    commission_native = NativeAmountField(default=0, db_default=0)
    penalties_native = NativeAmountField(
        default=0,
        db_default=0,
        help_text="What the protocol took from the operator's own stake in the period (>= 0).",
    )
    total_revenue_native = NativeAmountField()
    computed_at = models.DateTimeField(auto_now_add=True, db_default=Now())

    class Meta:
        db_table = "validator_pnl"
        ordering = ["chain_id", "period_id", "validator_key"]
        verbose_name = "validator P&L"
        verbose_name_plural = "validator P&L"
        constraints = [
            models.UniqueConstraint(
                fields=["chain", "period", "validator_key"], name="validator_pnl_unique_key"
            ),
            *non_negative(
                "exec_fees_native",
                "mev_tips_native",
                "vote_rewards_native",
                "commission_native",
                "penalties_native",
                prefix="validator_pnl",
            ),
            models.CheckConstraint(
                condition=Q(
                    total_revenue_native=F("exec_fees_native")
                    + F("mev_tips_native")
                    + F("vote_rewards_native")
                    + F("commission_native")
                    - F("penalties_native")
                ),
                name="validator_pnl_total_is_sum",
            ),
        ]
        indexes = [
            models.Index(fields=["chain", "period"], name="idx_validator_pnl_chain_period"),
            models.Index(fields=["validator_key"], name="idx_validator_pnl_validator"),
            models.Index(fields=["computed_at"], name="idx_validator_pnl_computed"),
        ]

    def __str__(self) -> str:
        return f"P&L {self.validator_key} {self.total_revenue_native}"


class AgreementStatus(models.TextChoices):
    DRAFT = "DRAFT", "Draft"
    ACTIVE = "ACTIVE", "Active"
    SUSPENDED = "SUSPENDED", "Suspended"
    TERMINATED = "TERMINATED", "Terminated"


class Agreement(TimeStampedModel):
    """A commission contract with a partner; its terms live in numbered versions."""

    Status = AgreementStatus

    id = uuid_primary_key("agreement_id")
    partner = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="agreements")
    agreement_name = models.CharField(max_length=200)
    current_version = models.PositiveIntegerField(default=1, db_default=1)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT)
    effective_from = models.DateTimeField()
    effective_until = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        db_table = "agreements"
        ordering = ["partner_id", "agreement_name"]
        constraints = [
            one_of("status", AgreementStatus, prefix="agreements"),
            models.CheckConstraint(
                condition=Q(current_version__gte=1), name="agreements_current_version_gte_1"
            ),
            models.CheckConstraint(
                condition=Q(effective_until__isnull=True) | Q(effective_from__lt=F("effective_until")),
                name="agreements_from_before_until",
            ),
        ]
        indexes = [
            models.Index(fields=["status"], name="idx_agreements_status"),
            models.Index(fields=["effective_from", "effective_until"], name="idx_agreements_effective"),
        ]

    def __str__(self) -> str:
        return f"{self.agreement_name} (v{self.current_version}, {self.get_status_display()})"


class AgreementVersion(models.Model):
    """One immutable set of terms of an agreement, in force from `effective_from`."""

    id = uuid_primary_key("version_id")
    agreement = models.ForeignKey(Agreement, on_delete=models.CASCADE, related_name="versions")
    version_number = models.PositiveIntegerField()
    effective_from = models.DateTimeField()
    effective_until = models.DateTimeField(null=True, blank=True)
    terms_snapshot = models.JSONField()
    change_reason = models.TextField(default="", blank=True)
    created_by = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="agreement_versions"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())

    class Meta:
        db_table = "agreement_versions"
        ordering = ["agreement_id", "version_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["agreement", "version_number"], name="agreement_versions_unique_number"
            ),
            models.CheckConstraint(
                condition=Q(version_number__gte=1), name="agreement_versions_number_gte_1"
            ),
            models.CheckConstraint(
                condition=Q(effective_until__isnull=True) | Q(effective_from__lt=F("effective_until")),
                name="agreement_versions_from_before_until",
            ),
        ]
        indexes = [
            models.Index(fields=["effective_from", "effective_until"], name="idx_agreement_versions_eff"),
        ]

    def __str__(self) -> str:
        return f"{self.agreement.agreement_name} v{self.version_number}"


class AgreementRule(TimeStampedModel):
    """How one agreement version pays on one revenue component.

    (`agreement`, `version_number`) references `agreement_versions` through a composite foreign
    key added in the migration, so a rule always belongs to an existing version.
    """

    id = uuid_primary_key("rule_id")
    agreement = models.ForeignKey(Agreement, on_delete=models.CASCADE, related_name="rules")
    version_number = models.PositiveIntegerField()
    rule_order = models.PositiveIntegerField()
    chain = models.ForeignKey(
        "chains.Chain", on_delete=models.CASCADE, null=True, blank=True, related_name="agreement_rules"
    )
    validator_key = models.CharField(
        max_length=100, null=True, blank=True, help_text="Empty = every validator."
    )
    revenue_component = models.CharField(max_length=16, choices=RevenueComponent.choices)
    attribution_method = models.CharField(max_length=16, choices=AttributionMethod.choices)
    commission_rate_bps = models.IntegerField()
    floor_amount_native = NativeAmountField(null=True, blank=True)
    cap_amount_native = NativeAmountField(null=True, blank=True)
    tier_config = models.JSONField(null=True, blank=True)
    is_active = models.BooleanField(default=True)

    history = HistoricalRecords()

    class Meta:
        db_table = "agreement_rules"
        ordering = ["agreement_id", "version_number", "rule_order"]
        constraints = [
            models.UniqueConstraint(
                fields=["agreement", "version_number", "rule_order"], name="agreement_rules_unique_order"
            ),
            one_of("revenue_component", RevenueComponent, prefix="agreement_rules"),
            one_of("attribution_method", AttributionMethod, prefix="agreement_rules"),
            basis_points("commission_rate_bps", prefix="agreement_rules"),
            *non_negative("floor_amount_native", "cap_amount_native", prefix="agreement_rules"),
            models.CheckConstraint(
                condition=Q(floor_amount_native__isnull=True)
                | Q(cap_amount_native__isnull=True)
                | Q(floor_amount_native__lte=F("cap_amount_native")),
                name="agreement_rules_floor_not_above_cap",
            ),
        ]
        indexes = [
            models.Index(fields=["validator_key"], name="idx_agreement_rules_validator"),
            models.Index(fields=["is_active"], name="idx_agreement_rules_active"),
        ]

    def __str__(self) -> str:
        return f"rule {self.rule_order}: {self.commission_rate_bps} bps of {self.revenue_component}"


class StatementStatus(models.TextChoices):
    DRAFT = "DRAFT", "Draft"
    PENDING_APPROVAL = "PENDING_APPROVAL", "Pending approval"
    APPROVED = "APPROVED", "Approved"
    RELEASED = "RELEASED", "Released"
    PAID = "PAID", "Paid"


class Statement(TimeStampedModel):
    """A partner's commissions on one chain for one calendar month. Frozen once approved.

    Dual control: the two approvals come from different users, neither of them the preparer;
    the database refuses anything else.
    """

    Status = StatementStatus

    id = uuid_primary_key("statement_id")
    partner = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="statements")
    chain = models.ForeignKey("chains.Chain", on_delete=models.CASCADE, related_name="statements")
    month = models.CharField(max_length=7, help_text="Calendar month YYYY-MM of the periods' ends.")
    total_commission_native = NativeAmountField(default=0, db_default=0)
    line_count = models.PositiveIntegerField(default=0, db_default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    prepared_by = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    first_approved_by = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    first_approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    released_by = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    released_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    metadata = models.JSONField(null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        db_table = "partner_commission_statements"
        ordering = ["-month", "partner_id", "chain_id"]
        constraints = [
            models.UniqueConstraint(fields=["partner", "chain", "month"], name="statements_one_per_month"),
            one_of("status", StatementStatus, prefix="statements"),
            models.CheckConstraint(
                condition=Q(month__regex=r"^[0-9]{4}-(0[1-9]|1[0-2])$"), name="statements_month_format"
            ),
            # The total may be negative: an adjustment can claw back more than the month earned.
            *non_negative("line_count", prefix="statements"),
            *whole_units("total_commission_native", prefix="statements"),
            models.CheckConstraint(
                condition=Q(first_approved_by__isnull=True)
                | Q(approved_by__isnull=True)
                | ~Q(first_approved_by=F("approved_by")),
                name="statements_two_distinct_approvers",
            ),
            models.CheckConstraint(
                condition=Q(prepared_by__isnull=True)
                | (
                    (Q(first_approved_by__isnull=True) | ~Q(first_approved_by=F("prepared_by")))
                    & (Q(approved_by__isnull=True) | ~Q(approved_by=F("prepared_by")))
                ),
                name="statements_preparer_not_approver",
            ),
        ]
        indexes = [
            models.Index(fields=["status"], name="idx_statements_status"),
            models.Index(fields=["chain", "month"], name="idx_statements_chain_month"),
        ]

    def __str__(self) -> str:
        # The partner's name when it is at hand; never a query per row (history lists, inlines).
        partner = self.partner if Statement.partner.is_cached(self) else self.partner_id
        return f"{partner} {self.chain_id} {self.month} ({self.get_status_display()})"


class CommissionLine(TimeStampedModel):
    """What one agreement rule pays a partner for one period, with the basis it was computed on.

    `final_amount_native` is the override when one is set, else the computed amount; the
    database checks it. Payable amounts are whole base units. A line with `adjusts_statement`
    carries a difference found after that statement was frozen.
    """

    id = uuid_primary_key("line_id")
    agreement = models.ForeignKey(Agreement, on_delete=models.PROTECT, related_name="lines")
    agreement_version = models.PositiveIntegerField()
    rule = models.ForeignKey(AgreementRule, on_delete=models.PROTECT, related_name="lines")
    rule_order = models.PositiveIntegerField(
        help_text="The rule's place in its agreement: with the agreement and period, the line's key."
    )
    # partner, chain and statement are indexed by the composite indexes below (which lead with them):
    # a second index per column would only slow down the inserts of a recompute.
    partner = models.ForeignKey(
        "partners.Partner", on_delete=models.PROTECT, related_name="commission_lines", db_index=False
    )
    chain = models.ForeignKey(
        "chains.Chain", on_delete=models.CASCADE, related_name="commission_lines", db_index=False
    )
    period = models.ForeignKey("chains.Period", on_delete=models.CASCADE, related_name="commission_lines")
    validator_key = models.CharField(max_length=100, null=True, blank=True)
    revenue_component = models.CharField(max_length=16, choices=RevenueComponent.choices)
    attribution_method = models.CharField(max_length=16, choices=AttributionMethod.choices)
    base_amount_native = NativeAmountField()
    commission_rate_bps = models.IntegerField()
    pre_override_amount_native = NativeAmountField()
    override_amount_native = NativeAmountField(null=True, blank=True)
    override_reason = models.TextField(null=True, blank=True)
    override_user = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="overrides"
    )
    override_timestamp = models.DateTimeField(null=True, blank=True)
    override_needs_review = models.BooleanField(default=False)
    final_amount_native = NativeAmountField()
    breakdown = models.JSONField(default=dict, blank=True)
    statement = models.ForeignKey(
        Statement, on_delete=models.PROTECT, null=True, blank=True, related_name="lines", db_index=False
    )
    adjusts_statement = models.ForeignKey(
        Statement, on_delete=models.PROTECT, null=True, blank=True, related_name="adjustment_lines"
    )
    computed_at = models.DateTimeField(auto_now_add=True, db_default=Now())

    class Meta:
        db_table = "partner_commission_lines"
        ordering = ["chain_id", "period_id", "partner_id"]
        constraints = [
            one_of("revenue_component", RevenueComponent, prefix="commission_lines"),
            one_of("attribution_method", AttributionMethod, prefix="commission_lines"),
            basis_points("commission_rate_bps", prefix="commission_lines"),
            # Only adjustment lines may be negative: they carry the difference to a frozen line.
            *[
                models.CheckConstraint(
                    condition=Q(adjusts_statement__isnull=False) | Q(**{f"{name}__gte": 0}),
                    name=f"commission_lines_{name}_gte_0",
                )
                for name in (
                    "base_amount_native",
                    "pre_override_amount_native",
                    "override_amount_native",
                    "final_amount_native",
                )
            ],
            models.UniqueConstraint(
                fields=["agreement", "period", "rule_order"],
                condition=Q(adjusts_statement__isnull=True),
                name="commission_lines_one_per_rule",
            ),
            models.UniqueConstraint(
                fields=["agreement", "period", "rule_order", "adjusts_statement", "statement"],
                condition=Q(adjusts_statement__isnull=False),
                name="commission_lines_one_adjustment",
            ),
            *whole_units(
                "pre_override_amount_native",
                "override_amount_native",
                "final_amount_native",
                prefix="commission_lines",
            ),
            models.CheckConstraint(
                condition=Q(
                    final_amount_native=Coalesce(F("override_amount_native"), F("pre_override_amount_native"))
                ),
                name="commission_lines_final_is_override_or_computed",
            ),
            models.CheckConstraint(
                condition=Q(override_amount_native__isnull=True)
                | (
                    Q(override_reason__isnull=False)
                    & ~Q(override_reason="")
                    & Q(override_timestamp__isnull=False)
                ),
                name="commission_lines_override_has_reason",
            ),
        ]
        indexes = [
            models.Index(fields=["statement"], name="idx_commission_lines_statement"),
            models.Index(fields=["partner", "chain"], name="idx_commission_lines_partner"),
            models.Index(fields=["chain", "period"], name="idx_commission_lines_chain_per"),
            models.Index(fields=["validator_key"], name="idx_commission_lines_validator"),
            models.Index(fields=["computed_at"], name="idx_commission_lines_computed"),
        ]

    def __str__(self) -> str:
        amount = Decimal(self.final_amount_native).normalize()
        return f"rule {self.rule_order}, {self.get_revenue_component_display()}: {amount:f}"


class AgreementStatusEvent(models.Model):
    """A status change of an agreement, effective at `effective_at`: the engine pays for a period
    when the agreement was ACTIVE at the period's end, so the timeline is kept, never rewritten."""

    id = uuid_primary_key("status_event_id")
    agreement = models.ForeignKey(Agreement, on_delete=models.CASCADE, related_name="status_events")
    from_status = models.CharField(max_length=12, choices=AgreementStatus.choices)
    to_status = models.CharField(max_length=12, choices=AgreementStatus.choices)
    effective_at = models.DateTimeField()
    reason = models.TextField()
    actor = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())

    class Meta:
        db_table = "agreement_status_events"
        ordering = ["agreement_id", "effective_at", "created_at"]
        constraints = [
            one_of("from_status", AgreementStatus, prefix="agreement_status_events_from"),
            one_of("to_status", AgreementStatus, prefix="agreement_status_events_to"),
        ]
        indexes = [models.Index(fields=["agreement", "effective_at"], name="idx_agreement_status_at")]

    def __str__(self) -> str:
        return f"{self.agreement_id}: {self.from_status} -> {self.to_status} at {self.effective_at:%Y-%m-%d}"


class ComputationStatus(models.TextChoices):
    RUNNING = "RUNNING", "Running"
    SUCCESS = "SUCCESS", "Success"
    FAILED = "FAILED", "Failed"


class ComputationRun(TimeStampedModel):
    """One recompute of one (chain, period): P&L and commission lines, in one transaction.

    `fingerprint` is the SHA-256 of the period's computed lines in key order: the same inputs give
    the same fingerprint, whatever the order of evaluation.
    """

    id = uuid_primary_key("computation_run_id")
    chain = models.ForeignKey("chains.Chain", on_delete=models.CASCADE, related_name="computation_runs")
    period = models.ForeignKey("chains.Period", on_delete=models.CASCADE, related_name="computation_runs")
    status = models.CharField(
        max_length=10, choices=ComputationStatus.choices, default=ComputationStatus.RUNNING
    )
    started_at = models.DateTimeField(auto_now_add=True, db_default=Now())
    completed_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.DecimalField(max_digits=12, decimal_places=3, null=True, blank=True)
    triggered_by = models.CharField(max_length=150, default="", blank=True)
    pnl_written = models.PositiveIntegerField(default=0, db_default=0)
    pnl_unchanged = models.PositiveIntegerField(default=0, db_default=0)
    lines_inserted = models.PositiveIntegerField(default=0, db_default=0)
    lines_updated = models.PositiveIntegerField(default=0, db_default=0)
    lines_unchanged = models.PositiveIntegerField(default=0, db_default=0)
    lines_removed = models.PositiveIntegerField(default=0, db_default=0)
    adjustments_written = models.PositiveIntegerField(default=0, db_default=0)
    overrides_flagged = models.PositiveIntegerField(default=0, db_default=0)
    fingerprint = models.CharField(max_length=64, default="", blank=True)
    input_fingerprint = models.CharField(
        max_length=64, default="", blank=True, help_text="What the period's lines were computed from."
    )
    inputs_unchanged = models.BooleanField(
        default=False, help_text="Nothing changed since the last successful run: nothing was recomputed."
    )
    error_message = models.TextField(null=True, blank=True)

    class Meta:
        db_table = "computation_runs"
        ordering = ["-started_at"]
        constraints = [
            one_of("status", ComputationStatus, prefix="computation_runs"),
            models.CheckConstraint(
                condition=Q(completed_at__isnull=True) | Q(completed_at__gte=F("started_at")),
                name="computation_runs_completed_after_start",
            ),
        ]
        indexes = [
            models.Index(fields=["chain", "period", "-started_at"], name="idx_computation_runs_period")
        ]

    def __str__(self) -> str:
        return f"recompute {self.chain_id} {self.period_id} {self.status}"


class ClientStakeSnapshot(models.Model):
    """A partner's clients' stake accounts in one period, as the engine used them: the stake-account
    level of every line of that partner and period (lines keep per-validator figures). Kept with
    the lines, so a line can be explained down to stake accounts even after the clients change."""

    id = uuid_primary_key("snapshot_id")
    partner = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="stake_snapshots")
    chain = models.ForeignKey("chains.Chain", on_delete=models.CASCADE, related_name="+")
    period = models.ForeignKey(
        "chains.Period", on_delete=models.CASCADE, related_name="client_stake_snapshots"
    )
    account_count = models.PositiveIntegerField(default=0, db_default=0)
    introduced_stake_native = NativeAmountField(default=0, db_default=0)
    accounts = models.JSONField(
        default=dict,
        blank=True,
        help_text="{validator: [[stake account, withdraw authority, client, stake, rewards, commission]]}",
    )
    digest = models.CharField(
        max_length=32, default="", blank=True, help_text="MD5 of the accounts as computed."
    )
    computed_at = models.DateTimeField(auto_now=True, db_default=Now())

    class Meta:
        db_table = "client_stake_snapshots"
        ordering = ["period_id", "partner_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "period"], name="client_stake_snapshots_one_per_period"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.partner_id} {self.period_id}: {self.account_count} stake accounts"


class DocumentFormat(models.TextChoices):
    PARTNER_CSV = "csv", "Partner CSV"
    PARTNER_PDF = "pdf", "Partner PDF"
    FINANCE_CSV = "finance-csv", "Finance CSV"


class StatementDocument(models.Model):
    """A released statement's document, rendered once at release and served byte for byte after:
    renaming a partner, an agreement or a rule later changes none of its bytes."""

    database_privileges = APPEND_ONLY  # never edited, never deleted

    id = uuid_primary_key("document_id")
    statement = models.ForeignKey(Statement, on_delete=models.PROTECT, related_name="documents")
    partner = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="+")
    document_format = models.CharField(max_length=16, choices=DocumentFormat.choices)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    content = models.BinaryField()
    sha256 = models.CharField(max_length=64, help_text="SHA-256 of the content, hex.")
    size = models.PositiveIntegerField()
    snapshot = models.JSONField(
        default=dict, help_text="What the document was rendered from: names, versions, totals."
    )
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())

    class Meta:
        db_table = "partner_statement_documents"
        ordering = ["statement_id", "document_format"]
        constraints = [
            models.UniqueConstraint(
                fields=["statement", "document_format"], name="statement_documents_one_per_format"
            ),
            one_of("document_format", DocumentFormat, prefix="statement_documents"),
        ]

    def __str__(self) -> str:
        return f"{self.filename} ({self.sha256[:12]}…)"
