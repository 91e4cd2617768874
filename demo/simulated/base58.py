"""Bitcoin-alphabet base58, as Solana writes public keys and signatures.

Works on five digits at a time (58^5 fits a machine word) so a 32-byte key costs about ten
big-integer operations instead of forty-four.
"""

from __future__ import annotations

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_PAIRS = [first + second for first in ALPHABET for second in ALPHABET]
_PAIR = 58 * 58
_CHUNK = 58**5
_DIGITS = bytes.maketrans(ALPHABET.encode(), bytes(range(58)))
_INVALID = bytes(set(range(256)) - set(ALPHABET.encode()))


def b58encode(data: bytes) -> str:
    """Base58 of `data`; every leading zero byte becomes a leading "1"."""
    number = int.from_bytes(data, "big")
    chunks: list[str] = []
    while number:
        number, chunk = divmod(number, _CHUNK)
        high, low = divmod(chunk, _PAIR)
        top, middle = divmod(high, _PAIR)
        chunks.append(ALPHABET[top] + _PAIRS[middle] + _PAIRS[low])
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + "".join(reversed(chunks)).lstrip("1")


def b58decode(text: str) -> bytes:
    """Bytes of a base58 string; ValueError on a character outside the alphabet."""
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError("invalid base58 character") from None
    if raw.translate(None, _INVALID) != raw:
        raise ValueError("invalid base58 character")
    digits = raw.translate(_DIGITS)
    number = 0
    head = len(digits) % 5
    for value in digits[:head]:
        number = number * 58 + value
    for start in range(head, len(digits), 5):
        a, b, c, d, e = digits[start : start + 5]
        number = number * _CHUNK + ((((a * 58 + b) * 58 + c) * 58 + d) * 58 + e)
    zeros = len(raw) - len(raw.lstrip(b"1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * zeros + body
