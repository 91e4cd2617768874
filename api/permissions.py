"""API permissions come from the access layer (accounts.access), like the admin's and the portal's."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission

from accounts.access import Capability, capabilities, is_usable


class Capable(BasePermission):
    """The view's `read_capabilities` (any of them) for safe methods, `write_capability` otherwise.
    A signed-in user without them gets 403; nobody signed in, 401."""

    message = "Your role may not use this endpoint."

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        if not is_usable(user):
            return False
        granted = capabilities(user)
        if request.method in ("GET", "HEAD", "OPTIONS"):
            wanted = getattr(view, "read_capabilities", ())
            return not wanted or bool(granted & frozenset(wanted))
        write = getattr(view, "write_capability", None)
        return write is not None and write in granted


STAFF_READERS = (Capability.VIEW_OPERATIONS, Capability.VIEW_COMMISSIONS)
