"""Two exact amount functions for set-based attribution (commissions.services.bases).

- aurora_round_half_even(v, places): NUMERIC rounded half to even, as Python's ROUND_HALF_EVEN
  (PostgreSQL's round() goes half away from zero);
- aurora_amount_text(v): an amount as a breakdown spells it (commissions.engine.attribution.text):
  18 places, half-even, no trailing zeros.

Both are single SQL expressions, IMMUTABLE, so the planner inlines them when the argument is a
column.
"""

from django.db import migrations

SQL = """
CREATE OR REPLACE FUNCTION aurora_round_half_even(v numeric, places integer) RETURNS numeric
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE
        WHEN abs(v - trunc(v, places)) = ('5e-' || (places + 1))::numeric
             AND mod(trunc(v, places) * ('1e' || places)::numeric, 2) = 0
        THEN trunc(v, places)
        ELSE round(v, places)
    END
$$;
CREATE OR REPLACE FUNCTION aurora_amount_text(v numeric) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT trim_scale(aurora_round_half_even(v, 18))::text
$$;
"""

REVERSE = """
DROP FUNCTION IF EXISTS aurora_amount_text(numeric);
DROP FUNCTION IF EXISTS aurora_round_half_even(numeric, integer);
"""


class Migration(migrations.Migration):
    dependencies = [("commissions", "0011_statement_documents")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
