"""Writes on users: partner membership (guardian) and changes to a user's access."""

from typing import Any

from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import Model
from guardian.shortcuts import assign_perm

from accounts.access import forget_partner_ids
from accounts.audit import audit_record, snapshot
from accounts.models import AuditAction, Role, User

ACCESS_FIELDS = [
    "role",
    "partner_id",
    "allowed_chain_ids",
    "allowed_validator_keys",
    "access_expires_at",
    "is_active",
    "is_staff",
    "is_superuser",
]
PARTNER_GROUP_PREFIX = "partner:"


def partner_group(partner: Model) -> Group:
    """The group whose members see `partner`: it holds guardian's view permission on it."""
    group, created = Group.objects.get_or_create(name=f"{PARTNER_GROUP_PREFIX}{partner.pk}")
    if created:
        assign_perm("partners.view_partner", group, partner)
    return group


def partner_access_sync(user: User) -> None:
    """A PARTNER user is in its partner's group and no other partner group; anyone else in none."""
    wanted = partner_group(user.partner) if user.role == Role.PARTNER and user.partner else None
    for group in user.groups.filter(name__startswith=PARTNER_GROUP_PREFIX):
        if group != wanted:
            user.groups.remove(group)
    if wanted is not None:
        user.groups.add(wanted)
    forget_partner_ids(user)


@transaction.atomic
def user_access_changed(
    *, user: User, before: dict[str, Any] | None, actor: User | None, reason: str = ""
) -> None:
    """After a user's role, partner or scope changed: partner membership follows, and the change
    is audited."""
    partner_access_sync(user)
    after = snapshot(user, ACCESS_FIELDS)
    if before != after:
        audit_record(
            actor=actor,
            action=AuditAction.CHANGE_USER_ACCESS,
            resource=user,
            before=before,
            after=after,
            reason=reason,
        )


def access_snapshot(user: User) -> dict[str, Any] | None:
    """The access fields as stored (None for a user not saved yet)."""
    if user._state.adding:
        return None
    stored = User.objects.filter(pk=user.pk).first()
    return snapshot(stored, ACCESS_FIELDS) if stored else None
