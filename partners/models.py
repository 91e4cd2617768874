"""Partners (introducers) and the staker addresses each one introduced."""

from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import DateTimeRangeField, RangeOperators
from django.db import models
from django.db.models import F, Func, Q
from simple_history.models import HistoricalRecords

from aurora.common.models import TimeStampedModel, one_of, uuid_primary_key


class Partner(TimeStampedModel):
    """An introducer paid commissions under one or more agreements."""

    id = uuid_primary_key("partner_id")
    partner_name = models.CharField(max_length=200)
    legal_entity_name = models.CharField(max_length=200, null=True, blank=True)
    contact_email = models.EmailField(max_length=200)
    contact_name = models.CharField(max_length=200, null=True, blank=True)
    is_active = models.BooleanField(default=True)
    portal_shows_open_amounts = models.BooleanField(
        "show amounts in preparation",
        default=False,
        db_default=False,
        help_text="In the partner portal, show the amounts of statements not yet released, marked "
        "provisional. Off: such statements show as in preparation, without amounts.",
    )

    history = HistoricalRecords()

    class Meta:
        db_table = "partners"
        ordering = ["partner_name"]
        indexes = [
            models.Index(fields=["is_active"], name="idx_partners_active"),
            models.Index(fields=["contact_email"], name="idx_partners_email"),
        ]

    def __str__(self) -> str:
        return self.partner_name


class TsTzRange(Func):
    """tstzrange(lower, upper, bounds), for the overlap constraint on effective dates."""

    function = "TSTZRANGE"
    output_field = DateTimeRangeField()


class ClientKind(models.TextChoices):
    STAKE_ACCOUNT = "STAKE_ACCOUNT", "Stake account"
    WITHDRAW_AUTHORITY = "WITHDRAW_AUTHORITY", "Withdraw authority"


class PartnerClient(TimeStampedModel):
    """An address a partner introduced, counted for that partner while the dates are in force.

    `kind` says whether `address` is a stake account or a withdraw authority (which covers every
    stake account it controls). The database refuses two claims on the same address whose
    effective ranges overlap, whoever the partners: an introduction is paid to one partner only.
    """

    Kind = ClientKind

    id = uuid_primary_key("client_id")
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="clients")
    chain = models.ForeignKey("chains.Chain", on_delete=models.CASCADE, related_name="partner_clients")
    address = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    effective_from = models.DateTimeField()
    effective_until = models.DateTimeField(null=True, blank=True, help_text="Exclusive; empty = open-ended.")
    note = models.TextField(default="", blank=True)

    history = HistoricalRecords()

    class Meta:
        db_table = "partner_clients"
        ordering = ["partner_id", "chain_id", "address", "effective_from"]
        constraints = [
            one_of("kind", ClientKind, prefix="partner_clients"),
            models.CheckConstraint(
                condition=Q(effective_until__isnull=True) | Q(effective_from__lt=F("effective_until")),
                name="partner_clients_from_before_until",
            ),
            ExclusionConstraint(
                name="partner_clients_no_overlapping_claims",
                expressions=[
                    ("chain", RangeOperators.EQUAL),
                    ("address", RangeOperators.EQUAL),
                    (
                        TsTzRange("effective_from", "effective_until", models.Value("[)")),
                        RangeOperators.OVERLAPS,
                    ),
                ],
            ),
        ]
        indexes = [
            models.Index(fields=["chain", "address"], name="idx_partner_clients_address"),
            models.Index(fields=["partner", "chain"], name="idx_partner_clients_partner"),
        ]

    def __str__(self) -> str:
        return f"{self.address} ({self.get_kind_display()}) for {self.partner_id}"
