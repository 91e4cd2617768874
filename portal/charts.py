"""Commissions over time as a server-rendered SVG bar chart: no script, readable by screen readers
(a title, a description and a label per bar), exact amounts in each bar's tooltip."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import slugify

from aurora.common.amounts import base_units, token_amount
from chains.models import Chain
from portal.selectors import MonthRow

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 88, 12, 14, 34


def _at(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.1'), rounding=ROUND_HALF_UP):f}"


def _short(value: Decimal, chain: Chain) -> str:
    """An axis label: whole tokens with at most 4 decimals (the bars' tooltips are exact)."""
    tokens = value.scaleb(-chain.native_decimals)
    rounded = (
        tokens.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP) if tokens < 1000 else tokens.quantize(1)
    )
    return f"{rounded.normalize():,f} {chain.display_symbol or chain.native_unit}"


def monthly_bars(rows: Sequence[MonthRow], chain: Chain) -> SafeString:
    """One bar per month (oldest left); provisional months are drawn hatched and say so."""
    if not rows:
        return format_html("{}", "")
    symbol = chain.display_symbol or chain.native_unit
    key = slugify(str(chain.pk)) or "chain"  # ids unique when a partner has several chains
    highest = max((row.statement.total_commission_native for row in rows), default=Decimal(0)) or Decimal(1)
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = Decimal(plot_width) / len(rows)
    bar = min(slot * Decimal("0.7"), Decimal(56))
    bars = []
    for index, row in enumerate(rows):
        amount = row.statement.total_commission_native
        height = Decimal(plot_height) * amount / highest
        x = Decimal(LEFT) + slot * index + (slot - bar) / 2
        y = Decimal(TOP) + Decimal(plot_height) - height
        state = "provisional" if row.provisional else "released"
        label = (
            f"{row.month}: {token_amount(amount, chain.native_decimals, symbol)} "
            f"({base_units(amount)} {chain.native_unit}), {state}"
        )
        bars.append(
            (
                _at(x),
                _at(y),
                _at(bar),
                _at(height),
                "bar provisional" if row.provisional else "bar",
                f"url(#hatch-{key})" if row.provisional else "currentColor",
                label,
                _at(x + bar / 2),
                HEIGHT - BOTTOM + 16,
                row.month,
            )
        )
    body = format_html_join(
        "",
        '<g role="listitem" aria-label="{6}"><rect x="{0}" y="{1}" width="{2}" height="{3}" class="{4}" '
        'fill="{5}"><title>{6}</title></rect>'
        '<text x="{7}" y="{8}" class="axis" text-anchor="middle">{9}</text></g>',
        bars,
    )
    return format_html(
        '<svg class="chart" viewBox="0 0 {} {}" role="img" aria-labelledby="chart-{}-title chart-{}-desc">'
        '<title id="chart-{}-title">Commissions per month on {}</title>'
        '<desc id="chart-{}-desc">{} months; the highest is {}. Hatched bars are provisional.</desc>'
        '<defs><pattern id="hatch-{}" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="3" height="6" class="hatch"/></pattern></defs>'
        '<line x1="{}" y1="{}" x2="{}" y2="{}" class="gridline"/>'
        '<text x="{}" y="{}" class="axis" text-anchor="end">{}</text>'
        '<text x="{}" y="{}" class="axis" text-anchor="end">0</text>'
        '<g role="list">{}</g></svg>',
        WIDTH,
        HEIGHT,
        key,
        key,
        key,
        chain.name,
        key,
        len(rows),
        _short(highest, chain),
        key,
        LEFT,
        TOP,
        WIDTH - RIGHT,
        TOP,
        LEFT - 6,
        TOP + 4,
        _short(highest, chain),
        LEFT - 6,
        HEIGHT - BOTTOM,
        body,
    )
