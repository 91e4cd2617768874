"""Reads about partners themselves."""

from __future__ import annotations

from typing import Any

from accounts.access import partners_of
from partners.models import Partner


def partner_of(user: Any) -> Partner | None:
    """The partner a partner user acts for (None: the account is not linked to one)."""
    if getattr(user, "partner_id", None) is None:
        return None
    return partners_of(user).filter(pk=user.partner_id).first()
