"""Opaque, prefixed, time-ordered identifiers (`cus_01J...`)."""

from __future__ import annotations

import os
import threading
import time

# Crockford's base32: no I, L, O or U, so IDs survive being read aloud or retyped.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Public for code that derives something from an ID's characters (the invoice totals' shard).
ID_ALPHABET = _ALPHABET
_RANDOM_BITS = 80
_lock = threading.Lock()
_last = 0


def new_id(prefix: str) -> str:
    """A ULID (48-bit millisecond time, 80 random bits) behind a type prefix.

    Time ordering makes the ID a stable, index-friendly pagination key; the prefix tells a human or
    an agent what kind of object an ID names. Within one process IDs are strictly increasing, even
    inside the same millisecond (the random part is incremented), so "newest first" is exact for
    rows one process creates in a burst.
    """
    global _last  # noqa: PLW0603 - the monotonic counter is process state by design
    candidate = (int(time.time() * 1000) << _RANDOM_BITS) | int.from_bytes(os.urandom(10), "big")
    with _lock:
        value = candidate if candidate > _last else _last + 1
        _last = value
    chars = []
    for _ in range(26):
        value, index = divmod(value, 32)
        chars.append(_ALPHABET[index])
    return f"{prefix}_{''.join(reversed(chars))}"
