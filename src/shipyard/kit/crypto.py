"""Encrypting small secrets at rest (webhook signing secrets) with a key derived from SECRET_KEY.

AES-256-GCM with a random nonce; the key comes from SHIPYARD_SECRET_KEY through HKDF, with a
purpose string so that one secret key yields independent keys for independent uses. The row's
ID is bound as associated data, so a ciphertext copied onto another row does not decrypt.
Without a secret key (development and tests only: production refuses to start without one) a
fixed development key is used, which protects nothing and says so in its name.

Key ring: the current key encrypts; previous keys (SHIPYARD_SECRET_KEY_PREVIOUS) still decrypt, so a
key can be replaced without losing what is stored, and `shipyard secrets rotate-key` re-encrypts it.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_VERSION = "v1"
_NONCE_BYTES = 12
_DEVELOPMENT_KEY = b"shipyard-development-key-not-secret"


class DecryptionError(ValueError):
    """The ciphertext was altered, belongs to another row, or was made with another secret key."""


class SecretBox:
    """Encrypts and decrypts short strings for one purpose, with the current key and any previous ones."""

    def __init__(self, secret_key: str | None, purpose: str, *, previous_keys: Sequence[str] = ()) -> None:
        materials = [secret_key.encode() if secret_key else _DEVELOPMENT_KEY, *(key.encode() for key in previous_keys)]
        self._aeads = [
            AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(material))
            for material in materials
        ]

    def encrypt(self, plaintext: str, *, associated: str) -> str:
        """`v1:<base64 nonce+ciphertext>`, always with the current key."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aeads[0].encrypt(nonce, plaintext.encode(), associated.encode())
        return f"{_VERSION}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str, *, associated: str) -> str:
        """The plaintext of `encrypt`'s output; `DecryptionError` if anything does not match."""
        plaintext, _ = self.open(token, associated=associated)
        return plaintext

    def open(self, token: str, *, associated: str) -> tuple[str, bool]:
        """(plaintext, whether the current key made it); `DecryptionError` if no key of the ring opens it."""
        version, _, encoded = token.partition(":")
        if version != _VERSION:
            raise DecryptionError("unknown ciphertext version")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except ValueError as exc:
            raise DecryptionError("the secret cannot be decrypted with this key") from exc
        for index, aead in enumerate(self._aeads):
            try:
                plaintext = aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], associated.encode()).decode()
            except (InvalidTag, ValueError):
                continue
            return plaintext, index == 0
        raise DecryptionError("the secret cannot be decrypted with this key")
