"""Lines made from rows (api.line_rows) are exactly what the serializers describe: same fields in
the same order, same values, for staff and for partner users, listed (with the breakdown) and on
a statement (without), for regular lines, overrides and adjustments."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.db import connection
from rest_framework.renderers import JSONRenderer

from api.envelope import EnvelopeRenderer
from api.line_rows import fenced, line_documents, line_values
from api.partner_serializers import CommissionLineSerializer, StatementLineSerializer
from commissions.models import CommissionLine
from tests.api.test_api_partners import Book

pytestmark = pytest.mark.django_db

ORDER = ("period__period_end", "agreement__agreement_name", "rule_order", "adjusts_statement__month", "pk")


def as_json(value: object, renderer: JSONRenderer) -> object:
    return json.loads(renderer.render(value))


@pytest.mark.parametrize("partner_view", [True, False])
@pytest.mark.parametrize("breakdown", [True, False])
def test_rows_answer_what_the_serializer_answers(north: Book, partner_view: bool, breakdown: bool) -> None:
    lines = CommissionLine.objects.filter(partner=north.partner)
    north.released_lines[0].breakdown = {"tiers": [{"upto": 10, "rate": 1.50}], "note": "ünïcode"}
    north.released_lines[0].save(update_fields=["breakdown"])
    serializer = CommissionLineSerializer if breakdown else StatementLineSerializer
    models = lines.select_related("chain", "period", "agreement", "statement", "adjusts_statement").order_by(
        *ORDER
    )
    expected = serializer(models, many=True, context={"partner_view": partner_view}).data

    rows = line_values(fenced(lines).order_by(*ORDER), breakdown=breakdown)
    made = line_documents(rows, chains=[north.chain], partner_view=partner_view, breakdown=breakdown)

    assert len(made) == 4 and any(line["adjusts_month"] for line in made)
    assert [list(line) for line in made] == [list(line) for line in expected]
    assert as_json({"data": made, "error": None}, EnvelopeRenderer()) == as_json(
        {"data": expected, "error": None}, JSONRenderer()
    )
    overridden = next(line for line in made if line["override_amount_native"] is not None)
    assert overridden["override_reason"] == (None if partner_view else "agreed goodwill top-up")


def test_the_breakdown_is_sent_as_stored_without_being_parsed(north: Book) -> None:
    line = north.released_lines[0]
    stored = '{"base": "1", "tiers": [{"rate": 1.50}], "big": 123456789012345678901234567890}'
    with connection.cursor() as cursor:  # numbers as PostgreSQL keeps them, not as Python writes them
        cursor.execute(
            "UPDATE partner_commission_lines SET breakdown = %s::jsonb WHERE line_id = %s", [stored, line.pk]
        )
    rows = line_values(fenced(CommissionLine.objects.filter(pk=line.pk)).order_by("pk"), breakdown=True)

    made = line_documents(rows, chains=[north.chain], partner_view=False, breakdown=True)
    body = EnvelopeRenderer().render({"data": made, "error": None})

    assert b'"rate": 1.50' in body  # PostgreSQL's text, not a float round trip
    assert json.loads(body)["data"][0]["breakdown"]["big"] == 123456789012345678901234567890
    assert Decimal(made[0]["base_amount_native"]) == line.base_amount_native
