"""The OpenAPI document says what the wire carries: drf-spectacular describes each view's data,
and this hook wraps it in the envelope and adds the error answers every operation can give. Filters
declare the bounds they enforce (a filter's `max_length` becomes the parameter's `maxLength`)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.contrib.django_filters import DjangoFilterExtension

ERROR_STATUSES = {
    "400": "Invalid input: `error.details` names each field and what is wrong with it.",
    "401": "No valid credentials (send `Authorization: Bearer <access token>`).",
    "403": "The user's role may not do this.",
    "404": "Not found, or not visible to this user.",
    "406": "The `Accept` header names no type this operation answers with.",
    "429": "Too many requests; retry after `error.details.retry_after_seconds`.",
}
BODY_ERROR_STATUSES = {
    "413": "The body is larger than the server accepts (`error.code` is `payload_too_large`).",
    "415": "The body is not `application/json`.",
}

ERROR_ENVELOPE = {
    "type": "object",
    "required": ["data", "error"],
    "properties": {
        "data": {"nullable": True, "enum": [None]},
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "example": "validation_error"},
                "message": {"type": "string", "example": "to_period: This field is required."},
                "details": {"type": "object", "additionalProperties": True},
            },
        },
    },
}

PAGE_HEADERS = {
    "X-Total-Count": {"schema": {"type": "integer"}, "description": "Rows matching, over all pages."},
    "Link": {"schema": {"type": "string"}, "description": 'Next and previous pages: <url>; rel="next".'},
}


def _wrap(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["data", "error"],
        "properties": {"data": schema, "error": {"nullable": True, "enum": [None]}},
    }


def envelope_hook(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["ErrorEnvelope"] = ERROR_ENVELOPE
    error_ref = {"$ref": "#/components/schemas/ErrorEnvelope"}
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/v1/") or path.startswith("/v1/schema"):
            continue
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            paged = any(p.get("name") == "limit" for p in operation.get("parameters", []))
            for code, response in operation["responses"].items():
                content = response.get("content", {})
                body = content.get("application/json")
                if code.startswith("2") and body and "schema" in body:
                    body["schema"] = _wrap(body["schema"])
                    for example in body.get("examples", {}).values():
                        if "value" in example:
                            example["value"] = {"data": example["value"], "error": None}
                    if paged:
                        response.setdefault("headers", {}).update(PAGE_HEADERS)
            statuses = ERROR_STATUSES | (BODY_ERROR_STATUSES if "requestBody" in operation else {})
            for code, description in sorted(statuses.items()):
                operation["responses"].setdefault(
                    code, {"description": description, "content": {"application/json": {"schema": error_ref}}}
                )
    return result


class BoundedFilterExtension(DjangoFilterExtension):  # type: ignore[no-untyped-call]
    """django-filter's parameters, with each filter's `max_length` as the parameter's `maxLength`."""

    priority = 1

    def resolve_filter_field(
        self, auto_schema: Any, model: Any, filterset_class: Any, field_name: str, filter_field: Any
    ) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super().resolve_filter_field(  # type: ignore[no-untyped-call]
            auto_schema, model, filterset_class, field_name, filter_field
        )
        max_length = filter_field.extra.get("max_length")
        for parameter in parameters:
            schema = parameter.get("schema", {})
            if max_length and schema.get("type") == "string":
                schema["maxLength"] = max_length
        return parameters
