"""Stable hashing of JSON documents, used for payload idempotency and tamper evidence."""

import hashlib
import json
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
