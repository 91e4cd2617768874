"""Line breakdowns (kilobytes each, 6,000 a period) and client stake snapshots (tens of kilobytes)
compressed with lz4, several times faster than the default pglz, as staging's payloads are.
PostgreSQL builds without lz4 keep pglz."""

from django.db import migrations

COLUMNS = (("partner_commission_lines", "breakdown"), ("client_stake_snapshots", "accounts"))

FORWARD = "".join(
    f"""
DO $$
BEGIN
    ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 is not available in this PostgreSQL build; {table}.{column} keeps pglz';
END
$$;
"""
    for table, column in COLUMNS
)
BACKWARD = "".join(
    f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION default;" for table, column in COLUMNS
)


class Migration(migrations.Migration):
    dependencies = [("commissions", "0012_exact_amount_functions")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
