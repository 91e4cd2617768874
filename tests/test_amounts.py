"""Amounts survive the database exactly, and payload hashes do not depend on key order."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aurora.common.hashing import canonical_json, sha256_hex
from canonical.models import CanonicalValidatorFees
from tests import factories as f

# Any value NUMERIC(48, 18) can hold: up to 30 integer digits and 18 decimals.
amounts = st.decimals(
    min_value=Decimal(0),
    max_value=Decimal("9" * 30 + "." + "9" * 18),
    places=18,
    allow_nan=False,
    allow_infinity=False,
)


@pytest.mark.django_db
@settings(max_examples=40, deadline=None)
@given(amount=amounts)
def test_any_amount_numeric_48_18_can_hold_round_trips_exactly(amount: Decimal) -> None:
    row = f.CanonicalValidatorFeesFactory(total_fees_native=amount)

    stored = CanonicalValidatorFees.objects.values_list("total_fees_native", flat=True).get(pk=row.pk)

    assert stored == amount
    assert isinstance(stored, Decimal)


@given(
    document=st.dictionaries(
        st.text(max_size=8),
        st.one_of(
            st.integers(), st.text(max_size=8), st.booleans(), st.none(), st.lists(st.integers(), max_size=3)
        ),
        max_size=6,
    )
)
def test_payload_hash_ignores_key_order_and_nothing_else(document: dict[str, object]) -> None:
    reordered = dict(reversed(list(document.items())))

    assert sha256_hex(reordered) == sha256_hex(document)
    assert len(sha256_hex(document)) == 64
    assert sha256_hex({**document, "\x00extra": 1}) != sha256_hex(document)


def test_big_integers_and_decimals_hash_by_their_exact_digits() -> None:
    wei = 123456789012345678901234567890
    assert canonical_json({"value": wei}) == '{"value":123456789012345678901234567890}'
    assert canonical_json({"value": Decimal("1.10")}) == '{"value":"1.10"}'
    assert sha256_hex({"value": wei}) != sha256_hex({"value": wei + 1})
