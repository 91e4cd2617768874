"""The admin's use of the access layer: every list and object page shows only permitted rows."""

from __future__ import annotations

from typing import Any

from django.db.models import ForeignKey, QuerySet
from django.forms import ModelChoiceField
from django.http import HttpRequest

from accounts.access import SCOPES, scoped


class ScopedAdminMixin:
    """Querysets pass through `accounts.access.scoped`: an object outside the user's scope is
    absent from lists and its pages answer 404, like anything that does not exist. The choices of
    a form's foreign keys are narrowed the same way, so nothing out of scope can be picked."""

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return scoped(super().get_queryset(request), request.user)  # type: ignore[misc]

    def formfield_for_foreignkey(
        self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> ModelChoiceField[Any] | None:
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]
        queryset = getattr(field, "queryset", None)
        if queryset is not None and queryset.model._meta.label_lower in SCOPES:
            field.queryset = scoped(queryset, request.user)
        return field  # type: ignore[no-any-return]
