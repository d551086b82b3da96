"""Sending one message: over SMTP (aiosmtplib), or into the log when no SMTP host is configured."""

from __future__ import annotations

from email.message import EmailMessage as MimeMessage
from typing import Protocol

import aiosmtplib

from shipyard.kit.logging import get_logger
from shipyard.settings import Settings

log = get_logger("shipyard.email")


class Sender(Protocol):
    """Something that delivers a MIME message or raises."""

    async def send(self, message: MimeMessage) -> None:
        """Deliver `message`."""


class SmtpSender:
    """SMTP with STARTTLS (587), implicit TLS (465) or, for a local relay only, neither."""

    def __init__(self, settings: Settings) -> None:
        if settings.smtp_tls not in {"starttls", "tls", "none"}:
            msg = f"SHIPYARD_SMTP_TLS must be starttls, tls or none, not {settings.smtp_tls!r}"
            raise ValueError(msg)
        self.settings = settings

    async def send(self, message: MimeMessage) -> None:
        """Deliver `message` to the configured server."""
        settings = self.settings
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        await aiosmtplib.send(
            message,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_user,
            password=password,
            use_tls=settings.smtp_tls == "tls",
            start_tls=True if settings.smtp_tls == "starttls" else False,  # noqa: SIM210 - aiosmtplib's None means "if offered"
            timeout=settings.smtp_timeout_s,
        )


class LogSender:
    """The development default: the message goes to the log, where a developer can read it."""

    async def send(self, message: MimeMessage) -> None:
        """Log `message` instead of sending it."""
        text = message.get_body(preferencelist=("plain",))
        log.info(
            "email_logged_not_sent",
            to=message["To"],
            subject=message["Subject"],
            text=text.get_content() if text is not None else "",
        )


def sender_for(settings: Settings) -> Sender:
    """SMTP when a host is configured, the log otherwise."""
    return SmtpSender(settings) if settings.smtp_host else LogSender()
