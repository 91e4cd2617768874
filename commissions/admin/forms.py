"""Forms of the finance back office: agreement terms (a rule per row), reasons, overrides, ranges."""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, cast

from django import forms
from django.db.models import Q
from django.forms import formset_factory

from accounts.access import scoped
from aurora.common.fields import AMOUNT_DECIMAL_PLACES, AMOUNT_MAX_DIGITS
from chains.models import Chain, Period
from commissions.engine.tiers import MAX_BPS
from commissions.models import AttributionMethod, RevenueComponent
from commissions.services.agreements import RuleSpec
from partners.models import Partner


class RuleForm(forms.Form):
    rule_order = forms.IntegerField(min_value=1, label="order")
    chain = forms.ModelChoiceField(queryset=Chain.objects.none(), required=False, empty_label="every chain")
    validator_key = forms.CharField(max_length=100, required=False, label="validator (empty: all)")
    # An empty first choice, so the blank row for a new rule is left out when untouched.
    revenue_component = forms.ChoiceField(choices=[("", "—"), *RevenueComponent.choices], label="component")
    attribution_method = forms.ChoiceField(choices=[("", "—"), *AttributionMethod.choices], label="method")
    commission_rate_bps = forms.IntegerField(min_value=0, max_value=MAX_BPS, label="rate (bps)")
    floor_amount_native = forms.DecimalField(
        required=False, min_value=Decimal(0), max_digits=48, decimal_places=18, label="floor (base units)"
    )
    cap_amount_native = forms.DecimalField(
        required=False, min_value=Decimal(0), max_digits=48, decimal_places=18, label="cap (base units)"
    )

    def __init__(self, *args: Any, user: Any, keep_chains: Sequence[str] = (), **kwargs: Any) -> None:
        """Chains: the active ones the user may see, and those the terms already name (a chain
        deactivated since stays selected rather than turning into "every chain")."""
        super().__init__(*args, **kwargs)
        chains = Chain.objects.filter(Q(is_active=True) | Q(pk__in=list(keep_chains)))
        cast("forms.ModelChoiceField[Any]", self.fields["chain"]).queryset = scoped(chains, user)

    tier_config = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 40}),
        label="tiers (JSON)",
        help_text='{"basis": "base_amount"|"introduced_stake", "mode": "marginal"|"whole", '
        '"tiers": [{"from": "0", "rate_bps": 500}]}',
    )

    def clean_tier_config(self) -> Any:
        text = (self.cleaned_data.get("tier_config") or "").strip()
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError as error:
            raise forms.ValidationError(f"not valid JSON: {error}") from None

    def spec(self) -> RuleSpec:
        data = self.cleaned_data
        return RuleSpec(
            rule_order=data["rule_order"],
            revenue_component=data["revenue_component"],
            attribution_method=data["attribution_method"],
            commission_rate_bps=data["commission_rate_bps"],
            chain_id=data["chain"].pk if data.get("chain") else None,
            validator_key=(data.get("validator_key") or "").strip() or None,
            floor_amount_native=data.get("floor_amount_native"),
            cap_amount_native=data.get("cap_amount_native"),
            tier_config=data.get("tier_config"),
        )

    @staticmethod
    def initial_from(spec: RuleSpec) -> dict[str, Any]:
        return {
            "rule_order": spec.rule_order,
            "chain": spec.chain_id,
            "validator_key": spec.validator_key or "",
            "revenue_component": spec.revenue_component,
            "attribution_method": spec.attribution_method,
            "commission_rate_bps": spec.commission_rate_bps,
            "floor_amount_native": spec.floor_amount_native,
            "cap_amount_native": spec.cap_amount_native,
            "tier_config": json.dumps(spec.tier_config) if spec.tier_config else "",
        }


RuleFormSet = formset_factory(RuleForm, extra=1, can_delete=True)


def rule_specs(formset: Any) -> list[RuleSpec]:
    """The rules of a valid formset, leaving out deleted and untouched blank rows."""
    return [
        form.spec() for form in formset.forms if form.cleaned_data and not form.cleaned_data.get("DELETE")
    ]


class NewAgreementForm(forms.Form):
    partner = forms.ModelChoiceField(queryset=Partner.objects.none())
    name = forms.CharField(max_length=200)
    effective_from = forms.DateTimeField(help_text="YYYY-MM-DD HH:MM (UTC)")
    effective_until = forms.DateTimeField(required=False, help_text="empty: open-ended")
    reason = forms.CharField(required=False, max_length=500)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        partners = scoped(Partner.objects.filter(is_active=True), user)
        cast("forms.ModelChoiceField[Any]", self.fields["partner"]).queryset = partners


class TermsForm(forms.Form):
    based_on = forms.CharField(widget=forms.HiddenInput, max_length=64)
    effective_from = forms.DateTimeField(
        help_text=(
            "When the new terms start (UTC). For an agreement in use: after the current version's start."
        )
    )
    change_reason = forms.CharField(max_length=500, widget=forms.TextInput(attrs={"size": 60}))


class PreviewRangeForm(forms.Form):
    chain = forms.ModelChoiceField(queryset=Chain.objects.none())
    from_period = forms.IntegerField(min_value=0)
    to_period = forms.IntegerField(min_value=0)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        chains = scoped(Chain.objects.filter(is_active=True), user)
        cast("forms.ModelChoiceField[Any]", self.fields["chain"]).queryset = chains

    @staticmethod
    def recent(user: Any, chain_id: str | None = None, periods: int = 10) -> dict[str, Any]:
        """Initial values: the last `periods` final periods of the chain (default: the user's first)."""
        chains = scoped(Chain.objects.filter(is_active=True), user)
        chain = (chains.filter(pk=chain_id).first() if chain_id else None) or chains.order_by("pk").first()
        if chain is None:
            return {}
        identifiers = [
            int(identifier)
            for identifier in Period.objects.filter(chain=chain, is_finalized=True)
            .order_by("-period_end")
            .values_list("period_identifier", flat=True)[:periods]
            if identifier.isdigit()
        ]
        if not identifiers:
            return {"chain": chain.pk}
        return {"chain": chain.pk, "from_period": min(identifiers), "to_period": max(identifiers)}


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=500, widget=forms.TextInput(attrs={"size": 60}))
    effective_at = forms.DateTimeField(
        required=False,
        help_text="When it takes effect (UTC); empty: the agreement's start for an activation, else now",
    )


class OverrideForm(forms.Form):
    amount = forms.DecimalField(
        min_value=Decimal(0),
        max_digits=AMOUNT_MAX_DIGITS - AMOUNT_DECIMAL_PLACES,  # what the amount columns hold
        decimal_places=0,
        help_text="Whole base units (lamports, wei).",
    )
    reason = forms.CharField(max_length=500, widget=forms.TextInput(attrs={"size": 60}))


class OptionalReasonForm(forms.Form):
    reason = forms.CharField(max_length=500, required=False, widget=forms.TextInput(attrs={"size": 60}))
