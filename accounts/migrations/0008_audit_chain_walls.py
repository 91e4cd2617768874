"""The audit log grows only at its head and cannot be emptied.

- BEFORE INSERT: an entry must follow the current head (sequence + 1, previous_hash = its
  change_hash; the first entry sequence 1 after the genesis hash), so nobody can slip an entry
  into the past or start a second chain.
- BEFORE TRUNCATE: refused, except in an explicit maintenance session of the schema owner
  (`manage.py flush`); the application's role has no TRUNCATE privilege at all.
UPDATE and DELETE stay refused (0003).
"""

from django.db import migrations

SQL = r"""
CREATE OR REPLACE FUNCTION audit_log_extends_head() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    head_sequence bigint;
    head_hash text;
BEGIN
    SELECT sequence, change_hash INTO head_sequence, head_hash
      FROM audit_log ORDER BY sequence DESC LIMIT 1;
    IF NOT FOUND THEN
        head_sequence := 0;
        head_hash := repeat('0', 64);
    END IF;
    IF NEW.sequence IS DISTINCT FROM head_sequence + 1 OR NEW.previous_hash IS DISTINCT FROM head_hash THEN
        RAISE EXCEPTION 'the audit log grows only at its head: entry % must follow entry % (hash %)',
            NEW.sequence, head_sequence, head_hash
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS audit_log_extends_head ON audit_log;
CREATE TRIGGER audit_log_extends_head BEFORE INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_extends_head();

CREATE OR REPLACE FUNCTION audit_log_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('aurora.maintenance', true), '') = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only: TRUNCATE is refused'
        USING ERRCODE = 'integrity_constraint_violation';
END
$$;
DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log;
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_no_truncate();
"""

REVERSE = """
DROP TRIGGER IF EXISTS audit_log_extends_head ON audit_log;
DROP FUNCTION IF EXISTS audit_log_extends_head();
DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log;
DROP FUNCTION IF EXISTS audit_log_no_truncate();
"""


class Migration(migrations.Migration):
    dependencies = [("accounts", "0007_audit_change_password")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
