"""Amounts leave the API as strings of base units (never JSON numbers, which lose precision),
next to the chain's unit and decimals so a client can show whole tokens. What a client sends is
read as the schema declares it: an integer field takes a JSON integer, a string field a string,
never a value DRF would otherwise convert (`"500"` as basis points, `12` as a name)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any
from uuid import UUID

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from aurora.common.amounts import plain_amount

AMOUNT_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"


@extend_schema_field(
    {
        "type": "string",
        "pattern": AMOUNT_PATTERN,
        "description": "An amount in the chain's base units (lamports, wei) as a decimal string.",
        "example": "40000000",
    }
)
class AmountField(serializers.Field):  # type: ignore[type-arg]
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value: Decimal) -> str:
        return plain_amount(Decimal(value))


MAX_WHOLE_AMOUNT_DIGITS = 30
MAX_WHOLE_AMOUNT_TEXT = 64  # leading zeros included
WHOLE_AMOUNT_TEXT = re.compile(rf"0*[0-9]{{1,{MAX_WHOLE_AMOUNT_DIGITS}}}")


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "pattern": rf"^0*[0-9]{{1,{MAX_WHOLE_AMOUNT_DIGITS}}}$", "maxLength": 64},
            {"type": "integer", "minimum": 0, "maximum": 10**MAX_WHOLE_AMOUNT_DIGITS - 1},
        ],
        "description": "A whole number of base units: a decimal string (at most 30 significant digits; "
        "a string keeps every digit in any client) or a JSON integer.",
        "example": "40000000",
    }
)
class WholeAmountInputField(serializers.Field):  # type: ignore[type-arg]
    """An amount a client sends: whole base units, as a string or an integer (never a float)."""

    default_error_messages = {
        "invalid": 'Send a whole number of base units as a string, e.g. "40000000".',
        "too_large": "At most 30 digits.",
    }

    def to_internal_value(self, data: Any) -> Decimal:
        if isinstance(data, bool) or not isinstance(data, str | int):
            self.fail("invalid")
        if isinstance(data, int):
            if data < 0:
                self.fail("invalid")
            if data >= 10**MAX_WHOLE_AMOUNT_DIGITS:
                self.fail("too_large")
            return Decimal(data)
        if len(data) > MAX_WHOLE_AMOUNT_TEXT:
            self.fail("too_large")
        if not data.isascii() or not data.isdigit():
            self.fail("invalid")
        if not WHOLE_AMOUNT_TEXT.fullmatch(data):
            self.fail("too_large")
        return Decimal(data)

    def to_representation(self, value: Any) -> str:
        return plain_amount(Decimal(value))


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer only: a string of digits, a boolean or a float is refused, not converted."""

    default_error_messages = {
        "invalid": "A whole number is required: a JSON integer such as 500, not a string."
    }

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return int(super().to_internal_value(data))


class StrictCharField(serializers.CharField):
    """A JSON string only: a number or a boolean is refused, not turned into its text."""

    default_error_messages = {"invalid": "A string is required."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


class StrictUUIDField(serializers.UUIDField):
    """A UUID as a JSON string only (DRF would also read an integer as a UUID)."""

    def to_internal_value(self, data: Any) -> UUID:
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


class ChainUnitSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """How to read the amounts next to it."""

    chain_id = serializers.CharField(source="pk")
    native_unit = serializers.CharField()
    native_decimals = serializers.IntegerField()
    symbol = serializers.SerializerMethodField()

    def get_symbol(self, chain: Any) -> str:
        return str(chain.display_symbol or chain.native_unit)
