"""Writes on users."""

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import Group
from django.db import transaction
from guardian.shortcuts import assign_perm

from accounts.access import forget_partner_ids
from accounts.audit import audit_record, snapshot
from accounts.models import AuditAction, Role, User
from partners.models import Partner

DEMO_PARTNER_NAME = "Demo Partner"
# The demo partners (name, contact e-mail); each has a portal login below.
DEMO_PARTNERS = {
    DEMO_PARTNER_NAME: "partner@example.com",
    "Northwind Staking": "finance@northwind.example",
    "Helios Capital": "ops@helios.example",
}


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: str
    is_superuser: bool = False
    partner: str | None = None


DEMO_LOGINS = (
    DemoLogin("admin", Role.ADMIN, is_superuser=True),
    DemoLogin("finance", Role.FINANCE),
    DemoLogin("finance2", Role.FINANCE),
    DemoLogin("ops", Role.OPS),
    DemoLogin("auditor", Role.AUDITOR),
    DemoLogin("partner", Role.PARTNER, partner=DEMO_PARTNER_NAME),
    DemoLogin("northwind", Role.PARTNER, partner="Northwind Staking"),
    DemoLogin("helios", Role.PARTNER, partner="Helios Capital"),
)


def demo_partner(name: str) -> Partner:
    return Partner.objects.get_or_create(partner_name=name, defaults={"contact_email": DEMO_PARTNERS[name]})[
        0
    ]


@transaction.atomic
def demo_users_ensure(*, password: str) -> list[User]:
    """Create (or reset) one demo user per role and one portal user per demo partner, all with
    `password`. Re-running changes nothing but the passwords."""
    users = []
    for login in DEMO_LOGINS:
        user, _ = User.objects.update_or_create(
            username=login.username,
            defaults={
                "email": f"{login.username}@example.com",
                "role": login.role,
                "partner": demo_partner(login.partner) if login.partner else None,
                "is_staff": login.role != Role.PARTNER,
                "is_superuser": login.is_superuser,
                "is_active": True,
            },
        )
        user.set_password(password)
        user.save(update_fields=["password"])
        partner_access_sync(user)
        users.append(user)
    return users


# ---- access: partner membership (guardian) and changes to a user's access -----------------------

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


def partner_group(partner: Partner) -> Group:
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
