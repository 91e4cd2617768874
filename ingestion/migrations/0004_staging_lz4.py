from django.db import migrations

# Raw payloads run to megabytes; lz4 compresses them several times faster than the default pglz.
# PostgreSQL builds without lz4 keep pglz.
FORWARD = """
DO $$
BEGIN
    ALTER TABLE staging_payloads ALTER COLUMN raw_payload SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 is not available in this PostgreSQL build; staging_payloads.raw_payload keeps pglz';
END
$$;
"""
BACKWARD = "ALTER TABLE staging_payloads ALTER COLUMN raw_payload SET COMPRESSION default;"


class Migration(migrations.Migration):
    dependencies = [("ingestion", "0003_staging_gin_path_ops")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
