"""read_model_changes and the triggers that fill it (serving.models.ReadModelChange)."""

from django.db import migrations, models

# The tables the API's and the portal's answers are made from. Adding a table an answer reads
# means adding it here (in a new migration), or its changes would not reach cached answers.
WATCHED = (
    "chains",
    "canonical_periods",
    "canonical_validator_identities",
    "partners",
    "partner_clients",
    "agreements",
    "agreement_versions",
    "agreement_rules",
    "validator_pnl",
    "partner_commission_statements",
    "partner_commission_lines",
    "partner_statement_documents",
    # Who sees which partner (accounts.access.partner_ids_of).
    "guardian_userobjectpermission",
    "guardian_groupobjectpermission",
)

FUNCTION = """
CREATE OR REPLACE FUNCTION read_model_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO read_model_changes (transaction_id, weight, changed_at)
    VALUES (pg_current_xact_id()::text::bigint, 1, now())
    ON CONFLICT (transaction_id) DO UPDATE SET weight = read_model_changes.weight + 1;
    RETURN NULL;
END $$;
"""

TRIGGERS = "".join(
    f"""
CREATE TRIGGER {table}_read_model_change AFTER INSERT OR UPDATE OR DELETE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION read_model_changed();
CREATE TRIGGER {table}_read_model_truncate AFTER TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION read_model_changed();
"""
    for table in WATCHED
)

REVERSE = (
    "".join(
        f"DROP TRIGGER IF EXISTS {table}_read_model_change ON {table};"
        f"DROP TRIGGER IF EXISTS {table}_read_model_truncate ON {table};"
        for table in WATCHED
    )
    + "DROP FUNCTION IF EXISTS read_model_changed();"
)


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("chains", "0002_historicalchain_historicalchainprovidermapping_and_more"),
        ("canonical", "0006_period_revisions"),
        ("partners", "0003_portal_shows_open_amounts"),
        ("commissions", "0014_lines_without_redundant_indexes"),
        ("guardian", "0003_remove_groupobjectpermission_guardian_gr_content_ae6aec_idx_and_more"),
    ]

    operations = [
        migrations.CreateModel(
            name="ReadModelChange",
            fields=[
                ("transaction_id", models.BigIntegerField(primary_key=True, serialize=False)),
                (
                    "weight",
                    models.BigIntegerField(
                        default=1,
                        help_text="How many committed changes this row stands for (more once compacted).",
                    ),
                ),
                ("changed_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={"db_table": "read_model_changes", "verbose_name": "read model change"},
        ),
        migrations.RunSQL(FUNCTION + TRIGGERS, REVERSE),
    ]
