"""Logins, logouts and failed logins go to the audit log."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from accounts.audit import audit_record
from accounts.models import AuditAction


@receiver(user_logged_in, dispatch_uid="audit-login")
def audit_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit_record(actor=user, action=AuditAction.LOGIN, resource=user)


@receiver(user_logged_out, dispatch_uid="audit-logout")
def audit_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        audit_record(actor=user, action=AuditAction.LOGOUT, resource=user)


@receiver(user_login_failed, dispatch_uid="audit-login-failed")
def audit_login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    # Credentials arrive with the password masked; only the username is kept.
    audit_record(
        actor=None,
        action=AuditAction.LOGIN_FAILED,
        resource_type="accounts.user",
        resource_id=str(credentials.get("username", ""))[:100] or None,
    )
