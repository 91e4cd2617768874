"""Validator P&L in the admin: its (read only) list, and the report at
/admin/commissions/validatorpnl/report/.

Filters by chain, validator and period range; shows one row per (period, validator) with each
component in whole tokens and base units, totals per column, the total per period as an inline
SVG chart, and exports the same rows as CSV (`?format=csv`, base units). Readers need
`view_operations`; rows pass through `scoped()`. The page is added to the registered
ValidatorPnl admin's URLs, ahead of its object URLs.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, cast

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from accounts.access import Capability, has_capability
from accounts.admin_scope import ScopedAdminMixin
from aurora.common.admin import ReadOnlyAdminMixin, amount_column, amount_html
from aurora.common.amounts import token_amount
from aurora.common.spreadsheet import safe_row
from chains.models import Chain
from commissions import pnl_report
from commissions.models import ValidatorPnl
from commissions.pnl_report import AMOUNT_FIELDS, COMPONENTS, TOTAL_FIELD, PeriodTotal, PnlFilter

PAGE_SIZE = 200
URL_NAME = "commissions_validatorpnl_report"
COLUMN_TITLES = {
    "EXEC_FEES": "Execution fees",
    "MEV_TIPS": "MEV tips",
    "VOTE_REWARDS": "Vote rewards",
    "COMMISSION": "Commission",
    "PENALTIES": "Penalties (subtracted)",
}


@admin.register(ValidatorPnl)
class ValidatorPnlAdmin(ScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin[ValidatorPnl]):
    list_display = [
        "validator_key",
        "chain",
        "period",
        "exec_fees",
        "mev_tips",
        "vote_rewards",
        "commission",
        "total_revenue",
    ]
    exec_fees = amount_column("exec_fees_native", "execution fees")
    mev_tips = amount_column("mev_tips_native", "MEV tips")
    vote_rewards = amount_column("vote_rewards_native", "vote rewards")
    commission = amount_column("commission_native")
    total_revenue = amount_column("total_revenue_native", "total revenue")
    list_filter = ["chain"]
    list_select_related = ["chain", "period"]
    search_fields = ["validator_key", "period__period_identifier"]
    raw_id_fields = ["period"]
    date_hierarchy = "computed_at"


class PnlReportForm(forms.Form):
    chain = forms.ChoiceField()
    validator = forms.CharField(required=False, max_length=100)
    period_from = forms.CharField(required=False, max_length=50, label="From period")
    period_to = forms.CharField(required=False, max_length=50, label="To period")

    def __init__(self, data: Any, *, user: Any, chains: list[Chain]) -> None:
        super().__init__(data)
        self.user = user
        self.chains = {chain.pk: chain for chain in chains}
        chain_field = cast(forms.ChoiceField, self.fields["chain"])
        chain_field.choices = [(chain.pk, f"{chain.name} ({chain.pk})") for chain in chains]
        self.fields["validator"].widget.attrs.update({"list": "pnl-validators", "size": 44})
        for name in ("period_from", "period_to"):
            self.fields[name].widget.attrs.update({"size": 10, "placeholder": "e.g. 850"})

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        chain = self.chains.get(data.get("chain", ""))
        if chain is None:
            return data
        periods = {}
        for name in ("period_from", "period_to"):
            identifier = (data.get(name) or "").strip()
            if identifier:
                period = pnl_report.find_period(self.user, chain, identifier)
                if period is None:
                    self.add_error(name, f"{chain.pk} has no period {identifier!r}.")
                periods[name] = period
        start, end = periods.get("period_from"), periods.get("period_to")
        if start is not None and end is not None and start.period_start > end.period_start:
            self.add_error("period_to", "The range ends before it starts.")
        data["selection"] = PnlFilter(
            chain=chain,
            validator_key=(data.get("validator") or "").strip(),
            period_from=start,
            period_to=end,
        )
        return data


def report_view(model_admin: admin.ModelAdmin[ValidatorPnl], request: HttpRequest) -> HttpResponseBase:
    user = request.user
    if not has_capability(user, Capability.VIEW_OPERATIONS):
        raise PermissionDenied
    chains = pnl_report.chains_for(user)
    data = request.GET.copy()
    if not data.get("chain") and chains:
        data["chain"] = chains[0].pk
    form = PnlReportForm(data, user=user, chains=chains)
    valid = bool(chains) and form.is_valid()
    wants_csv = request.GET.get("format") == "csv"
    if wants_csv:
        if not valid:
            problems = "; ".join(
                f"{field}: {' '.join(map(str, errors))}" for field, errors in form.errors.items()
            )
            return HttpResponseBadRequest(f"Invalid filters. {problems or 'No chain to report on.'}")
        return csv_response(user, form.cleaned_data["selection"])

    context: dict[str, Any] = {
        **model_admin.admin_site.each_context(request),
        "title": "Validator P&L report",
        "opts": ValidatorPnl._meta,
        "form": form,
        "has_chains": bool(chains),
        "valid": valid,
    }
    if valid:
        context.update(report_context(request, user, form.cleaned_data["selection"]))
    return TemplateResponse(request, "admin/commissions/validatorpnl/report.html", context)


def report_context(request: HttpRequest, user: Any, selection: PnlFilter) -> dict[str, Any]:
    chain = selection.chain
    rows = pnl_report.pnl_rows(user, selection)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))

    def money(value: Any) -> SafeString:
        return amount_html(value, chain.native_decimals, chain.display_symbol, chain.native_unit)

    totals = pnl_report.column_totals(rows)
    series = pnl_report.totals_per_period(rows)
    csv_query = request.GET.copy()
    csv_query["chain"] = chain.pk
    csv_query.pop("page", None)
    csv_query["format"] = "csv"
    page_query = request.GET.copy()
    page_query.pop("page", None)
    return {
        "chain": chain,
        "columns": [COLUMN_TITLES[label] for label, _ in COMPONENTS],
        "rows": [
            {
                "period": row.period.period_identifier,
                "validator": row.validator_key,
                "amounts": [money(getattr(row, name)) for name in AMOUNT_FIELDS],
            }
            for row in page.object_list
        ],
        "totals": [money(totals[name]) for name in AMOUNT_FIELDS],
        "grand_total": totals[TOTAL_FIELD],
        "page": page,
        "page_query": page_query.urlencode(),
        "csv_url": f"?{csv_query.urlencode()}",
        "chart": total_chart_svg(series, chain),
        "period_count": len(series),
        "validators": pnl_report.validator_keys(user, chain),
    }


def csv_response(user: Any, selection: PnlFilter) -> HttpResponse:
    rows = pnl_report.pnl_rows(user, selection)
    parts = [
        "validator-pnl",
        selection.chain.pk,
        selection.period_from.period_identifier if selection.period_from else "",
        selection.period_to.period_identifier if selection.period_to else "",
    ]
    filename = "-".join(part for part in parts if part) + ".csv"
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response, lineterminator="\n")
    writer.writerows(safe_row(line) for line in pnl_report.csv_rows(rows))
    return response


# ---- the chart ----------------------------------------------------------------------------------

WIDTH, HEIGHT = 760, 240
LEFT, RIGHT, TOP, BOTTOM = 96, 16, 16, 40
MARKERS_UP_TO = 120


def _coordinate(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.1'), rounding=ROUND_HALF_UP):f}"


def _short_tokens(value: Decimal, chain: Chain) -> str:
    """An axis label: whole tokens to four significant digits."""
    tokens = value.scaleb(-chain.native_decimals)
    if tokens:
        places = max(0, 3 - tokens.adjusted())
        tokens = tokens.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return f"{tokens.normalize():,f} {chain.display_symbol}".strip()


def total_chart_svg(series: list[PeriodTotal], chain: Chain) -> SafeString:
    """The total per period as an inline SVG line chart (no script), scaled from zero to the
    largest total; each point carries its exact amount as a tooltip."""
    if not series:
        return SafeString("")
    plot_width, plot_height = Decimal(WIDTH - LEFT - RIGHT), Decimal(HEIGHT - TOP - BOTTOM)
    top_value = max(point.total for point in series) or Decimal(1)
    count = len(series)

    def x(index: int) -> Decimal:
        if count == 1:
            return LEFT + plot_width / 2
        return LEFT + plot_width * index / (count - 1)

    def y(value: Decimal) -> Decimal:
        return TOP + plot_height - plot_height * value / top_value

    points = [(x(i), y(point.total), point) for i, point in enumerate(series)]
    grid = format_html_join(
        "",
        '<line x1="{}" y1="{}" x2="{}" y2="{}" class="grid"/>'
        '<text x="{}" y="{}" text-anchor="end" class="label">{}</text>',
        (
            (
                LEFT,
                _coordinate(y(level)),
                WIDTH - RIGHT,
                _coordinate(y(level)),
                LEFT - 6,
                _coordinate(y(level) + 4),
                _short_tokens(level, chain),
            )
            for level in (Decimal(0), top_value / 2, top_value)
        ),
    )
    labelled = sorted({0, count // 2, count - 1})
    x_labels = format_html_join(
        "",
        '<text x="{}" y="{}" text-anchor="middle" class="label">{}</text>',
        ((_coordinate(points[i][0]), HEIGHT - BOTTOM + 18, series[i].period_identifier) for i in labelled),
    )
    line = " ".join(f"{_coordinate(px)},{_coordinate(py)}" for px, py, _ in points)
    markers = format_html_join(
        "",
        '<circle cx="{}" cy="{}" r="3"><title>{} {}: {} ({} {})</title></circle>',
        (
            (
                _coordinate(px),
                _coordinate(py),
                "period",
                point.period_identifier,
                token_amount(point.total, chain.native_decimals, chain.display_symbol),
                pnl_report.plain_number(point.total),
                chain.native_unit,
            )
            for px, py, point in (points if count <= MARKERS_UP_TO else [])
        ),
    )
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" class="pnl-chart" viewBox="0 0 {} {}" width="100%" '
        'role="img" aria-label="{}">{}{}'
        '<polyline points="{}" fill="none" class="series"/>{}'
        '<text x="{}" y="{}" text-anchor="middle" class="label">period</text></svg>',
        WIDTH,
        HEIGHT,
        f"Total revenue per period on {chain.name}, {series[0].period_identifier} to "
        f"{series[-1].period_identifier}",
        grid,
        x_labels,
        line,
        markers,
        LEFT + plot_width / 2,
        HEIGHT - 4,
    )


# ---- the URL ------------------------------------------------------------------------------------


def install(model_admin: admin.ModelAdmin[ValidatorPnl]) -> None:
    """Put the report ahead of the admin's own URLs (its object URLs would take "report/")."""
    if getattr(model_admin, "_pnl_report_installed", False):
        return
    own_urls: Callable[[], list[URLPattern]] = model_admin.get_urls

    def get_urls() -> list[URLPattern]:
        def view(request: HttpRequest) -> HttpResponseBase:
            return report_view(model_admin, request)

        report = path("report/", model_admin.admin_site.admin_view(view), name=URL_NAME)
        return [report, *own_urls()]

    model_admin.get_urls = get_urls  # type: ignore[method-assign]
    model_admin._pnl_report_installed = True  # type: ignore[attr-defined]


install(admin.site._registry[ValidatorPnl])
