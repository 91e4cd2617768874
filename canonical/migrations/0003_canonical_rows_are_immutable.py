"""The database itself keeps canonical history: rows are never deleted, and a row's values never
change. The only update allowed is superseding a current row (setting superseded_at and
superseded_by once); a superseded row is final."""

from django.db import migrations

TABLES = (
    "canonical_validator_fees",
    "canonical_validator_mev",
    "canonical_stake_rewards",
    "canonical_validator_meta",
)

FUNCTION = """
CREATE OR REPLACE FUNCTION canonical_history_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'canonical rows are never deleted (%): supersede them instead', TG_TABLE_NAME
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF OLD.superseded_at IS NOT NULL THEN
        RAISE EXCEPTION 'a superseded row of % is final', TG_TABLE_NAME
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF (to_jsonb(NEW) - 'superseded_at' - 'superseded_by_id' - 'updated_at')
        IS DISTINCT FROM (to_jsonb(OLD) - 'superseded_at' - 'superseded_by_id' - 'updated_at') THEN
        RAISE EXCEPTION 'values of % rows never change in place: write a new row and supersede this one',
            TG_TABLE_NAME USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$;
"""


def _triggers(create: bool) -> str:
    statements = []
    for table in TABLES:
        statements.append(f"DROP TRIGGER IF EXISTS {table}_history_guard ON {table};")
        if create:
            statements.append(
                f"CREATE TRIGGER {table}_history_guard BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION canonical_history_guard();"
            )
    return "\n".join(statements)


class Migration(migrations.Migration):
    dependencies = [("canonical", "0002_normalization_and_reconciliation")]

    operations = [
        migrations.RunSQL(
            sql=FUNCTION + _triggers(create=True),
            reverse_sql=_triggers(create=False) + "DROP FUNCTION IF EXISTS canonical_history_guard();",
        ),
    ]
