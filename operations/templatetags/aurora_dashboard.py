"""`{% admin_dashboard as dashboard %}`: the back office home page's sections for the request's user."""

from __future__ import annotations

from typing import Any

from django import template

from aurora.common.admin import amount_html
from operations.dashboard import dashboard_for

register = template.Library()


@register.simple_tag(takes_context=True)
def admin_dashboard(context: template.Context) -> dict[str, Any]:
    request = context.get("request")
    return dashboard_for(getattr(request, "user", None))


@register.filter
def chain_amount(value: Any, chain: Any) -> str:
    """A base-unit amount of `chain`'s native token: whole tokens, with the base units beneath."""
    return amount_html(value, chain.native_decimals, chain.display_symbol, chain.native_unit)
