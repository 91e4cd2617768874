"""Helpers the finance admin pages share: capability checks and scoped object lookup."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404

from accounts.access import Capability, require_capability, scoped


def _require(request: HttpRequest, capability: Capability) -> None:
    require_capability(request.user, capability)


def _scoped_object(request: HttpRequest, model: Any, object_id: str) -> Any:
    """The object, if the user may see the model (else 403) and the object is in scope (else 404)."""
    if not admin.site._registry[model].has_view_or_change_permission(request):
        raise PermissionDenied
    try:
        UUID(str(object_id))
    except ValueError:
        raise Http404("no such object") from None
    return get_object_or_404(scoped(model.objects.all(), request.user), pk=object_id)
