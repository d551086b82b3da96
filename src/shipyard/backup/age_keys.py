"""The age keys backups are encrypted to and decrypted with (pyrage, the Rust `age` implementation)."""

from __future__ import annotations

from pathlib import Path

import pyrage
from pyrage import x25519


class BackupError(Exception):
    """A backup, restore or copy was refused or failed; the message says why and what to do."""


def recipient(public_key: str | None) -> x25519.Recipient:
    """The recipient from SHIPYARD_BACKUP_AGE_RECIPIENT."""
    if not public_key:
        raise BackupError("SHIPYARD_BACKUP_AGE_RECIPIENT is not set: set it to the age public key (age1...)")
    try:
        return x25519.Recipient.from_str(public_key.strip())
    except pyrage.RecipientError:
        raise BackupError("SHIPYARD_BACKUP_AGE_RECIPIENT is not an age public key (age1...)") from None


def identities(identity_file: Path | None) -> list[x25519.Identity]:
    """Every identity in the age identity file (one `AGE-SECRET-KEY-1...` per line, `#` comments).

    Several lines let one file open the backups taken before and after a key rotation.
    """
    if identity_file is None:
        raise BackupError("SHIPYARD_BACKUP_AGE_IDENTITY_FILE is not set: point it at the age identity (key) file")
    try:
        lines = identity_file.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise BackupError(f"cannot read SHIPYARD_BACKUP_AGE_IDENTITY_FILE {identity_file}: {exc.strerror}") from None
    keys = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    try:
        parsed = [x25519.Identity.from_str(key) for key in keys]
    except pyrage.IdentityError:
        # Never echo the line: it is a secret key.
        raise BackupError(f"{identity_file} holds a line that is not an age identity (AGE-SECRET-KEY-1...)") from None
    if not parsed:
        raise BackupError(f"{identity_file} holds no age identity")
    return parsed
