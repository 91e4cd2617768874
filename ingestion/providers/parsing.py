"""Validation of provider bodies with pydantic (`validate`) or, for the largest ones, msgspec
(`convert`): a body that is not the documented shape is refused with the path of the first bad
field, in the same words either way, and nothing built from it is kept."""

from __future__ import annotations

import functools
import re
from typing import Annotated, Any, TypeVar, overload

import msgspec
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


# ---- msgspec: the largest bodies, converted without building pydantic models --------------------

_MISSING = re.compile(r"^Object missing required field `([^`]*)`")
_INDEX = re.compile(r"\[(\d+)\]")
# msgspec's messages in the words pydantic uses for the other bodies, so reasons read alike.
_WORDING = [
    (re.compile(r"^Expected `(?:int|int \| null)`, got `.*`\Z"), "Input should be a valid integer"),
    (re.compile(r"^Expected `str`, got `.*`\Z"), "Input should be a valid string"),
    (re.compile(r"^Expected `array`, got `.*`\Z"), "Input should be a valid list"),
    (re.compile(r"^Expected `(?:object|object \| null)`, got `.*`\Z"), "Input should be a valid dictionary"),
    (re.compile(r"^Expected `str` matching regex (.*)\Z", re.S), r"String should match pattern \1"),
    (re.compile(r"^Expected `str` of length >= (\d+)\Z"), r"String should have at least \1 characters"),
    (re.compile(r"^Expected `str` of length <= (\d+)\Z"), r"String should have at most \1 characters"),
    (re.compile(r"^Expected `int` >= (\d+)\Z"), r"Input should be greater than or equal to \1"),
    (re.compile(r"^Expected `int` <= (\d+)\Z"), r"Input should be less than or equal to \1"),
    (
        re.compile(r"^Invalid enum value (.*)\Z", re.S),
        r"Input should be one of the documented values, not \1",
    ),
    (re.compile(r"^Object missing required field `.*`\Z"), "Field required"),
]


def _where(path: str) -> str:
    """msgspec's `$[3].account.owner` spelled as pydantic locations are elsewhere: `3.account.owner`."""
    return _INDEX.sub(r".\1", path.removeprefix("$")).lstrip(".")


def _worded(message: str) -> str:
    for pattern, wording in _WORDING:
        if pattern.match(message):
            return pattern.sub(wording, message)
    return message


def describe(error: msgspec.ValidationError) -> str:
    """The reason for a refused body: the path of the first bad field, then what is wrong with it."""
    message, _, at = str(error).partition(" - at `")
    path = at.removesuffix("`")
    if "` in `" in path:  # a bad key: "`key` in `$[0].account`"
        path = path.split("` in `", 1)[1]
    where = _where(path)
    missing = _MISSING.match(message)
    if missing:
        where = f"{where}.{missing.group(1)}".lstrip(".")
    return f"unexpected response shape at {where or 'body'}: {_worded(message)}"


def convert(shape: Any, data: Any, *, provider: str, endpoint: str) -> Any:
    """`data` (decoded JSON) as `shape`, or ProviderBadResponse naming the first bad field."""
    try:
        return msgspec.convert(data, type=shape)
    except msgspec.ValidationError as error:
        raise ProviderBadResponse(provider=provider, endpoint=endpoint, reason=describe(error)) from None


def u64_overflow(where: str, *, provider: str, endpoint: str) -> ProviderBadResponse:
    return ProviderBadResponse(
        provider=provider,
        endpoint=endpoint,
        reason=f"unexpected response shape at {where}: Input should be less than or equal to {U64_MAX}",
    )
