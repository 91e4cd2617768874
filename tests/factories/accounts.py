import uuid
from typing import Any

import factory
from factory.django import DjangoModelFactory

from accounts.models import AuditAction, AuditLog, Role, User

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
    class Meta:
        skip_postgeneration_save = True

    role = Role.PARTNER
    is_staff = False
    partner = factory.SubFactory(PartnerFactory)

    @factory.post_generation
    def access(obj: User, create: bool, extracted: Any, **kwargs: Any) -> None:
        """The partner's object permission, as the application grants it."""
        if create:
            from accounts.services import partner_access_sync

            partner_access_sync(obj)


class AuditLogFactory(DjangoModelFactory[AuditLog]):
    """An entry appended to the hash chain the way the application appends one."""

    class Meta:
        model = AuditLog

    user = factory.SubFactory(UserFactory)
    action = AuditAction.CREATE_AGREEMENT
    resource_type = "agreement"
    resource_id = factory.LazyFunction(lambda: str(uuid.uuid4()))
    after_snapshot = factory.LazyAttribute(lambda o: {"id": o.resource_id})
    correlation_id = factory.LazyFunction(uuid.uuid4)

    @classmethod
    def _create(cls, model_class: type[AuditLog], *args: Any, **kwargs: Any) -> AuditLog:
        from accounts.audit import audit_record

        return audit_record(
            actor=kwargs["user"],
            action=kwargs["action"],
            resource_type=kwargs["resource_type"],
            resource_id=kwargs["resource_id"],
            after=kwargs.get("after_snapshot"),
            before=kwargs.get("before_snapshot"),
            reason=kwargs.get("reason", ""),
            correlation_id=kwargs["correlation_id"],
        )
