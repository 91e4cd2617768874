"""The demo logins: one user per role and one portal user per demo partner (development only)."""

from dataclasses import dataclass

from django.db import transaction

from accounts.models import Role, User
from accounts.services import partner_access_sync
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
