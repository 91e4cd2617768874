"""Lines written by PostgreSQL (api.line_rows) are exactly what the serializers describe: same fields
in the same order, same values, for staff and for partner users, listed (with the breakdown) and on
a statement (without), for regular lines, overrides and adjustments; amounts and times written as
Python writes them, whatever their digits."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from rest_framework.renderers import JSONRenderer

from api.envelope import EnvelopeRenderer, RawJson
from api.line_rows import line_page, statement_lines
from api.partner_selectors import commission_lines
from api.partner_serializers import CommissionLineSerializer, StatementLineSerializer
from commissions.models import CommissionLine
from tests.api.test_api_partners import Book

pytestmark = pytest.mark.django_db

ORDER = ("period__period_end", "agreement__agreement_name", "rule_order", "adjusts_statement__month", "pk")
RELATIONS = ("chain", "period", "agreement", "statement", "adjusts_statement")


def rendered(value: object, renderer: JSONRenderer) -> object:
    return json.loads(renderer.render({"data": value, "error": None}))


def expected_lines(book: Book, serializer: type, *, partner_view: bool) -> list[dict[str, object]]:
    models = CommissionLine.objects.filter(partner=book.partner).select_related(*RELATIONS).order_by(*ORDER)
    return rendered(
        serializer(models, many=True, context={"partner_view": partner_view}).data, JSONRenderer()
    )["data"]  # type: ignore[index,no-any-return]


def make_awkward(book: Book) -> None:
    """Values whose writing differs easily: a fraction, a zero, a big amount, a time with
    microseconds, non-ASCII text in the breakdown."""
    line = next(line for line in book.released_lines if line.override_amount_native is None)
    line.breakdown = {"tiers": [{"upto": 10, "rate": 1.50}], "note": "ünïcode"}
    line.base_amount_native = Decimal("123456789012345678901234.5")
    line.pre_override_amount_native = line.final_amount_native = Decimal(0)
    line.computed_at = datetime(2025, 9, 4, 11, 0, 0, 7, tzinfo=UTC)
    line.save(
        update_fields=[
            "breakdown",
            "base_amount_native",
            "pre_override_amount_native",
            "final_amount_native",
            "computed_at",
        ]
    )


@pytest.mark.parametrize("partner_view", [True, False])
def test_a_listed_page_is_what_the_serializer_answers(north: Book, partner_view: bool) -> None:
    make_awkward(north)
    expected = expected_lines(north, CommissionLineSerializer, partner_view=partner_view)

    page = line_page(
        CommissionLine.objects.filter(partner=north.partner),
        chain=north.chain,
        partner_view=partner_view,
        limit=50,
        offset=0,
    )
    made = json.loads(page.documents)

    assert page.total == 4 and any(line["adjusts_month"] for line in made)
    assert [list(line) for line in made] == [list(line) for line in expected]
    assert made == expected
    assert rendered(RawJson(page.documents), EnvelopeRenderer())["data"] == expected  # type: ignore[index]
    indented = EnvelopeRenderer().render(
        {"data": RawJson(page.documents), "error": None}, "application/json; indent=2"
    )
    assert json.loads(indented)["data"] == expected  # written by DRF's renderer
    assert "2025-09-04T11:00:00.000007Z" in [line["computed_at"] for line in made]
    overridden = next(line for line in made if line["override_amount_native"] is not None)
    assert overridden["override_reason"] == (None if partner_view else "agreed goodwill top-up")


@pytest.mark.parametrize("partner_view", [True, False])
def test_statement_lines_are_what_the_serializer_answers(north: Book, partner_view: bool) -> None:
    make_awkward(north)
    expected = expected_lines(north, StatementLineSerializer, partner_view=partner_view)

    for statement in (north.released, north.draft):
        lines = CommissionLine.objects.filter(statement=statement)
        regular, adjustments = statement_lines(lines, chain=north.chain, partner_view=partner_view)
        made = [json.loads(line.document) for line in regular + adjustments]
        on_it = [line for line in expected if line["statement_id"] == str(statement.pk)]
        # a statement shows its regular lines, then its adjustments (each in the listed order)
        assert made == sorted(on_it, key=lambda line: line["adjusts_month"] is not None)
        assert [line["adjusts_month"] for line in made] == [None] * len(regular) + ["2025-08"] * len(
            adjustments
        )
        assert [line.final_amount_native for line in regular + adjustments] == [
            Decimal(line["final_amount_native"]) for line in made
        ]
    assert adjustments  # the draft holds the adjustment of August


def test_pages_follow_the_listed_order_and_count_every_line(north: Book) -> None:
    lines = CommissionLine.objects.filter(partner=north.partner)
    assert tuple(commission_lines(north.user, north.partner, north.chain).query.order_by) == ORDER
    expected = [str(pk) for pk in lines.order_by(*ORDER).values_list("pk", flat=True)]

    pages = [
        line_page(lines, chain=north.chain, partner_view=False, limit=1, offset=offset) for offset in range(5)
    ]

    assert [line["line_id"] for page in pages for line in json.loads(page.documents)] == expected
    assert [page.total for page in pages] == [4, 4, 4, 4, 4]  # past the end: counted, empty
    assert pages[4].documents == "[]"
    empty = line_page(lines.none(), chain=north.chain, partner_view=False, limit=50, offset=0)
    assert (empty.total, empty.documents) == (0, "[]")


def test_the_breakdown_is_sent_as_stored_without_being_parsed(north: Book) -> None:
    line = north.released_lines[0]
    stored = '{"base": "1", "tiers": [{"rate": 1.50}], "big": 123456789012345678901234567890}'
    with connection.cursor() as cursor:  # numbers as PostgreSQL keeps them, not as Python writes them
        cursor.execute(
            "UPDATE partner_commission_lines SET breakdown = %s::jsonb WHERE line_id = %s", [stored, line.pk]
        )
    page = line_page(
        CommissionLine.objects.filter(pk=line.pk), chain=north.chain, partner_view=False, limit=50, offset=0
    )
    body = EnvelopeRenderer().render({"data": RawJson(page.documents), "error": None})

    assert b'"rate": 1.50' in body  # PostgreSQL's text, not a float round trip
    made = json.loads(body)["data"][0]
    assert made["breakdown"]["big"] == 123456789012345678901234567890
    assert Decimal(made["base_amount_native"]) == line.base_amount_native
