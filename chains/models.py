"""Chain registry: chains, data providers, which provider serves which role, periods, validators."""

from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from aurora.common.models import TimeStampedModel, one_of, uuid_primary_key


class PeriodType(models.TextChoices):
    EPOCH = "EPOCH", "Epoch"
    BLOCK_WINDOW = "BLOCK_WINDOW", "Block window"
    SLOT_RANGE = "SLOT_RANGE", "Slot range"


class ProviderRole(models.TextChoices):
    """The kind of data a provider supplies (seed: provider_type / provider_role)."""

    FEES = "FEES", "Execution fees"
    MEV = "MEV", "MEV tips"
    REWARDS = "REWARDS", "Staking rewards"
    META = "META", "Validator metadata"
    RPC = "RPC", "Chain RPC"


class Chain(TimeStampedModel):
    """A blockchain network Aurora computes for. Amounts on it are kept in `native_unit`."""

    id = models.CharField(primary_key=True, max_length=50, db_column="chain_id")
    name = models.CharField(max_length=100)
    period_type = models.CharField(max_length=20, choices=PeriodType.choices)
    native_unit = models.CharField(
        max_length=20, help_text="Smallest unit amounts are stored in (lamport, wei)."
    )
    native_decimals = models.PositiveSmallIntegerField(
        help_text="Decimals between the base unit and the token."
    )
    display_symbol = models.CharField(
        max_length=12, default="", blank=True, help_text="Token symbol (SOL, ETH)."
    )
    finality_lag = models.PositiveIntegerField(help_text="Periods behind the head before a period is final.")
    period_length_epochs = models.PositiveIntegerField(
        null=True, blank=True, help_text="BLOCK_WINDOW chains: beacon epochs per period."
    )
    parameters = models.JSONField(
        default=dict, blank=True, help_text="Chain-specific settings from chains.yaml."
    )
    is_active = models.BooleanField(default=True)

    history = HistoricalRecords()

    class Meta:
        db_table = "chains"
        ordering = ["id"]
        constraints = [
            one_of("period_type", PeriodType, prefix="chains"),
            models.CheckConstraint(condition=Q(native_decimals__lte=36), name="chains_native_decimals_range"),
            models.CheckConstraint(
                condition=~Q(period_type=PeriodType.BLOCK_WINDOW) | Q(period_length_epochs__gte=1),
                name="chains_block_window_has_length",
            ),
        ]
        indexes = [models.Index(fields=["is_active"], name="idx_chains_active")]

    def __str__(self) -> str:
        return self.id

    @property
    def period_step(self) -> int:
        """How far apart consecutive period identifiers are: 1 for epochs; a window's length for
        BLOCK_WINDOW chains, whose periods are named by their first epoch."""
        if self.period_type == PeriodType.BLOCK_WINDOW and self.period_length_epochs:
            return int(self.period_length_epochs)
        return 1


class Provider(TimeStampedModel):
    """An external data source. API keys are never stored: `api_key_env` names the variable."""

    id = uuid_primary_key("provider_id")
    provider_name = models.CharField(max_length=50, unique=True)
    provider_type = models.CharField(max_length=20, choices=ProviderRole.choices)
    adapter = models.CharField(
        max_length=100, help_text="Adapter implementing this provider, e.g. solana.rpc."
    )
    base_url = models.TextField(null=True, blank=True)
    api_version = models.CharField(max_length=20, null=True, blank=True)
    api_key_env = models.CharField(
        max_length=100, default="", blank=True, help_text="Environment variable holding the API key, if any."
    )
    options = models.JSONField(default=dict, blank=True, help_text="Adapter options from providers.yaml.")
    is_enabled = models.BooleanField(default=True)
    rate_limit_per_minute = models.PositiveIntegerField(null=True, blank=True)
    timeout_seconds = models.PositiveIntegerField(null=True, blank=True, default=30, db_default=30)

    history = HistoricalRecords()

    class Meta:
        db_table = "providers"
        ordering = ["provider_name"]
        constraints = [
            one_of("provider_type", ProviderRole, prefix="providers"),
            models.CheckConstraint(condition=Q(timeout_seconds__gte=1), name="providers_timeout_positive"),
        ]
        indexes = [
            models.Index(fields=["provider_type"], name="idx_providers_type"),
            models.Index(fields=["is_enabled"], name="idx_providers_enabled"),
        ]

    def __str__(self) -> str:
        return self.provider_name


class ChainProviderMapping(TimeStampedModel):
    """Which provider supplies a role on a chain; priority 1 wins, the next fills its gaps."""

    id = uuid_primary_key("mapping_id")
    chain = models.ForeignKey(Chain, on_delete=models.CASCADE, related_name="provider_mappings")
    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="chain_mappings")
    provider_role = models.CharField(max_length=20, choices=ProviderRole.choices)
    priority = models.PositiveIntegerField(default=1, db_default=1)
    is_active = models.BooleanField(default=True)

    history = HistoricalRecords()

    class Meta:
        db_table = "chain_provider_mappings"
        ordering = ["chain_id", "provider_role", "priority"]
        constraints = [
            # Deferred so a registry sync can reorder priorities inside one transaction.
            models.UniqueConstraint(
                fields=["chain", "provider_role", "priority"],
                name="chain_provider_mappings_unique_priority",
                deferrable=models.Deferrable.DEFERRED,
            ),
            models.UniqueConstraint(
                fields=["chain", "provider", "provider_role"], name="chain_provider_mappings_unique_role"
            ),
            one_of("provider_role", ProviderRole, prefix="chain_provider_mappings"),
            models.CheckConstraint(
                condition=Q(priority__gte=1), name="chain_provider_mappings_priority_gte_1"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.chain_id} {self.provider_role} #{self.priority}"


class Period(TimeStampedModel):
    """A computation period of a chain: a Solana epoch, or a window of Ethereum beacon epochs.

    `first_index`/`last_index` are the inclusive range it covers in the chain's own units
    (slots of an epoch, beacon epochs of a window), so adapters need no extra lookups.
    """

    id = uuid_primary_key("period_id")
    chain = models.ForeignKey(Chain, on_delete=models.CASCADE, related_name="periods")
    period_identifier = models.CharField(max_length=50)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    first_index = models.BigIntegerField(null=True, blank=True)
    last_index = models.BigIntegerField(null=True, blank=True)
    is_finalized = models.BooleanField(default=False)
    finalized_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "canonical_periods"
        ordering = ["chain_id", "-period_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["chain", "period_identifier"], name="canonical_periods_unique_identifier"
            ),
            models.CheckConstraint(
                condition=Q(period_start__lt=F("period_end")), name="canonical_periods_start_before_end"
            ),
            models.CheckConstraint(
                condition=Q(first_index__isnull=True)
                | Q(last_index__isnull=True)
                | Q(first_index__lte=F("last_index")),
                name="canonical_periods_index_range",
            ),
            models.CheckConstraint(
                condition=Q(is_finalized=False) | Q(finalized_at__isnull=False),
                name="canonical_periods_finalized_has_time",
            ),
        ]
        indexes = [
            models.Index(fields=["is_finalized"], name="idx_periods_finalized"),
            models.Index(fields=["chain", "period_start", "period_end"], name="idx_periods_range"),
        ]

    def __str__(self) -> str:
        return f"{self.chain_id}:{self.period_identifier}"


class ValidatorIdentity(TimeStampedModel):
    """A validator the operator runs, with its chain-specific keys; `validator_key` is canonical."""

    id = uuid_primary_key("identity_id")
    chain = models.ForeignKey(Chain, on_delete=models.CASCADE, related_name="validators")
    validator_key = models.CharField(
        max_length=100, help_text="Solana vote account; Ethereum validator pubkey."
    )
    vote_pubkey = models.CharField(max_length=100, null=True, blank=True)
    node_pubkey = models.CharField(max_length=100, null=True, blank=True)
    identity_pubkey = models.CharField(max_length=100, null=True, blank=True)
    fee_recipient = models.CharField(max_length=100, null=True, blank=True)
    display_name = models.CharField(max_length=200, null=True, blank=True)
    is_active = models.BooleanField(default=True)

    history = HistoricalRecords()

    class Meta:
        db_table = "canonical_validator_identities"
        ordering = ["chain_id", "validator_key"]
        verbose_name_plural = "validator identities"
        constraints = [
            models.UniqueConstraint(
                fields=["chain", "validator_key"], name="validator_identities_unique_key"
            ),
        ]
        indexes = [models.Index(fields=["validator_key"], name="idx_validator_identities_key")]

    def __str__(self) -> str:
        return self.display_name or self.validator_key
