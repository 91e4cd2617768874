"""Authentication and model permissions from the role policy (accounts.access).

Django's user and group permission tables are not used for model permissions: a role's
capabilities decide them, so there is one source of truth. Object permissions (a partner user on
its Partner) come from django-guardian's backend. An auditor whose access expired cannot log in,
and an existing session stops working.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.db.models import Model

from accounts.access import MODEL_POLICY, access_expired, capabilities, is_usable

DELETABLE = frozenset(
    {
        "django_celery_beat.periodictask",
        "django_celery_beat.crontabschedule",
        "django_celery_beat.intervalschedule",
        "django_celery_beat.solarschedule",
        "django_celery_beat.clockedschedule",
        "auth.group",
        "axes.accessattempt",
    }
)


def model_permission(user: Any, action: str, label: str) -> bool:
    """May `user` `action` (view, add, change, delete) rows of the model `label`?"""
    policy = MODEL_POLICY.get(label)
    if policy is None or not is_usable(user):
        return False
    granted = capabilities(user)
    can_change = policy.change is not None and policy.change in granted
    if action == "view":
        return policy.view in granted or can_change
    if action in ("add", "change"):
        return can_change
    if action == "delete":
        return can_change and label in DELETABLE
    return False


class RoleBackend(ModelBackend):
    def user_can_authenticate(self, user: Any) -> bool:
        return super().user_can_authenticate(user) and not access_expired(user)

    def get_user(self, user_id: Any) -> Any:
        user = super().get_user(user_id)
        return user if user is not None and not access_expired(user) else None

    def has_perm(self, user_obj: Any, perm: str, obj: Model | None = None) -> bool:
        if obj is not None or "." not in perm:
            return False  # object permissions: guardian's backend
        app_label, codename = perm.split(".", 1)
        action, _, model = codename.partition("_")
        return model_permission(user_obj, action, f"{app_label}.{model}")

    def has_module_perms(self, user_obj: Any, app_label: str) -> bool:
        return any(
            model_permission(user_obj, "view", label)
            for label in MODEL_POLICY
            if label.split(".", 1)[0] == app_label
        )

    def get_all_permissions(self, user_obj: Any, obj: Model | None = None) -> set[str]:
        return set()  # permissions are answered per question by has_perm
