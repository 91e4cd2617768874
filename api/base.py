"""What every API view shares: authentication, the access layer, the database's row-level scope
for the authenticated user, and the envelope."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from rest_framework import generics
from rest_framework.exceptions import MethodNotAllowed, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from aurora.common.dbscope import set_database_scope
from serving.answers import AnswerCache
from serving.versions import one_snapshot


def refuse_nul_characters(request: Request, kwargs: dict[str, Any]) -> None:
    """PostgreSQL text cannot hold NUL: a query or path parameter with one is a 400 naming it,
    not a database error. (Bodies: DRF's character fields already refuse NUL.)"""
    for name, values in request.query_params.lists():
        if "\x00" in name or any("\x00" in value for value in values):
            raise ValidationError({name.replace("\x00", "") or "query": ["Null characters are not allowed."]})
    for name, value in kwargs.items():
        if isinstance(value, str) and "\x00" in value:
            raise ValidationError({name: ["Null characters are not allowed."]})


class ScopedRequestMixin:
    """A bearer token is read inside DRF, after the middleware set the row-level scope for the
    session's (anonymous) user: set it again for the user DRF authenticated."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        refuse_nul_characters(request, kwargs)

    def check_permissions(self, request: Request) -> None:
        """A method the endpoint does not have is a 405 (with `Allow`) for everyone, rather than the
        403 the role check would give first."""
        method = (request.method or "").lower()
        if method not in self.http_method_names or not hasattr(self, method):  # type: ignore[attr-defined]
            raise MethodNotAllowed(request.method or "")
        super().check_permissions(request)  # type: ignore[misc]

    def perform_authentication(self, request: Request) -> None:
        super().perform_authentication(request)  # type: ignore[misc]
        user = request.user
        if user is not None and user.is_authenticated:
            set_database_scope(role=user.role, partner_id=getattr(user, "partner_id", None))


class _Replayed(Exception):
    def __init__(self, response: HttpResponse) -> None:
        self.response = response


class CachedAnswerMixin:
    """GET answers replayed from serving.answers while the data they were made from hold (after
    authentication, permissions and throttling, which every request still passes), stored with
    their ETag when made; `If-None-Match` with it gets a 304."""

    answers: AnswerCache | None = None

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        if request.method != "GET":
            return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
        with one_snapshot():
            return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        if request.method == "GET" and not getattr(self, "swagger_fake_view", False):
            self.answers = AnswerCache(request, request.user)
            replayed = self.answers.lookup()
            if replayed is not None:
                raise _Replayed(replayed)

    def handle_exception(self, exc: Exception) -> Any:
        if isinstance(exc, _Replayed):
            return exc.response
        return super().handle_exception(exc)  # type: ignore[misc]

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        if self.answers is not None and isinstance(response, Response) and response.status_code == 200:
            response.render()
            # A 304 is Django's response, not DRF's: the server takes either.
            return self.answers.keep(response)  # type: ignore[return-value]
        return response


class ApiView(ScopedRequestMixin, APIView):
    pass


class ListApiView(ScopedRequestMixin, generics.ListAPIView):  # type: ignore[type-arg]
    """A list: subclasses say which rows in `rows()` (they may read the URL's parameters and the
    user); the schema generator, which has neither, gets the class's empty `queryset`."""

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):
            return super().get_queryset()
        return self.rows()

    def rows(self) -> QuerySet[Any]:
        raise NotImplementedError


class RetrieveApiView(ScopedRequestMixin, generics.RetrieveAPIView):  # type: ignore[type-arg]
    pass


def query_param(request: Request, name: str) -> str | None:
    value: Any = request.query_params.get(name)
    return value.strip() if isinstance(value, str) and value.strip() else None
