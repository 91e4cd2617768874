"""`limit`/`offset` paging. The page is the envelope's `data` (a list); the total and the
neighbouring pages travel in headers (`X-Total-Count`, `Link`), so `data` stays the list the
seed's endpoints promise. The schema declares the bounds these methods enforce."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response

MAX_OFFSET = 10**9
WHOLE_NUMBER = re.compile(r"-?[0-9]+")


class LimitOffset(LimitOffsetPagination):
    default_limit = 50
    max_limit = 500

    def get_paginated_response(self, data: Any) -> Response:
        links = [
            f'<{url}>; rel="{rel}"'
            for rel, url in (("next", self.get_next_link()), ("prev", self.get_previous_link()))
            if url
        ]
        headers = {"X-Total-Count": str(self.count), "X-Limit": str(self.limit), "X-Offset": str(self.offset)}
        if links:
            headers["Link"] = ", ".join(links)
        return Response(data, headers=headers)

    def answer(self, request: Any, fetch: Callable[[int, int], tuple[int, Any]]) -> Response:
        """The page `fetch(limit, offset)` made, and how many rows there are in all, answered as
        `get_paginated_response` answers a page this class cut from a queryset."""
        self.request = request
        self.limit = self.get_limit(request)
        self.offset = self.get_offset(request)
        self.count, data = fetch(self.limit, self.offset)
        return self.get_paginated_response(data)

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return schema

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        bounds = {
            self.limit_query_param: (1, self.max_limit, self.default_limit, "Rows per page."),
            self.offset_query_param: (0, MAX_OFFSET, 0, "Rows to skip before the page."),
        }
        return [
            {
                "name": name,
                "required": False,
                "in": "query",
                "description": f"{description} From {minimum} to {maximum}; default {default}.",
                "schema": {"type": "integer", "minimum": minimum, "maximum": maximum, "default": default},
            }
            for name, (minimum, maximum, default, description) in bounds.items()
        ]

    def get_limit(self, request: Any) -> int:
        """A limit that is not a positive whole number is an error, not silently the default."""
        raw = request.query_params.get(self.limit_query_param)
        if raw is None:
            return self.default_limit
        return _bounded_int(raw, self.limit_query_param, minimum=1, maximum=self.max_limit)

    def get_offset(self, request: Any) -> int:
        raw = request.query_params.get(self.offset_query_param)
        if raw is None:
            return 0
        return _bounded_int(raw, self.offset_query_param, minimum=0, maximum=MAX_OFFSET)


def _bounded_int(raw: str, name: str, *, minimum: int, maximum: int) -> int:
    if not WHOLE_NUMBER.fullmatch(raw):
        raise ValidationError({name: [f"A whole number is required, not {raw[:40]!r}."]})
    # Longer than any bound: out of range without converting (Python refuses very long digit strings).
    if len(raw) > 20 or not minimum <= int(raw) <= maximum:
        raise ValidationError({name: [f"Must be between {minimum} and {maximum}."]})
    return int(raw)
