"""Validation of provider bodies with pydantic: a body that is not the documented shape is refused
with the path of the first bad field, and nothing built from it is kept."""

from __future__ import annotations

import functools
from typing import Annotated, Any, TypeVar, overload

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError

from ingestion.providers.errors import ProviderBadResponse

M = TypeVar("M")

U64_MAX = 2**64 - 1


def _u64_from_string(value: Any) -> Any:
    """Providers send u64 either as JSON numbers or as decimal strings (jsonParsed); accept both exactly."""
    if isinstance(value, str):
        if not value.isdigit():
            raise ValueError("expected an unsigned integer string")
        return int(value)
    return value


StrictU64 = Annotated[int, Field(strict=True, ge=0, le=U64_MAX)]
U64 = Annotated[int, BeforeValidator(_u64_from_string), Field(strict=True, ge=0, le=U64_MAX)]
Percent = Annotated[int, Field(strict=True, ge=0, le=100)]
BasisPoints = Annotated[int, Field(strict=True, ge=0, le=10_000)]
Pubkey = Annotated[str, Field(min_length=32, max_length=44, pattern=r"^[1-9A-HJ-NP-Za-km-z]+$")]


class ProviderModel(BaseModel):
    """Unknown fields are ignored (providers add fields); known ones are checked strictly."""

    model_config = ConfigDict(extra="ignore", frozen=True)


@functools.lru_cache(maxsize=256)
def _adapter(shape: Any) -> TypeAdapter[Any]:
    return TypeAdapter(shape)


@overload
def validate(shape: type[M], data: Any, *, provider: str, endpoint: str) -> M: ...
@overload
def validate(shape: Any, data: Any, *, provider: str, endpoint: str) -> Any: ...
def validate(shape: Any, data: Any, *, provider: str, endpoint: str) -> Any:
    try:
        return _adapter(shape).validate_python(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise ProviderBadResponse(
            provider=provider,
            endpoint=endpoint,
            reason=f"unexpected response shape at {where}: {first['msg']} ({error.error_count()} problem(s))",
        ) from None
