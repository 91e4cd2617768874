"""Writes on users."""

from dataclasses import dataclass

from django.db import transaction

from accounts.models import Role, User
from partners.models import Partner

DEMO_PARTNER_NAME = "Demo Partner"


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: str
    is_superuser: bool


DEMO_LOGINS = (
    DemoLogin("admin", Role.ADMIN, is_superuser=True),
    DemoLogin("finance", Role.FINANCE, is_superuser=False),
    DemoLogin("finance2", Role.FINANCE, is_superuser=False),
    DemoLogin("ops", Role.OPS, is_superuser=False),
    DemoLogin("partner", Role.PARTNER, is_superuser=False),
    DemoLogin("auditor", Role.AUDITOR, is_superuser=False),
)


@transaction.atomic
def demo_users_ensure(*, password: str) -> list[User]:
    """Create (or reset) one demo user per role, all with `password`; the partner user
    belongs to the demo partner. Re-running changes nothing but the passwords."""
    partner, _ = Partner.objects.get_or_create(
        partner_name=DEMO_PARTNER_NAME, defaults={"contact_email": "partner@example.com"}
    )
    users = []
    for login in DEMO_LOGINS:
        user, _ = User.objects.update_or_create(
            username=login.username,
            defaults={
                "email": f"{login.username}@example.com",
                "role": login.role,
                "partner": partner if login.role == Role.PARTNER else None,
                "is_staff": login.role != Role.PARTNER,
                "is_superuser": login.is_superuser,
                "is_active": True,
            },
        )
        user.set_password(password)
        user.save(update_fields=["password"])
        users.append(user)
    return users
