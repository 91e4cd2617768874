"""Amounts for people: base units (lamports, wei) shown as whole tokens, exactly."""

from __future__ import annotations

from decimal import Decimal
from typing import Any


def token_amount(value: Any, decimals: int, symbol: str = "") -> str:
    """A base-unit amount in whole tokens with all its decimals, e.g. 1500000000 -> '1.5 SOL'."""
    if value is None:
        return "-"
    tokens = (Decimal(value).scaleb(-decimals)).normalize()
    text = f"{tokens:,f}"
    return f"{text} {symbol}".strip()


def base_units(value: Any) -> str:
    """A base-unit amount with thousands separators and no exponent, e.g. '1,500,000,000'."""
    return f"{Decimal(value).normalize():,f}"


def plain_amount(value: Decimal) -> str:
    """A machine-readable amount: 40000000, 12.5, -3 (no exponent, no trailing zeros, no
    separators): CSV cells and API strings."""
    return format(value.normalize(), "f") if value else "0"
