"""The per-period revision of canonical rows (CanonicalPeriodRevision), kept by triggers."""

import django.db.models.deletion
from django.db import migrations, models

# Every statement that inserts or updates canonical rows bumps the revision of the periods it
# touched (statement-level triggers with transition tables: one UPDATE per statement, not per row).
TABLES = ("canonical_validator_fees", "canonical_validator_mev", "canonical_stake_rewards")

FUNCTION = """
CREATE OR REPLACE FUNCTION canonical_period_revision_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO canonical_period_revisions AS r (period_id, revision)
    SELECT DISTINCT period_id, 1 FROM changed_rows
    ON CONFLICT (period_id) DO UPDATE SET revision = r.revision + 1;
    RETURN NULL;
END $$;
"""

TRIGGERS = "".join(
    f"""
CREATE TRIGGER {table}_revision_insert AFTER INSERT ON {table}
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION canonical_period_revision_bump();
CREATE TRIGGER {table}_revision_update AFTER UPDATE ON {table}
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION canonical_period_revision_bump();
INSERT INTO canonical_period_revisions (period_id, revision)
    SELECT DISTINCT period_id, 1 FROM {table}
    ON CONFLICT (period_id) DO UPDATE SET revision = canonical_period_revisions.revision + 1;
"""  # noqa: S608 (the table names are the constants above)
    for table in TABLES
)

REVERSE = (
    "".join(
        f"DROP TRIGGER IF EXISTS {table}_revision_insert ON {table};"
        f"DROP TRIGGER IF EXISTS {table}_revision_update ON {table};"
        for table in TABLES
    )
    + "DROP FUNCTION IF EXISTS canonical_period_revision_bump();"
)


class Migration(migrations.Migration):
    dependencies = [
        ("canonical", "0005_stake_reward_penalties"),
        ("chains", "0002_historicalchain_historicalchainprovidermapping_and_more"),
    ]

    operations = [
        migrations.CreateModel(
            name="CanonicalPeriodRevision",
            fields=[
                (
                    "period",
                    models.OneToOneField(
                        db_column="period_id",
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="chains.period",
                    ),
                ),
                ("revision", models.BigIntegerField(default=0)),
            ],
            options={
                "db_table": "canonical_period_revisions",
            },
        ),
        migrations.RunSQL(FUNCTION + TRIGGERS, REVERSE),
    ]
