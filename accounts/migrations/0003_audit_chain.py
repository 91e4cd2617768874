"""The audit log becomes a hash chain, append-only in the database."""

from django.db import migrations, models

ACTIONS = [
    "CREATE_AGREEMENT", "UPDATE_AGREEMENT", "DELETE_AGREEMENT", "CREATE_RULE", "UPDATE_RULE", "DELETE_RULE",
    "CHANGE_AGREEMENT_STATUS", "CREATE_OVERRIDE", "UPDATE_OVERRIDE", "CLEAR_OVERRIDE", "REVIEW_OVERRIDE",
    "SUBMIT_STATEMENT", "APPROVE_STATEMENT", "REJECT_STATEMENT", "RELEASE_STATEMENT", "PAY_STATEMENT",
    "EXPORT_STATEMENT", "RECOMPUTE", "INGESTION_RUN", "NORMALIZATION_RUN", "REGISTRY_SYNC",
    "CHANGE_USER_ACCESS", "LOGIN", "LOGIN_FAILED", "LOGOUT",
]

GUARD = """
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % is refused', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END
$$;
DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
"""
UNGUARD = "DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log; DROP FUNCTION IF EXISTS audit_log_append_only();"


def chain_existing_entries(apps, schema_editor):  # type: ignore[no-untyped-def]
    from accounts.chain import GENESIS, document_of, link_hash

    AuditLog = apps.get_model("accounts", "AuditLog")
    previous = GENESIS
    for sequence, entry in enumerate(AuditLog.objects.order_by("timestamp", "pk"), start=1):
        entry.sequence = sequence
        entry.previous_hash = previous
        entry.change_hash = link_hash(previous, document_of(entry))
        entry.save(update_fields=["sequence", "previous_hash", "change_hash"])
        previous = entry.change_hash


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_more_audit_actions")]

    operations = [
        migrations.RemoveConstraint(model_name="auditlog", name="audit_log_action_valid"),
        migrations.AddField(
            model_name="auditlog",
            name="previous_hash",
            field=models.CharField(help_text="The previous entry's change_hash.", max_length=64, null=True),
        ),
        migrations.AddField(
            model_name="auditlog",
            name="sequence",
            field=models.BigIntegerField(help_text="Position in the hash chain, from 1.", null=True),
        ),
        migrations.RunPython(chain_existing_entries, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="auditlog",
            name="previous_hash",
            field=models.CharField(help_text="The previous entry's change_hash.", max_length=64),
        ),
        migrations.AlterField(
            model_name="auditlog",
            name="sequence",
            field=models.BigIntegerField(help_text="Position in the hash chain, from 1.", unique=True),
        ),
        migrations.AlterField(
            model_name="auditlog",
            name="action",
            field=models.CharField(choices=[(a, a) for a in ACTIONS], max_length=32),
        ),
        migrations.AddConstraint(
            model_name="auditlog",
            constraint=models.CheckConstraint(
                condition=models.Q(("action__in", ACTIONS)), name="audit_log_action_valid"
            ),
        ),
        migrations.AddConstraint(
            model_name="auditlog",
            constraint=models.CheckConstraint(
                condition=models.Q(("previous_hash__regex", "^[0-9a-f]{64}$")), name="audit_log_previous_hash_hex"
            ),
        ),
        migrations.RunSQL(GUARD, UNGUARD),
    ]
