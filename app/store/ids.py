"""Time-ordered identifiers (UUID version 7, RFC 9562).

The standard library only gains ``uuid7`` in Python 3.14; keys that grow with time keep the b-tree
compact and make ``id`` a natural cursor for stable pagination.
"""

from __future__ import annotations

import os
import time
import uuid


def new_id() -> uuid.UUID:
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return uuid.UUID(int=value)
