"""The emails Shipyard writes: each has a plain-text part and an HTML part, from Jinja2 templates.

The templates live in `email/templates/`, one `<kind>.txt` and one `<kind>.html` per email. HTML
templates autoescape every value (a customer named `<script>` arrives as text); text templates do
not, so the plain part shows names as they were typed. Undefined variables fail loudly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage as MimeMessage
from email.utils import make_msgid
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from shipyard.mcp.money import format_minor as money
from shipyard.models import Customer, EmailMessage, Invoice

templates = Environment(
    loader=PackageLoader("shipyard", "email/templates"),
    # Only the HTML templates escape; escaping the text part would show `&lt;` to the reader.
    autoescape=select_autoescape(enabled_extensions=("html",), default=False, default_for_string=False),
    undefined=StrictUndefined,
    # Block tags on their own line leave no blank line behind, so the text part reads as written.
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,
)


def render_parts(kind: str, **values: Any) -> tuple[str, str]:  # noqa: ANN401 - template values are arbitrary
    """(text, html) of the email `kind`, from `<kind>.txt` and `<kind>.html`."""
    return templates.get_template(f"{kind}.txt").render(values), templates.get_template(f"{kind}.html").render(values)


@dataclass(frozen=True, slots=True)
class Draft:
    """A message before it is queued."""

    kind: str
    to: str
    subject: str
    text: str
    html: str


def _lines(invoice: Invoice) -> list[tuple[str, str]]:
    return [
        (
            f"{line.get('description', '')} x {line.get('quantity', 1)}",
            money(int(line.get("amount", 0)), invoice.currency),
        )
        for line in invoice.line_items
    ]


def invoice_email(invoice: Invoice, customer: Customer, *, reminder: bool = False) -> Draft:
    """The invoice, for the customer to read and pay (or a reminder that it is overdue)."""
    total = money(invoice.total, invoice.currency)
    due = invoice.due_date.isoformat() if invoice.due_date else "on receipt"
    heading = f"Reminder: invoice {invoice.number} is overdue" if reminder else f"Invoice {invoice.number}"
    text, html = render_parts(
        "invoice",
        customer_name=customer.name,
        heading=heading,
        total=total,
        due=due,
        lines=_lines(invoice),
        memo=invoice.memo,
    )
    kind = "invoice_reminder" if reminder else "invoice"
    return Draft(kind=kind, to=customer.email, subject=heading, text=text, html=html)


def endpoint_disabled_email(to: str, url: str, reason: str) -> Draft:
    """Telling an owner that a webhook endpoint was switched off."""
    why = {
        "gone": "answered 410 Gone",
        "blocked": "now resolves to an address Shipyard may not call (a private or non-public network)",
    }.get(reason, "kept failing until every retry was used")
    text, html = render_parts("webhook_disabled", url=url, why=why)
    return Draft(kind="webhook_disabled", to=to, subject="A webhook endpoint was disabled", text=text, html=html)


def invitation_email(  # noqa: PLR0913 - every value the email shows, keyword-only
    *, to: str, organization: str, inviter: str, role: str, link: str, expires: datetime
) -> Draft:
    """An invitation to join an organisation, with its one-time link (the token is in the link's fragment)."""
    text, html = render_parts(
        "invitation",
        organization=organization,
        inviter=inviter,
        role=role,
        article="an" if role[0] in "aeiou" else "a",
        email=to,
        link=link,
        expires=expires.strftime("%Y-%m-%d %H:%M UTC"),
    )
    return Draft(kind="invitation", to=to, subject=f"Join {organization} on Shipyard", text=text, html=html)


def to_mime(message: EmailMessage, sender: str) -> MimeMessage:
    """The queued row as a multipart/alternative MIME message."""
    mime = MimeMessage()
    mime["From"] = sender
    mime["To"] = message.to_address
    mime["Subject"] = message.subject
    mime["Message-ID"] = make_msgid(idstring=message.id)
    mime.set_content(message.text_body)
    if message.html_body:
        mime.add_alternative(message.html_body, subtype="html")
    return mime
