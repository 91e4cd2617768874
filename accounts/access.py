"""Who may do what, and which rows they see: the one place Aurora decides access.

Roles grant capabilities (`POLICY`, written down in docs/rbac_policy.md and checked against it by
a test). Every model states which capability reads it and which changes it (`MODEL_POLICY`), and
how its rows relate to a partner, a chain and a validator (`SCOPES`). From these:
- `has_capability` answers for views, services and the API;
- `RoleBackend` (accounts.backends) answers Django's `has_perm`, so the admin follows the policy;
- `scoped` filters any queryset for a user: a partner user sees its own partner's rows only (the
  partners it holds guardian view permission on), everyone is narrowed by their chain and
  validator scope, and a user without the read capability sees nothing.
The database adds row-level security on partner tables as a second wall (aurora.common.dbscope).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from django.core.exceptions import PermissionDenied
from django.db.models import Model, Q, QuerySet
from django.utils import timezone

from accounts.models import Role, User

M = TypeVar("M", bound=Model)


class Capability(StrEnum):
    VIEW_OPERATIONS = "view_operations"  # registry, ingestion, staging, canonical, runs, P&L, schedules
    RUN_OPERATIONS = "run_operations"  # ingest, normalize, registry and schedule changes
    RECOMPUTE = "recompute"
    VIEW_COMMISSIONS = "view_commissions"  # every partner's clients, agreements, lines, statements
    EDIT_AGREEMENTS = "edit_agreements"  # partners, clients, agreements and their terms
    OVERRIDE_LINES = "override_lines"
    RUN_STATEMENTS = "run_statements"  # submit, approve, reject, release, mark paid
    EXPORT_STATEMENTS = "export_statements"
    VIEW_AUDIT = "view_audit"
    MANAGE_USERS = "manage_users"
    VIEW_OWN_PARTNER = "view_own_partner"  # the partner portal: one's own partner only


ALL_STAFF = frozenset(Capability) - {Capability.VIEW_OWN_PARTNER}

POLICY: dict[str, frozenset[Capability]] = {
    Role.ADMIN: ALL_STAFF,
    Role.FINANCE: frozenset(
        {
            Capability.VIEW_OPERATIONS,
            Capability.RECOMPUTE,
            Capability.VIEW_COMMISSIONS,
            Capability.EDIT_AGREEMENTS,
            Capability.OVERRIDE_LINES,
            Capability.RUN_STATEMENTS,
            Capability.EXPORT_STATEMENTS,
            Capability.VIEW_AUDIT,
        }
    ),
    Role.OPS: frozenset({Capability.VIEW_OPERATIONS, Capability.RUN_OPERATIONS, Capability.RECOMPUTE}),
    Role.PARTNER: frozenset({Capability.VIEW_OWN_PARTNER}),
    Role.AUDITOR: frozenset(
        {
            Capability.VIEW_OPERATIONS,
            Capability.VIEW_COMMISSIONS,
            Capability.EXPORT_STATEMENTS,
            Capability.VIEW_AUDIT,
        }
    ),
}


@dataclass(frozen=True)
class ModelPolicy:
    """The capability that reads a model and the one that may change it (None: nobody, it is
    written by Aurora itself)."""

    view: Capability
    change: Capability | None = None


OPERATIONS_READ_ONLY = ModelPolicy(Capability.VIEW_OPERATIONS)
COMMISSIONS_READ_ONLY = ModelPolicy(Capability.VIEW_COMMISSIONS)
AGREEMENT_TERMS = ModelPolicy(Capability.VIEW_COMMISSIONS, Capability.EDIT_AGREEMENTS)

MODEL_POLICY: dict[str, ModelPolicy] = {
    "chains.chain": ModelPolicy(Capability.VIEW_OPERATIONS, Capability.RUN_OPERATIONS),
    "chains.provider": ModelPolicy(Capability.VIEW_OPERATIONS, Capability.RUN_OPERATIONS),
    "chains.chainprovidermapping": ModelPolicy(Capability.VIEW_OPERATIONS, Capability.RUN_OPERATIONS),
    "chains.period": OPERATIONS_READ_ONLY,
    "chains.validatoridentity": ModelPolicy(Capability.VIEW_OPERATIONS, Capability.RUN_OPERATIONS),
    "ingestion.ingestionrun": OPERATIONS_READ_ONLY,
    "ingestion.stagingpayload": OPERATIONS_READ_ONLY,
    "canonical.canonicalvalidatorfees": OPERATIONS_READ_ONLY,
    "canonical.canonicalvalidatormev": OPERATIONS_READ_ONLY,
    "canonical.canonicalstakereward": OPERATIONS_READ_ONLY,
    "canonical.canonicalvalidatormeta": OPERATIONS_READ_ONLY,
    "canonical.normalizationrun": OPERATIONS_READ_ONLY,
    "canonical.normalizedinput": OPERATIONS_READ_ONLY,
    "canonical.reconciliationreport": OPERATIONS_READ_ONLY,
    "canonical.reconciliationfinding": OPERATIONS_READ_ONLY,
    "commissions.validatorpnl": OPERATIONS_READ_ONLY,
    "commissions.computationrun": OPERATIONS_READ_ONLY,
    "operations.job": ModelPolicy(Capability.VIEW_OPERATIONS),
    "partners.partner": AGREEMENT_TERMS,
    "partners.partnerclient": AGREEMENT_TERMS,
    "commissions.agreement": AGREEMENT_TERMS,
    "commissions.agreementversion": COMMISSIONS_READ_ONLY,
    "commissions.agreementrule": AGREEMENT_TERMS,
    "commissions.agreementstatusevent": COMMISSIONS_READ_ONLY,
    "commissions.commissionline": ModelPolicy(Capability.VIEW_COMMISSIONS, Capability.OVERRIDE_LINES),
    "commissions.statement": ModelPolicy(Capability.VIEW_COMMISSIONS, Capability.RUN_STATEMENTS),
    "commissions.clientstakesnapshot": COMMISSIONS_READ_ONLY,
    "accounts.user": ModelPolicy(Capability.MANAGE_USERS, Capability.MANAGE_USERS),
    "accounts.auditlog": ModelPolicy(Capability.VIEW_AUDIT),
    "auth.group": ModelPolicy(Capability.MANAGE_USERS, Capability.MANAGE_USERS),
    "django_celery_beat.periodictask": ModelPolicy(Capability.VIEW_OPERATIONS, Capability.RUN_OPERATIONS),
    "django_celery_beat.crontabschedule": ModelPolicy(Capability.VIEW_OPERATIONS, Capability.RUN_OPERATIONS),
    "django_celery_beat.intervalschedule": ModelPolicy(Capability.VIEW_OPERATIONS, Capability.RUN_OPERATIONS),
    "django_celery_beat.solarschedule": ModelPolicy(Capability.VIEW_OPERATIONS, Capability.RUN_OPERATIONS),
    "django_celery_beat.clockedschedule": ModelPolicy(Capability.VIEW_OPERATIONS, Capability.RUN_OPERATIONS),
    "axes.accessattempt": ModelPolicy(Capability.MANAGE_USERS, Capability.MANAGE_USERS),
    "axes.accessfailurelog": ModelPolicy(Capability.MANAGE_USERS),
    "axes.accesslog": ModelPolicy(Capability.MANAGE_USERS),
}


@dataclass(frozen=True)
class Scope:
    """How a model's rows belong to a partner, a chain and a validator (ORM paths; None: not)."""

    partner: str | None = None
    chain: str | None = None
    validator: str | None = None


SCOPES: dict[str, Scope] = {
    "partners.partner": Scope(partner="pk"),
    "partners.partnerclient": Scope(partner="partner", chain="chain"),
    "commissions.agreement": Scope(partner="partner"),
    "commissions.agreementversion": Scope(partner="agreement__partner"),
    "commissions.agreementrule": Scope(
        partner="agreement__partner", chain="chain", validator="validator_key"
    ),
    "commissions.agreementstatusevent": Scope(partner="agreement__partner"),
    "commissions.commissionline": Scope(partner="partner", chain="chain", validator="validator_key"),
    "commissions.statement": Scope(partner="partner", chain="chain"),
    "commissions.clientstakesnapshot": Scope(partner="partner", chain="chain"),
    "commissions.validatorpnl": Scope(chain="chain", validator="validator_key"),
    "commissions.computationrun": Scope(chain="chain"),
    "chains.chain": Scope(chain="pk"),
    "chains.chainprovidermapping": Scope(chain="chain"),
    "chains.period": Scope(chain="chain"),
    "chains.validatoridentity": Scope(chain="chain", validator="validator_key"),
    "ingestion.ingestionrun": Scope(chain="chain"),
    "ingestion.stagingpayload": Scope(chain="chain", validator="validator_key"),
    "canonical.canonicalvalidatorfees": Scope(chain="chain", validator="validator_key"),
    "canonical.canonicalvalidatormev": Scope(chain="chain", validator="validator_key"),
    "canonical.canonicalstakereward": Scope(chain="chain", validator="validator_key"),
    "canonical.canonicalvalidatormeta": Scope(chain="chain", validator="validator_key"),
    "canonical.normalizationrun": Scope(chain="chain"),
    "canonical.normalizedinput": Scope(chain="chain", validator="validator_key"),
    "canonical.reconciliationreport": Scope(chain="chain"),
    "canonical.reconciliationfinding": Scope(chain="chain", validator="validator_key"),
    "operations.job": Scope(chain="parameters__chain_id"),
}


def access_expired(user: Any) -> bool:
    expires = getattr(user, "access_expires_at", None)
    return expires is not None and expires <= timezone.now()


def is_usable(user: Any) -> bool:
    """An authenticated, active user whose access has not expired."""
    return bool(user is not None and user.is_authenticated and user.is_active and not access_expired(user))


def capabilities(user: Any) -> frozenset[Capability]:
    if not is_usable(user):
        return frozenset()
    if user.is_superuser:
        return ALL_STAFF
    return POLICY.get(user.role, frozenset())


def has_capability(user: Any, capability: Capability) -> bool:
    return capability in capabilities(user)


def require_capability(user: Any, capability: Capability) -> None:
    """For services: PermissionDenied unless `user` holds `capability`."""
    if not has_capability(user, capability):
        raise PermissionDenied(f"needs the {capability} capability")


def model_policy(label: str) -> ModelPolicy | None:
    return MODEL_POLICY.get(label)


PARTNER_IDS_CACHE = "_aurora_partner_ids"


def partner_model() -> type[Model]:
    """The partner model, as the user's own relation names it: access stays below the domain
    apps and imports none of them."""
    model = User._meta.get_field("partner").related_model
    if not isinstance(model, type):
        raise TypeError(f"User.partner points to an unresolved model: {model!r}")
    return model


def partner_ids_of(user: Any) -> list[Any]:
    """The ids of the partners a user may see as a partner (guardian view permission on them),
    read once per user object: a request's user asks many times, the answer does not change
    within the request (`forget_partner_ids` after granting or revoking)."""
    cached = getattr(user, PARTNER_IDS_CACHE, None)
    if cached is not None:
        return list(cached)
    from guardian.shortcuts import get_objects_for_user

    ids = list(
        get_objects_for_user(user, "partners.view_partner", klass=partner_model(), accept_global_perms=False)
        .order_by()
        .values_list("pk", flat=True)
    )
    if getattr(user, "pk", None) is not None:
        setattr(user, PARTNER_IDS_CACHE, tuple(ids))
    return ids


def forget_partner_ids(user: Any) -> None:
    if hasattr(user, PARTNER_IDS_CACHE):
        delattr(user, PARTNER_IDS_CACHE)


def scoped(queryset: QuerySet[M], user: Any) -> QuerySet[M]:
    """The rows of `queryset` that `user` may read."""
    label = queryset.model._meta.label_lower
    policy, scope = MODEL_POLICY.get(label), SCOPES.get(label, Scope())
    granted = capabilities(user)
    if Capability.VIEW_OWN_PARTNER in granted and not (policy and policy.view in granted):
        if scope.partner is None:
            return queryset.none()
        queryset = queryset.filter(**{f"{scope.partner}__in": partner_ids_of(user)})
    elif policy is None or policy.view not in granted:
        return queryset.none()
    if scope.chain and getattr(user, "allowed_chain_ids", None):
        queryset = queryset.filter(**{f"{scope.chain}__in": user.allowed_chain_ids})
    if scope.validator and getattr(user, "allowed_validator_keys", None):
        allowed = Q(**{f"{scope.validator}__in": user.allowed_validator_keys})
        field = queryset.model._meta.get_field(scope.validator)
        if getattr(field, "null", False):  # rows about every validator (e.g. a rule without a filter)
            allowed |= Q(**{f"{scope.validator}__isnull": True})
        queryset = queryset.filter(allowed)
    return queryset


def rules_outside_scope(user: Any, rules: Iterable[tuple[str | None, str | None]]) -> list[str]:
    """For a user limited to some chains or validators: the rules (chain, validator; None for
    every one) they may not write, described. A rule for every chain or every validator reaches
    beyond such a user's limit, so only rules naming permitted ones are theirs to change."""
    chains = getattr(user, "allowed_chain_ids", None) or []
    validators = getattr(user, "allowed_validator_keys", None) or []
    problems = []
    for chain_id, validator_key in rules:
        if chains and chain_id not in chains:
            problems.append(f"a rule on {chain_id or 'every chain'} is outside your chains")
        elif validators and validator_key not in validators:
            problems.append(f"a rule on {validator_key or 'every validator'} is outside your validators")
    return sorted(set(problems))
