"""Amounts survive the database exactly, and payload hashes do not depend on key order."""

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aurora.common.hashing import canonical_json, parse_json, sha256_hex
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


json_documents = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**40), max_value=10**40),
        st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, -(2**64) - 1]),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=30),
    ),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@given(document=json_documents, indent=st.sampled_from([None, 1]))
def test_parsed_json_keeps_every_integer_exact_whatever_its_size(
    document: object, indent: int | None
) -> None:
    parsed = parse_json(json.dumps(document, indent=indent).encode("utf-8"))

    assert parsed == document
    assert canonical_json(parsed) == canonical_json(document)  # same types too: 10**30 is not 1e30


@pytest.mark.parametrize(
    "text",
    [
        b"[18446744073709551616]",  # u64 max + 1: orjson would make it a float
        b'{"a": -9223372036854775809}',
        b'{"epoch": "18446744073709551615", "lamports":\n 123456789012345678901234567890}',
    ],
)
def test_integers_beyond_64_bits_stay_integers(text: bytes) -> None:
    parsed = parse_json(text)
    values = parsed if isinstance(parsed, list) else list(parsed.values())

    assert all(not isinstance(value, float) for value in values)
    assert json.loads(text) == parsed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b'{"uptime": NaN}', "NaN is not JSON"),
        (b"[Infinity]", "Infinity is not JSON"),
        (b"[1e400, 123456789012345678901]", "out of range"),
        (b'{"a": 1', "Expecting"),
        (b"<html>502</html>", "Expecting value"),
    ],
)
def test_what_is_not_json_is_refused_in_plain_words(text: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_json(text)


def test_decimal_arithmetic_keeps_48_digit_amounts_exact_in_every_thread() -> None:
    import decimal
    import threading

    big = Decimal("123456789012345678901234567890.123456789012345678")  # NUMERIC(48, 18) at its widest
    results: list[Decimal] = []
    worker = threading.Thread(target=lambda: results.append(big + big))
    worker.start()
    worker.join()

    assert decimal.getcontext().prec >= 60
    assert big + big == results[0] == Decimal("246913578024691357802469135780.246913578024691356")
