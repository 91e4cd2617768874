"""Amounts, rates and statuses as the portal shows them."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from aurora.common.amounts import base_units, token_amount
from commissions.models import StatementStatus
from portal.terms import percent

register = template.Library()

STATUS_TEXT = {
    StatementStatus.DRAFT: "In preparation",
    StatementStatus.PENDING_APPROVAL: "In preparation",
    StatementStatus.APPROVED: "Approved, to be released",
    StatementStatus.RELEASED: "Released",
    StatementStatus.PAID: "Paid",
}


SHOWN_FRACTION = Decimal("0.01")


@register.filter
def amount(value: Any, chain: Any) -> SafeString:
    """Whole tokens, with the exact base units beneath. An amount with a fraction of a base unit
    (a base or a client's reward, computed to 18 places) shows two places of the base unit, marked
    approximate, with the exact figure in its tooltip; payable amounts are always whole."""
    if value is None:
        return format_html("{}", "—")
    value = Decimal(value)
    if value != value.to_integral_value():
        symbol = chain.display_symbol or chain.native_unit
        return format_html(
            '<span class="amount exact" title="exactly {} {}"><span class="tokens">≈ {}</span> '
            '<span class="base">≈ {} {}</span></span>',
            base_units(value),
            chain.native_unit,
            token_amount(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN), chain.native_decimals, symbol),
            base_units(value.quantize(SHOWN_FRACTION, rounding=ROUND_HALF_EVEN)),
            chain.native_unit,
        )
    return format_html(
        '<span class="amount"><span class="tokens">{}</span> <span class="base">{} {}</span></span>',
        token_amount(value, chain.native_decimals, chain.display_symbol or chain.native_unit),
        base_units(value),
        chain.native_unit,
    )


@register.filter
def tokens(value: Any, chain: Any) -> str:
    return token_amount(value, chain.native_decimals, chain.display_symbol or chain.native_unit)


@register.filter
def rate(bps: Any) -> str:
    return percent(int(bps))


@register.filter
def statement_status(status: str) -> str:
    return str(STATUS_TEXT.get(status, status))  # type: ignore[call-overload]


@register.filter
def share(part: Any, whole: Any) -> str:
    """`part` as a percentage of `whole`, two decimals ("—" when there is no whole)."""
    if not whole:
        return "—"
    return f"{Decimal(part) * 100 / Decimal(whole):.2f}%"


@register.filter
def get_item(mapping: Any, key: Any) -> Any:
    return mapping.get(key) if mapping else None
