"""JWT bearer tokens: a pair for a username and password (the same lockout as every sign-in),
and a fresh access token for a refresh token."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from api.base import ScopedRequestMixin


@extend_schema(tags=["auth"], summary="Sign in: an access and a refresh token")
class TokenView(ScopedRequestMixin, TokenObtainPairView):
    """Exchange a username and password for an access token (send it as `Authorization: Bearer
    …`) and a refresh token. Repeated failures lock the account like any other sign-in."""


@extend_schema(tags=["auth"], summary="A new access token for a refresh token")
class RefreshView(ScopedRequestMixin, TokenRefreshView):
    """Exchange a refresh token for a new access token."""
