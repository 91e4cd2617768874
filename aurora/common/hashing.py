"""Stable hashing of JSON documents, used for payload idempotency and tamper evidence."""

import hashlib
import json
import math
import re
from decimal import Decimal
from typing import Any

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


# orjson turns an integer literal beyond 64 bits into a float, silently losing digits. Any run of
# 20 or more digits might be one (u64 max has 20); such documents go to the standard library.
_MAYBE_WIDE_INTEGER = re.compile(rb"\d{20}")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN / Infinity: Python accepts them, JSON and jsonb do not


def _finite_float(literal: str) -> float:
    value = float(literal)
    if math.isinf(value):
        raise ValueError(f"{literal[:40]} is out of range for a JSON number")
    return value


def parse_json(text: bytes | str) -> Any:
    """Parse a JSON document exactly: integers of any size stay integers; NaN and Infinity are refused.

    orjson does the work for the common case (2-3x faster than the standard library on megabyte
    bodies); a document that may hold an integer beyond 64 bits, or that orjson refuses, is parsed
    by the standard library.
    Raises ValueError (json.JSONDecodeError and orjson.JSONDecodeError are both ValueErrors).
    """
    raw = text.encode("utf-8") if isinstance(text, str) else text
    if not _MAYBE_WIDE_INTEGER.search(raw):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass  # the standard library says what is wrong in plainer words ("NaN is not JSON")
    return json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)
