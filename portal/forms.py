"""The portal's filters: bad values are shown on the form, never an error page."""

from __future__ import annotations

from typing import Any, cast

from django import forms

from chains.models import Chain
from commissions.models import RevenueComponent
from portal.selectors import LineFilter, period_on


class LineFilterForm(forms.Form):
    chain = forms.ModelChoiceField(queryset=Chain.objects.none(), required=False, empty_label="All chains")
    from_period = forms.CharField(required=False, max_length=40, label="From period")
    to_period = forms.CharField(required=False, max_length=40, label="To period")
    component = forms.ChoiceField(
        choices=[("", "All components"), *RevenueComponent.choices], required=False, label="Component"
    )

    def __init__(self, data: Any, *, chains: list[Chain]) -> None:
        super().__init__(data)
        field = cast("forms.ModelChoiceField[Chain]", self.fields["chain"])
        field.queryset = Chain.objects.filter(pk__in=[chain.pk for chain in chains]).order_by("pk")
        field.label_from_instance = lambda chain: chain.name  # type: ignore[method-assign,assignment]
        if len(chains) == 1:
            field.initial = chains[0].pk

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        chain = data.get("chain")
        bounds = {}
        for name in ("from_period", "to_period"):
            identifier = (data.get(name) or "").strip()
            if not identifier:
                continue
            if chain is None:
                self.add_error(name, "Choose a chain to filter by period.")
                continue
            period = period_on(chain, identifier)
            if period is None:
                self.add_error(name, f"{chain.name} has no period {identifier}.")
            bounds[name] = period
        first, last = bounds.get("from_period"), bounds.get("to_period")
        if first is not None and last is not None and first.period_end > last.period_end:
            self.add_error("to_period", "The last period comes before the first.")
        data["first"], data["last"] = first, last
        return data

    def selection(self) -> LineFilter | None:
        """The filter to apply; None when it is invalid (the form shows why, the list stays empty)."""
        if not self.is_bound:
            return LineFilter()
        if not self.is_valid():
            return None
        data = self.cleaned_data
        return LineFilter(
            chain=data.get("chain"),
            first=data["first"],
            last=data["last"],
            component=data.get("component") or "",
        )
