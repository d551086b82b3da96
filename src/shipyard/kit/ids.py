"""Opaque, prefixed, time-ordered identifiers (`cus_01J...`)."""

from __future__ import annotations

import os
import time

# Crockford's base32: no I, L, O or U, so IDs survive being read aloud or retyped.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_id(prefix: str) -> str:
    """A ULID (48-bit millisecond time, 80 random bits) behind a type prefix.

    Time ordering makes the ID a stable, index-friendly pagination key; the prefix tells a human or
    an agent what kind of object an ID names.
    """
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        value, index = divmod(value, 32)
        chars.append(_ALPHABET[index])
    return f"{prefix}_{''.join(reversed(chars))}"
