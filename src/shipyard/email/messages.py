"""The emails Shipyard writes: each has a plain-text part and an HTML part."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage as MimeMessage
from email.utils import make_msgid
from html import escape

from shipyard.mcp.money import format_minor as money
from shipyard.models import Customer, EmailMessage, Invoice


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
    lines = _lines(invoice)
    text = "\n".join(
        [
            f"Hello {customer.name},",
            "",
            f"{heading}: {total}, due {due}.",
            "",
            *[f"  {label}: {amount}" for label, amount in lines],
            "",
            f"Total: {total}",
            *([invoice.memo] if invoice.memo else []),
        ]
    )
    rows = "".join(f"<tr><td>{escape(label)}</td><td>{escape(amount)}</td></tr>" for label, amount in lines)
    html = (
        f"<html><body><p>Hello {escape(customer.name)},</p>"
        f"<h1>{escape(heading)}</h1><p>Due {escape(due)}.</p>"
        f"<table>{rows}<tr><th>Total</th><th>{escape(total)}</th></tr></table>"
        f"{f'<p>{escape(invoice.memo)}</p>' if invoice.memo else ''}</body></html>"
    )
    kind = "invoice_reminder" if reminder else "invoice"
    return Draft(kind=kind, to=customer.email, subject=heading, text=text, html=html)


def endpoint_disabled_email(to: str, url: str, reason: str) -> Draft:
    """Telling an owner that a webhook endpoint was switched off."""
    why = {
        "gone": "answered 410 Gone",
        "blocked": "now resolves to an address Shipyard may not call (a private or non-public network)",
    }.get(reason, "kept failing until every retry was used")
    text = (
        f"Your webhook endpoint {url} {why}, so Shipyard disabled it.\n\n"
        "Fix the receiver, enable the endpoint again, and redeliver the failed deliveries from the delivery log."
    )
    html = (
        f"<html><body><p>Your webhook endpoint <code>{escape(url)}</code> {escape(why)}, so Shipyard disabled it.</p>"
        "<p>Fix the receiver, enable the endpoint again, and redeliver the failed deliveries from the delivery log."
        "</p></body></html>"
    )
    return Draft(kind="webhook_disabled", to=to, subject="A webhook endpoint was disabled", text=text, html=html)


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
