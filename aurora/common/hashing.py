"""Stable hashing of JSON documents, used for payload idempotency and tamper evidence."""

import hashlib
import json
import math
from decimal import Decimal
from typing import Any

import msgspec
import orjson


def _default(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot hash a value of type {type(value).__name__}")


def canonical_json(document: Any) -> str:
    """One spelling per document: sorted keys, no insignificant whitespace, UTF-8 kept.

    orjson does the work (payloads run to megabytes); it refuses integers beyond 64 bits, which
    the standard library then spells. Either way the same document always gives the same text.
    """
    try:
        return orjson.dumps(document, option=orjson.OPT_SORT_KEYS, default=_default).decode("utf-8")
    except TypeError:
        return json.dumps(
            document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default
        )


def sha256_hex(document: Any) -> str:
    """SHA-256 (hex, 64 chars) of the canonical JSON spelling of `document`."""
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()


# msgspec reads integers of any size exactly (orjson turns one beyond 64 bits into a float) and
# is as fast as orjson on megabyte bodies.
_DECODER = msgspec.json.Decoder()


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN / Infinity: Python accepts them, JSON and jsonb do not


def _finite_float(literal: str) -> float:
    value = float(literal)
    if math.isinf(value):
        raise ValueError(f"{literal[:40]} is out of range for a JSON number")
    return value


def parse_json(text: bytes | str) -> Any:
    """Parse a JSON document exactly: integers of any size stay integers; NaN and Infinity are refused.

    Raises ValueError (json.JSONDecodeError) naming what is wrong in the standard library's plain
    words ("Expecting value", "NaN is not JSON").
    """
    try:
        return _DECODER.decode(text)
    except msgspec.DecodeError:
        pass
    return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
