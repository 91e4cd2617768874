"""Who a user is to the answers: a change of role, partner, chain or validator narrowing, activity
or group membership moves the data version, so an answer kept for a user (keyed by the user's id,
serving.answers) is never replayed after that user's access changed. A sign-in (last_login) or a
password change does not move it: row triggers with a WHEN clause, not statement triggers."""

from django.db import migrations

ACCESS_COLUMNS = (
    "role",
    "partner_id",
    "is_active",
    "is_staff",
    "is_superuser",
    "allowed_chain_ids",
    "allowed_validator_keys",
)

CHANGED = " OR ".join(f"OLD.{column} IS DISTINCT FROM NEW.{column}" for column in ACCESS_COLUMNS)

FORWARD = f"""
CREATE TRIGGER users_access_read_model_change AFTER UPDATE OF {", ".join(ACCESS_COLUMNS)} ON users
    FOR EACH ROW WHEN ({CHANGED}) EXECUTE FUNCTION read_model_changed();
CREATE TRIGGER users_removed_read_model_change AFTER DELETE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION read_model_changed();
CREATE TRIGGER users_groups_read_model_change AFTER INSERT OR UPDATE OR DELETE ON users_groups
    FOR EACH STATEMENT EXECUTE FUNCTION read_model_changed();
CREATE TRIGGER users_groups_read_model_truncate AFTER TRUNCATE ON users_groups
    FOR EACH STATEMENT EXECUTE FUNCTION read_model_changed();
"""

REVERSE = """
DROP TRIGGER IF EXISTS users_access_read_model_change ON users;
DROP TRIGGER IF EXISTS users_removed_read_model_change ON users;
DROP TRIGGER IF EXISTS users_groups_read_model_change ON users_groups;
DROP TRIGGER IF EXISTS users_groups_read_model_truncate ON users_groups;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("serving", "0002_compaction_schedule"),
        ("accounts", "0008_audit_chain_walls"),
    ]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
