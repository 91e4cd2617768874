"""The admin's use of the access layer: every list and object page shows only permitted rows."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.access import scoped


class ScopedAdminMixin:
    """Querysets pass through `accounts.access.scoped`: an object outside the user's scope is
    absent from lists and its pages answer 404, like anything that does not exist."""

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return scoped(super().get_queryset(request), request.user)  # type: ignore[misc]
