"""AgreementAdmin's own pages: new terms (with a preview), preview, compare versions, status
changes one by one and in bulk. A mixin, so `agreements.py` keeps the admin's configuration."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from accounts.access import Capability, rules_outside_scope
from commissions.admin._shared import _require, _scoped_object
from commissions.admin.forms import PreviewRangeForm, ReasonForm, RuleForm, RuleFormSet, TermsForm, rule_specs
from commissions.models import Agreement, AgreementRule, AgreementStatus
from commissions.services.agreements import (
    TRANSITIONS,
    AgreementError,
    RuleSpec,
    agreement_set_status,
    agreement_update_terms,
    terms_token,
)
from commissions.services.preview import preview_terms

if TYPE_CHECKING:
    from django.contrib.admin import AdminSite


def _current_specs(agreement: Agreement) -> list[RuleSpec]:
    rules = AgreementRule.objects.filter(
        agreement=agreement, version_number=agreement.current_version, is_active=True
    ).order_by("rule_order")
    return [RuleSpec.from_rule(rule) for rule in rules]


def _scopes(rules: list[RuleSpec]) -> list[tuple[str | None, str | None]]:
    return [(rule.chain_id, rule.validator_key) for rule in rules]


def _require_terms_in_scope(request: HttpRequest, rules: list[RuleSpec]) -> None:
    """Changing or previewing terms that reach outside the user's chains or validators: 403."""
    if rules_outside_scope(request.user, _scopes(rules)):
        raise PermissionDenied


def _visible_rules(request: HttpRequest, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rules of a terms snapshot that the user may read (as `scoped` reads rule rows)."""
    chains = getattr(request.user, "allowed_chain_ids", None) or []
    validators = getattr(request.user, "allowed_validator_keys", None) or []
    return [
        rule
        for rule in rules
        if (not chains or rule.get("chain_id") in chains)
        and (not validators or rule.get("validator_key") in (None, *validators))
    ]


def _first_chain(rules: list[RuleSpec]) -> str | None:
    return next((rule.chain_id for rule in rules if rule.chain_id), None)


# URL slug -> (the status it moves to, the button's label)
STATUS_ACTIONS: dict[str, tuple[str, str]] = {
    "activate": (AgreementStatus.ACTIVE, "Activate"),
    "suspend": (AgreementStatus.SUSPENDED, "Suspend"),
    "terminate": (AgreementStatus.TERMINATED, "Terminate"),
}


class AgreementViewsMixin:
    """The custom views of AgreementAdmin (its `get_urls` routes them)."""

    if TYPE_CHECKING:
        admin_site: AdminSite
        model: type[Agreement]

    def terms_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        agreement = _scoped_object(request, Agreement, object_id)
        _require(request, Capability.EDIT_AGREEMENTS)
        current = _current_specs(agreement)
        _require_terms_in_scope(request, current)
        version = agreement.versions.filter(version_number=agreement.current_version).first()
        draft = agreement.status == AgreementStatus.DRAFT
        initial = {
            "effective_from": version.effective_from if version and draft else None,
            "based_on": terms_token(version) if version else "",
        }
        form = TermsForm(request.POST or None, initial=initial)
        rules = RuleFormSet(
            request.POST or None,
            prefix="rules",
            initial=[RuleForm.initial_from(spec) for spec in current],
            form_kwargs={"user": request.user, "keep_chains": [r.chain_id for r in current if r.chain_id]},
        )
        range_form = (
            PreviewRangeForm(request.POST or None, prefix="preview", user=request.user)
            if "_preview" in request.POST
            else None
        )
        preview = None
        if request.method == "POST" and rules.is_valid():
            if range_form is not None:
                if range_form.is_valid():
                    preview = self._preview(request, agreement, rule_specs(rules), current, range_form)
            elif form.is_valid():
                try:
                    new = agreement_update_terms(
                        agreement_id=agreement.pk,
                        rules=rule_specs(rules),
                        effective_from=form.cleaned_data["effective_from"],
                        change_reason=form.cleaned_data["change_reason"],
                        actor=request.user,  # type: ignore[arg-type]
                        based_on=form.cleaned_data["based_on"],
                    )
                except AgreementError as error:
                    form.add_error(None, str(error))
                else:
                    messages.success(request, f"Terms saved as version {new.version_number}.")
                    return HttpResponseRedirect(
                        reverse("admin:commissions_agreement_change", args=[agreement.pk])
                    )
        return self._render(
            request,
            "terms.html",
            f"Terms of {agreement.agreement_name}",
            agreement=agreement,
            form=form,
            rules=rules,
            range_form=range_form
            or PreviewRangeForm(
                prefix="preview",
                user=request.user,
                initial=PreviewRangeForm.recent(request.user, _first_chain(current)),
            ),
            preview=preview,
        )

    # -- preview, compare, status --

    def preview_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """What the current version (a draft's terms) would have paid over past periods."""
        agreement = _scoped_object(request, Agreement, object_id)
        _require(request, Capability.VIEW_COMMISSIONS)
        terms = _current_specs(agreement)
        _require_terms_in_scope(request, terms)
        range_form = PreviewRangeForm(
            request.GET or None,
            prefix="preview",
            user=request.user,
            initial=PreviewRangeForm.recent(request.user, _first_chain(terms)),
        )
        preview = None
        if range_form.is_bound and range_form.is_valid():
            in_force: list[RuleSpec] = [] if agreement.status == AgreementStatus.DRAFT else terms
            preview = self._preview(request, agreement, terms, in_force, range_form, form=range_form)
        return self._render(
            request,
            "preview.html",
            f"Preview of {agreement.agreement_name}",
            agreement=agreement,
            range_form=range_form,
            preview=preview,
        )

    def _preview(
        self,
        request: HttpRequest,
        agreement: Agreement,
        proposed: list[RuleSpec],
        current: list[RuleSpec],
        range_form: Any,
        form: Any = None,
    ) -> Any:
        problems = rules_outside_scope(request.user, _scopes(proposed) + _scopes(current))
        if problems:
            (form or range_form).add_error(None, "; ".join(problems))
            return None
        try:
            return preview_terms(
                partner_id=agreement.partner_id,
                agreement_id=agreement.pk,
                proposed=proposed,
                current=current,
                chain_id=range_form.cleaned_data["chain"].pk,
                first=range_form.cleaned_data["from_period"],
                last=range_form.cleaned_data["to_period"],
            )
        except AgreementError as error:
            (form or range_form).add_error(None, str(error))
            return None

    def compare_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Two versions side by side, rule by rule; changed values marked."""
        agreement = _scoped_object(request, Agreement, object_id)
        versions = {v.version_number: v for v in agreement.versions.all()}
        try:
            left = versions[int(request.GET.get("a") or max(1, agreement.current_version - 1))]
            right = versions[int(request.GET.get("b") or agreement.current_version)]
        except (KeyError, ValueError):
            raise Http404("no such version") from None
        rows = _compare(
            _visible_rules(request, left.terms_snapshot.get("rules", [])),
            _visible_rules(request, right.terms_snapshot.get("rules", [])),
        )
        return self._render(
            request,
            "compare.html",
            f"{agreement.agreement_name}: v{left.version_number} and v{right.version_number}",
            agreement=agreement,
            left=left,
            right=right,
            rows=rows,
            versions=sorted(versions),
        )

    def status_view(self, request: HttpRequest, object_id: str, action: str) -> HttpResponse:
        agreement = _scoped_object(request, Agreement, object_id)
        _require(request, Capability.EDIT_AGREEMENTS)
        if action not in STATUS_ACTIONS:
            raise Http404("no such status change")
        _require_terms_in_scope(request, _current_specs(agreement))
        status, label = STATUS_ACTIONS[action]
        form = ReasonForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                agreement_set_status(
                    agreement_id=agreement.pk,
                    status=status,
                    actor=request.user,  # type: ignore[arg-type]
                    reason=form.cleaned_data["reason"],
                    effective_at=form.cleaned_data.get("effective_at"),
                )
            except AgreementError as error:
                form.add_error(None, str(error))
            else:
                agreement.refresh_from_db()
                messages.success(
                    request,
                    f"“{agreement.agreement_name}” is now {agreement.get_status_display().lower()}.",
                )
                return HttpResponseRedirect(
                    reverse("admin:commissions_agreement_change", args=[agreement.pk])
                )
        allowed = status in TRANSITIONS[agreement.status]
        return self._render(
            request,
            "status.html",
            f"{label} {agreement.agreement_name}",
            agreement=agreement,
            form=form,
            status=AgreementStatus(status),
            allowed=allowed,
        )

    @admin.action(description="Activate the selected agreements", permissions=["change_status"])
    def activate(self, request: HttpRequest, queryset: QuerySet[Agreement]) -> HttpResponse | None:
        return self._bulk_status(request, queryset, AgreementStatus.ACTIVE)

    @admin.action(description="Suspend the selected agreements", permissions=["change_status"])
    def suspend(self, request: HttpRequest, queryset: QuerySet[Agreement]) -> HttpResponse | None:
        return self._bulk_status(request, queryset, AgreementStatus.SUSPENDED)

    @admin.action(description="Terminate the selected agreements", permissions=["change_status"])
    def terminate(self, request: HttpRequest, queryset: QuerySet[Agreement]) -> HttpResponse | None:
        return self._bulk_status(request, queryset, AgreementStatus.TERMINATED)

    def _bulk_status(
        self, request: HttpRequest, queryset: QuerySet[Agreement], status: str
    ) -> HttpResponse | None:
        """Asks for a reason first (a confirmation page), then moves each agreement that may."""
        _require(request, Capability.EDIT_AGREEMENTS)
        form = ReasonForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            moved = 0
            for agreement in queryset:
                try:
                    agreement_set_status(
                        agreement_id=agreement.pk,
                        status=status,
                        actor=request.user,  # type: ignore[arg-type]
                        reason=form.cleaned_data["reason"],
                        effective_at=form.cleaned_data.get("effective_at"),
                    )
                    moved += 1
                except AgreementError as error:
                    messages.error(request, f"“{agreement.agreement_name}” was left as it is: {error}")
            if moved:
                label = AgreementStatus(status).label.lower()
                messages.success(request, f"{moved} agreement{'s' if moved != 1 else ''} now {label}.")
            return None
        return self._render(
            request,
            "bulk_status.html",
            f"{AgreementStatus(status).label}: agreements",
            form=form,
            status=AgreementStatus(status),
            agreements=queryset,
            action=request.POST.get("action", ""),
        )

    def _render(self, request: HttpRequest, template: str, title: str, **context: Any) -> TemplateResponse:
        return TemplateResponse(
            request,
            f"admin/commissions/agreement/{template}",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": title,
                "object": context.get("agreement"),
                **context,
            },
        )


RULE_KEYS = (
    "chain_id",
    "validator_key",
    "revenue_component",
    "attribution_method",
    "commission_rate_bps",
    "floor_amount_native",
    "cap_amount_native",
    "tier_config",
)


def _compare(left: list[dict[str, Any]], right: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_order_left = {r["rule_order"]: r for r in left}
    by_order_right = {r["rule_order"]: r for r in right}
    rows = []
    for order in sorted(set(by_order_left) | set(by_order_right)):
        a, b = by_order_left.get(order), by_order_right.get(order)
        cells = [
            {
                "field": key,
                "left": "—" if a is None else a.get(key),
                "right": "—" if b is None else b.get(key),
                "changed": (a or {}).get(key) != (b or {}).get(key),
            }
            for key in RULE_KEYS
        ]
        rows.append({"order": order, "cells": cells, "added": a is None, "removed": b is None})
    return rows
