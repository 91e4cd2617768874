"""Every write of a period's canonical rows bumps its revision (database triggers), whoever
writes: the recompute reads the revision instead of scanning the rows to know they changed."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection

from canonical.models import CanonicalPeriodRevision
from commissions.selectors import input_fingerprint
from tests.commission_world import START, make_world

pytestmark = pytest.mark.django_db


def revision(period: object) -> int:
    found = CanonicalPeriodRevision.objects.filter(period=period).first()
    return found.revision if found else 0


def test_inserting_and_superseding_rows_bump_only_their_period() -> None:
    world = make_world()
    period = world.period(900, START + timedelta(days=3))
    other = world.period(901, START + timedelta(days=6))
    key = "Validator" + "1" * 35
    assert (revision(period), revision(other)) == (0, 0)
    before = input_fingerprint(period)

    world.figures(period, key, fees=Decimal(5), mev=Decimal(7), stake=Decimal(100))  # 3 tables
    after_insert = revision(period)
    assert after_insert == 3 and revision(other) == 0
    assert input_fingerprint(period) != before

    with connection.cursor() as cursor:  # one statement bumps once
        cursor.execute(
            "UPDATE canonical_stake_rewards SET superseded_at = now()"
            " WHERE period_id = %s AND staker_address IS NULL",
            [period.pk],
        )
    assert revision(period) == after_insert + 1
    assert revision(other) == 0
