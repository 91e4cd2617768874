"""Row-level security on partner tables: the database's own wall between partners.

A connection says whom it works for through two settings (see aurora.common.dbscope):
`aurora.role` and `aurora.partner_id`. A PARTNER sees and writes only its own partner's rows;
staff roles and SYSTEM see everything; an unset or ANONYMOUS role sees nothing. FORCE makes the
tables' owner (the application's role) subject to the policies too; only a superuser bypasses
them, and the application must not connect as one.
"""

from django.db import migrations

DIRECT = (
    "partners",
    "partner_clients",
    "agreements",
    "partner_commission_lines",
    "partner_commission_statements",
    "client_stake_snapshots",
)
THROUGH_AGREEMENT = ("agreement_versions", "agreement_rules", "agreement_status_events")

FUNCTION = """
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


def _enable(table: str, condition: str) -> str:
    return (
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;"
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY;"
        f"DROP POLICY IF EXISTS {table}_partner_scope ON {table};"
        f"CREATE POLICY {table}_partner_scope ON {table} USING ({condition}) WITH CHECK ({condition});"
    )


def _disable(table: str) -> str:
    return (
        f"DROP POLICY IF EXISTS {table}_partner_scope ON {table};"
        f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY;"
        f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY;"
    )


SQL = FUNCTION + "".join(
    [_enable(t, "aurora_may_see_partner(partner_id)") for t in DIRECT if t != "partners"]
    + [_enable("partners", "aurora_may_see_partner(partner_id)")]
    + [
        _enable(
            t,
            "EXISTS (SELECT 1 FROM agreements a WHERE a.agreement_id = "
            f"{t}.agreement_id AND aurora_may_see_partner(a.partner_id))",
        )
        for t in THROUGH_AGREEMENT
    ]
)
REVERSE = (
    "".join(_disable(t) for t in (*DIRECT, *THROUGH_AGREEMENT))
    + "DROP FUNCTION IF EXISTS aurora_may_see_partner(uuid);"
)


class Migration(migrations.Migration):
    dependencies = [
        ("commissions", "0005_snapshot_digest"),
        ("partners", "0001_initial"),
    ]

    operations = [migrations.RunSQL(SQL, REVERSE)]
