"""Row-level security that a session cannot lift: the policies believe a signed scope ticket only.

Until now the policies read two settings any SQL on the connection could change (`aurora.role`,
`aurora.partner_id`) and let every role but PARTNER and ANONYMOUS see everything. Now they ask
`aurora_scope_partner()`, a SECURITY DEFINER function of the schema owner that checks the ticket
in `aurora.scope` (see aurora.common.dbscope) against pads of the application's key kept in
`aurora_private.scope_key`, a table the application's role cannot read. It answers the partner of
a valid partner ticket, the nil UUID for a valid all-partners ticket (and for the schema owner's
own sessions: backups, migrations), and NULL for anything else: a missing, malformed, forged or
borrowed ticket sees no partner rows (fail closed).

The scope is evaluated once per statement (`(SELECT aurora_scope_partner())` is an InitPlan).
The pads are NULL until `migrate` writes them (aurora.common.dbscope.store_scope_key).
"""

from django.db import migrations

NIL = "'00000000-0000-0000-0000-000000000000'::uuid"
SCOPE = "(SELECT aurora_scope_partner())"

DIRECT = (
    "partners",
    "partner_clients",
    "agreements",
    "partner_commission_lines",
    "partner_commission_statements",
    "client_stake_snapshots",
    "commissions_historicalagreement",
    "commissions_historicalstatement",
    "partners_historicalpartner",
    "partners_historicalpartnerclient",
)
THROUGH_AGREEMENT = (
    "agreement_versions",
    "agreement_rules",
    "agreement_status_events",
    "commissions_historicalagreementrule",
)

PRIVATE = """
CREATE SCHEMA IF NOT EXISTS aurora_private;
REVOKE ALL ON SCHEMA aurora_private FROM PUBLIC;
CREATE TABLE IF NOT EXISTS aurora_private.scope_key (
    id smallint PRIMARY KEY CHECK (id = 1),
    owner_role name,
    inner_pad bytea CHECK (octet_length(inner_pad) = 64),
    outer_pad bytea CHECK (octet_length(outer_pad) = 64),
    updated_at timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON aurora_private.scope_key FROM PUBLIC;
INSERT INTO aurora_private.scope_key (id, owner_role) VALUES (1, current_user) ON CONFLICT (id) DO NOTHING;
"""

FUNCTION = f"""
CREATE OR REPLACE FUNCTION aurora_scope_partner() RETURNS uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    ticket text := coalesce(current_setting('aurora.scope', true), '');
    parts text[];
    stored aurora_private.scope_key%ROWTYPE;
BEGIN
    SELECT * INTO stored FROM aurora_private.scope_key WHERE id = 1;
    IF stored.owner_role IS NOT NULL AND session_user = stored.owner_role THEN
        RETURN {NIL};
    END IF;
    IF ticket = '' OR stored.inner_pad IS NULL OR stored.outer_pad IS NULL THEN
        RETURN NULL;
    END IF;
    parts := string_to_array(ticket, ':');
    IF cardinality(parts) <> 5 OR parts[1] <> 'v1' OR parts[4] <> pg_backend_pid()::text THEN
        RETURN NULL;
    END IF;
    IF encode(sha256(stored.outer_pad || sha256(stored.inner_pad
            || convert_to(array_to_string(parts[1:4], ':'), 'UTF8'))), 'hex') <> parts[5] THEN
        RETURN NULL;
    END IF;
    IF parts[2] = 'all' AND parts[3] = '-' THEN
        RETURN {NIL};
    END IF;
    IF parts[2] = 'partner'
            AND parts[3] ~ '^[0-9a-f]{{8}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{12}}$' THEN
        RETURN parts[3]::uuid;
    END IF;
    RETURN NULL;
END
$$;
"""


def _policy(table: str, condition: str) -> str:
    return (
        f"DROP POLICY IF EXISTS {table}_partner_scope ON {table};"
        f"CREATE POLICY {table}_partner_scope ON {table} USING ({condition}) WITH CHECK ({condition});"
    )


# One InitPlan per table reference: the row's partner, or every partner (the nil UUID).
def _sees(column: str) -> str:
    return f"{SCOPE} IN ({column}, {NIL})"


POLICIES = "".join(
    [_policy(t, _sees("partner_id")) for t in DIRECT]
    + [
        _policy(
            t,
            f"EXISTS (SELECT 1 FROM agreements a WHERE a.agreement_id = {t}.agreement_id "
            f"AND {_sees('a.partner_id')})",
        )
        for t in THROUGH_AGREEMENT
    ]
)

OLD_POLICIES = "".join(
    [_policy(t, "aurora_may_see_partner(partner_id)") for t in DIRECT]
    + [
        _policy(
            t,
            "EXISTS (SELECT 1 FROM agreements a WHERE a.agreement_id = "
            f"{t}.agreement_id AND aurora_may_see_partner(a.partner_id))",
        )
        for t in THROUGH_AGREEMENT
    ]
)

OLD_FUNCTION = """
CREATE OR REPLACE FUNCTION aurora_may_see_partner(partner uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT CASE coalesce(current_setting('aurora.role', true), '')
        WHEN '' THEN false
        WHEN 'ANONYMOUS' THEN false
        WHEN 'PARTNER' THEN partner::text = current_setting('aurora.partner_id', true)
        ELSE true
    END
$$;
"""

SQL = PRIVATE + FUNCTION + POLICIES + "DROP FUNCTION IF EXISTS aurora_may_see_partner(uuid);"
REVERSE = (
    OLD_FUNCTION
    + OLD_POLICIES
    + "DROP FUNCTION IF EXISTS aurora_scope_partner(); DROP SCHEMA IF EXISTS aurora_private CASCADE;"
)


class Migration(migrations.Migration):
    dependencies = [("commissions", "0009_pnl_penalties")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
