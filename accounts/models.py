"""Users (the custom AUTH_USER_MODEL) and the audit trail."""

from django.contrib.auth.models import AbstractUser
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone

from aurora.common.dbroles import APPEND_ONLY
from aurora.common.models import TimeStampedModel, one_of, uuid_primary_key


class Role(models.TextChoices):
    ADMIN = "ADMIN", "Admin"
    FINANCE = "FINANCE", "Finance"
    OPS = "OPS", "Operations"
    PARTNER = "PARTNER", "Partner"
    AUDITOR = "AUDITOR", "Auditor"


class User(TimeStampedModel, AbstractUser):
    """A person using Aurora. `role` decides what they may do; a PARTNER user belongs to a partner.

    `allowed_chain_ids` / `allowed_validator_keys` narrow any role when non-empty.
    An AUDITOR's access ends at `access_expires_at`.
    """

    id = uuid_primary_key("user_id")
    email = models.EmailField(max_length=200, unique=True)
    password = models.CharField("password", max_length=255, db_column="password_hash")
    last_login = models.DateTimeField("last login", null=True, blank=True, db_column="last_login_at")
    role = models.CharField(max_length=10, choices=Role.choices)
    partner = models.ForeignKey(
        "partners.Partner", on_delete=models.SET_NULL, null=True, blank=True, related_name="users"
    )
    allowed_chain_ids = ArrayField(models.CharField(max_length=50), default=list, blank=True)
    allowed_validator_keys = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    access_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "users"
        ordering = ["username"]
        constraints = [
            one_of("role", Role, prefix="users"),
            models.CheckConstraint(
                condition=Q(partner__isnull=True) | Q(role=Role.PARTNER),
                name="users_partner_only_for_partner_role",
            ),
        ]
        indexes = [
            models.Index(fields=["role"], name="idx_users_role"),
            models.Index(fields=["is_active"], name="idx_users_active"),
        ]

    def __str__(self) -> str:
        return self.username


class AuditAction(models.TextChoices):
    CREATE_AGREEMENT = "CREATE_AGREEMENT", "Create agreement"
    UPDATE_AGREEMENT = "UPDATE_AGREEMENT", "Update agreement"
    DELETE_AGREEMENT = "DELETE_AGREEMENT", "Delete agreement"
    CREATE_RULE = "CREATE_RULE", "Create rule"
    UPDATE_RULE = "UPDATE_RULE", "Update rule"
    DELETE_RULE = "DELETE_RULE", "Delete rule"
    CHANGE_AGREEMENT_STATUS = "CHANGE_AGREEMENT_STATUS", "Change agreement status"
    CREATE_OVERRIDE = "CREATE_OVERRIDE", "Create override"
    UPDATE_OVERRIDE = "UPDATE_OVERRIDE", "Update override"
    CLEAR_OVERRIDE = "CLEAR_OVERRIDE", "Clear override"
    REVIEW_OVERRIDE = "REVIEW_OVERRIDE", "Review override"
    SUBMIT_STATEMENT = "SUBMIT_STATEMENT", "Submit statement"
    APPROVE_STATEMENT = "APPROVE_STATEMENT", "Approve statement"
    REJECT_STATEMENT = "REJECT_STATEMENT", "Reject statement"
    RELEASE_STATEMENT = "RELEASE_STATEMENT", "Release statement"
    PAY_STATEMENT = "PAY_STATEMENT", "Mark statement paid"
    EXPORT_STATEMENT = "EXPORT_STATEMENT", "Export statement"
    RECOMPUTE = "RECOMPUTE", "Recompute"
    INGESTION_RUN = "INGESTION_RUN", "Ingestion run"
    NORMALIZATION_RUN = "NORMALIZATION_RUN", "Normalization run"
    REGISTRY_SYNC = "REGISTRY_SYNC", "Registry sync"
    CHANGE_USER_ACCESS = "CHANGE_USER_ACCESS", "Change user access"
    CHANGE_PASSWORD = "CHANGE_PASSWORD", "Change password"
    LOGIN = "LOGIN", "Login"
    LOGIN_FAILED = "LOGIN_FAILED", "Failed login"
    LOGOUT = "LOGOUT", "Logout"


class AuditLog(models.Model):
    """An append-only record of a sensitive action, with before/after snapshots.

    Entries form a hash chain: `change_hash` is the SHA-256 of the previous entry's hash and this
    entry's canonical JSON, in `sequence` order, so changing or removing any entry breaks every
    link after it (`manage.py verify_audit_chain`). The database refuses UPDATE and DELETE.
    """

    Action = AuditAction
    database_privileges = APPEND_ONLY

    id = uuid_primary_key("log_id")
    sequence = models.BigIntegerField(unique=True, help_text="Position in the hash chain, from 1.")
    previous_hash = models.CharField(max_length=64, help_text="The previous entry's change_hash.")
    user = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="audit_entries"
    )
    action = models.CharField(max_length=32, choices=Action.choices)
    resource_type = models.CharField(max_length=50)
    resource_id = models.CharField(max_length=100, null=True, blank=True)
    before_snapshot = models.JSONField(null=True, blank=True)
    after_snapshot = models.JSONField(null=True, blank=True)
    change_hash = models.CharField(max_length=64)
    reason = models.TextField(null=True, blank=True)
    correlation_id = models.UUIDField()
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.TextField(null=True, blank=True)
    timestamp = models.DateTimeField(default=timezone.now, db_default=Now())

    class Meta:
        db_table = "audit_log"
        ordering = ["-timestamp"]
        constraints = [
            one_of("action", AuditAction, prefix="audit_log"),
            models.CheckConstraint(
                condition=Q(change_hash__regex=r"^[0-9a-f]{64}$"), name="audit_log_change_hash_hex"
            ),
            models.CheckConstraint(
                condition=Q(previous_hash__regex=r"^[0-9a-f]{64}$"), name="audit_log_previous_hash_hex"
            ),
        ]
        indexes = [
            models.Index(fields=["action"], name="idx_audit_log_action"),
            models.Index(fields=["resource_type", "resource_id"], name="idx_audit_log_resource"),
            models.Index(fields=["timestamp"], name="idx_audit_log_timestamp"),
            models.Index(fields=["correlation_id"], name="idx_audit_log_correlation"),
        ]

    def __str__(self) -> str:
        return f"{self.timestamp:%Y-%m-%d %H:%M:%S} {self.action} {self.resource_type}:{self.resource_id}"
