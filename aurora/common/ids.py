"""Time-ordered UUIDs (RFC 9562 version 7) for rows written in bulk.

Random (version 4) keys land all over a primary-key index, so bulk inserts touch a different page
for every row; version 7 keys start with the time in milliseconds and go to the end of the index.
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid

_lock = threading.Lock()
_last = 0
# Uniqueness comes from the strictly increasing (time, counter) prefix within a process; the random
# tail tells processes apart, so a fast generator seeded from the OS is enough.
_random = random.Random(os.urandom(16))  # noqa: S311


def uuid7() -> uuid.UUID:
    """A version-7 UUID: 48 bits of Unix milliseconds, then a counter, then randomness. Strictly
    increasing within the process (the counter carries within a millisecond)."""
    global _last
    with _lock:
        now = time.time_ns() // 1_000_000 << 12
        _last = now if now > _last else _last + 1
        stamp = _last
        random_bits = _random.getrandbits(62)
    value = (stamp >> 12) << 80 | 0x7 << 76 | (stamp & 0xFFF) << 64 | 0b10 << 62 | random_bits
    return uuid.UUID(int=value)
