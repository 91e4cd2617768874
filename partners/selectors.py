"""Reads about partners themselves."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from accounts.access import partner_ids_of
from partners.models import Partner


def partners_of(user: Any) -> QuerySet[Partner]:
    """The partners a user may see as a partner: those it holds guardian view permission on."""
    return Partner.objects.filter(pk__in=partner_ids_of(user))


def partner_of(user: Any) -> Partner | None:
    """The partner a partner user acts for (None: the account is not linked to one)."""
    if getattr(user, "partner_id", None) is None:
        return None
    return partners_of(user).filter(pk=user.partner_id).first()
