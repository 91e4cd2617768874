"""What the agreement, override and job endpoints read, through the access layer.

An agreement belongs to a partner, its rules to chains and validators. A user limited to some
chains or validators sees an agreement when a rule of its current version is one `scoped()` lets
them read, and sees those rules only (in the current terms and in every version's snapshot).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db.models import Exists, F, OuterRef, Prefetch, QuerySet
from rest_framework.exceptions import NotFound

from accounts.access import rules_outside_scope, scoped
from commissions.models import Agreement, AgreementRule, AgreementVersion, CommissionLine
from operations.models import Job
from partners.models import Partner


def is_limited(user: Any) -> bool:
    """Whether the user's scope narrows chains or validators."""
    return bool(getattr(user, "allowed_chain_ids", None) or getattr(user, "allowed_validator_keys", None))


def current_rules(user: Any) -> QuerySet[AgreementRule]:
    """Rules of their agreement's current version that the user may read, in order."""
    rules = AgreementRule.objects.filter(version_number=F("agreement__current_version"))
    return scoped(rules, user).select_related("chain").order_by("agreement_id", "rule_order")


def agreements_for(user: Any) -> QuerySet[Agreement]:
    """The agreements the user may read, each with its partner, its visible current rules
    (`current_rules`) and its current version (`current_versions`), prefetched: no query per row."""
    agreements = scoped(Agreement.objects.all(), user)
    if is_limited(user):
        visible = scoped(
            AgreementRule.objects.filter(
                agreement=OuterRef("pk"), version_number=OuterRef("current_version")
            ),
            user,
        )
        agreements = agreements.filter(Exists(visible))
    return (
        agreements.select_related("partner")
        .prefetch_related(
            Prefetch("rules", queryset=current_rules(user), to_attr="current_rules"),
            Prefetch(
                "versions",
                queryset=AgreementVersion.objects.filter(version_number=F("agreement__current_version")),
                to_attr="current_versions",
            ),
        )
        .order_by("partner__partner_name", "agreement_name", "pk")
    )


def agreement_for(user: Any, agreement_id: UUID | str) -> Agreement:
    agreement = agreements_for(user).filter(pk=agreement_id).first()
    if agreement is None:
        raise NotFound(f"No agreement {agreement_id}.")
    return agreement


def current_version(agreement: Agreement) -> AgreementVersion | None:
    return AgreementVersion.objects.filter(
        agreement=agreement, version_number=agreement.current_version
    ).first()


def versions_of(agreement: Agreement) -> QuerySet[AgreementVersion]:
    """Every version of the agreement, newest first."""
    return (
        AgreementVersion.objects.filter(agreement=agreement)
        .select_related("created_by")
        .order_by("-version_number")
    )


def visible_terms(user: Any, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rules of a terms snapshot the user may read (as `scoped` reads rule rows: a limited
    user's chains, and their validators or rules about every validator)."""
    chains = getattr(user, "allowed_chain_ids", None) or []
    validators = getattr(user, "allowed_validator_keys", None) or []
    return [
        rule
        for rule in rules
        if isinstance(rule, dict)
        and (not chains or rule.get("chain_id") in chains)
        and (not validators or rule.get("validator_key") in (None, *validators))
    ]


def current_rules_outside_scope(user: Any, agreement: Agreement) -> list[str]:
    """For a limited user: the agreement's current rules (all of them, read or not) they may not
    change, described."""
    scopes = AgreementRule.objects.filter(
        agreement=agreement, version_number=agreement.current_version
    ).values_list("chain_id", "validator_key")
    return rules_outside_scope(user, list(scopes)) if is_limited(user) else []


def partner_for_new_agreement(user: Any, partner_id: UUID) -> Partner | None:
    """An active partner the user may see (as the back office offers them), or None."""
    return scoped(Partner.objects.filter(is_active=True), user).filter(pk=partner_id).first()


# ---- overrides ----------------------------------------------------------------------------------


def lines_for(user: Any) -> QuerySet[CommissionLine]:
    """Commission lines the user may read, with what their representation needs."""
    return scoped(CommissionLine.objects.all(), user).select_related(
        "partner", "chain", "period", "agreement", "override_user", "statement"
    )


def overridden_lines(user: Any) -> QuerySet[CommissionLine]:
    """Lines carrying an override, the latest override first."""
    return lines_for(user).filter(override_amount_native__isnull=False).order_by("-override_timestamp", "pk")


# ---- jobs ---------------------------------------------------------------------------------------


def job_for(user: Any, job_id: UUID | str) -> Job:
    job = scoped(Job.objects.all(), user).select_related("requested_by").filter(pk=job_id).first()
    if job is None:
        raise NotFound(f"No job {job_id}.")
    return job
