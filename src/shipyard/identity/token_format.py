"""The API token format: `shp_<random>_<checksum>`, stored only as a SHA-256 hash.

The prefix lets secret scanners recognise a leaked token; the CRC32 checksum lets them (and us)
reject a mistyped or made-up token without a database lookup.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string
import zlib

PREFIX = "shp"
_ALPHABET = string.digits + string.ascii_letters
_RANDOM_LENGTH = 32  # 32 base62 characters ≈ 190 bits
_CHECKSUM_LENGTH = 6


def _base62(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, index = divmod(number, 62)
        chars.append(_ALPHABET[index])
    return "".join(reversed(chars))


def _checksum(random_part: str) -> str:
    return _base62(zlib.crc32(random_part.encode()), _CHECKSUM_LENGTH)


def generate() -> str:
    """A new token secret."""
    random_part = "".join(secrets.choice(_ALPHABET) for _ in range(_RANDOM_LENGTH))
    return f"{PREFIX}_{random_part}_{_checksum(random_part)}"


_SHAPE = re.compile(rf"{PREFIX}_([0-9A-Za-z]{{{_RANDOM_LENGTH}}})_([0-9A-Za-z]{{{_CHECKSUM_LENGTH}}})")


def is_well_formed(token: str) -> bool:
    """True when `token` has our shape and a matching checksum."""
    # One regex rather than a check per character (it runs on every token-cache miss).
    shape = _SHAPE.fullmatch(token)
    return shape is not None and secrets.compare_digest(shape[2], _checksum(shape[1]))


def hash_token(token: str) -> str:
    """The stored form of a token: hex SHA-256 (the secret has enough entropy for a plain hash)."""
    return hashlib.sha256(token.encode()).hexdigest()


def display_prefix(token: str) -> str:
    """The start of a token, safe to show in lists."""
    return token[:10]
