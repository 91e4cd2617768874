"""The history of partner tables (django-simple-history) is partner data too: the same
row-level security as the tables themselves (see 0006)."""

from django.db import migrations

DIRECT = (
    "commissions_historicalagreement",
    "commissions_historicalstatement",
    "partners_historicalpartner",
    "partners_historicalpartnerclient",
)
THROUGH_AGREEMENT = ("commissions_historicalagreementrule",)


def _enable(table: str, condition: str) -> str:
    return (
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;"
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY;"
        f"CREATE POLICY {table}_partner_scope ON {table} USING ({condition}) WITH CHECK ({condition});"
    )


SQL = "".join(
    [_enable(t, "aurora_may_see_partner(partner_id)") for t in DIRECT]
    + [
        _enable(
            t,
            "EXISTS (SELECT 1 FROM agreements a WHERE a.agreement_id = "
            f"{t}.agreement_id AND aurora_may_see_partner(a.partner_id))",
        )
        for t in THROUGH_AGREEMENT
    ]
)
REVERSE = "".join(
    f"DROP POLICY IF EXISTS {t}_partner_scope ON {t}; ALTER TABLE {t} NO FORCE ROW LEVEL SECURITY; "
    f"ALTER TABLE {t} DISABLE ROW LEVEL SECURITY;"
    for t in (*DIRECT, *THROUGH_AGREEMENT)
)


class Migration(migrations.Migration):
    dependencies = [
        ("commissions", "0007_historicalagreement_historicalagreementrule_and_more"),
        ("partners", "0002_historicalpartner_historicalpartnerclient"),
    ]

    operations = [migrations.RunSQL(SQL, REVERSE)]
