import uuid

import factory
from factory.django import DjangoModelFactory

from accounts.models import AuditAction, AuditLog, Role, User
from aurora.common.hashing import sha256_hex

from .partners import PartnerFactory


class UserFactory(DjangoModelFactory[User]):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.django.Password("correct-horse-battery")
    role = Role.FINANCE
    is_staff = True


class PartnerUserFactory(UserFactory):
    role = Role.PARTNER
    is_staff = False
    partner = factory.SubFactory(PartnerFactory)


class AuditLogFactory(DjangoModelFactory[AuditLog]):
    class Meta:
        model = AuditLog

    user = factory.SubFactory(UserFactory)
    action = AuditAction.CREATE_AGREEMENT
    resource_type = "agreement"
    resource_id = factory.LazyFunction(lambda: str(uuid.uuid4()))
    after_snapshot = factory.LazyAttribute(lambda o: {"id": o.resource_id})
    change_hash = factory.LazyAttribute(lambda o: sha256_hex([o.action, o.resource_id, o.after_snapshot]))
    correlation_id = factory.LazyFunction(uuid.uuid4)
    ip_address = "127.0.0.1"
