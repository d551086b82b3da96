"""The emails' parts come from Jinja2 templates: HTML escaped and complete, text as typed."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from jinja2 import UndefinedError

from shipyard.email.messages import (
    endpoint_disabled_email,
    invitation_email,
    invoice_email,
    render_parts,
    templates,
)
from shipyard.models import Customer, Invoice

HOSTILE = "<b onmouseover=alert(1)>x</b>"


def _invoice(memo: str | None) -> Invoice:
    line = {"description": HOSTILE, "quantity": 2, "amount": 1000}
    return Invoice(number="12", currency="EUR", total=1000, due_date=date(2026, 1, 31), memo=memo, line_items=[line])


def test_every_email_has_a_text_and_an_html_template() -> None:
    names = set(templates.list_templates())
    kinds = {name.rsplit(".", 1)[0] for name in names}
    assert kinds == {"invoice", "invitation", "webhook_disabled"}
    assert names == {f"{kind}.{extension}" for kind in kinds for extension in ("txt", "html")}


def test_the_html_part_is_a_complete_escaped_document() -> None:
    draft = invoice_email(_invoice(HOSTILE), Customer(name=HOSTILE, email="a@example.com"), reminder=True)

    assert draft.html.startswith("<!DOCTYPE html>")
    assert '<meta charset="utf-8">' in draft.html
    assert "<b " not in draft.html
    assert draft.html.count("&lt;b onmouseover=alert(1)&gt;x&lt;/b&gt;") == 3  # name, line item, memo
    assert "<h1>Reminder: invoice 12 is overdue</h1>" in draft.html


def test_the_text_part_is_not_escaped() -> None:
    draft = invoice_email(_invoice(None), Customer(name=HOSTILE, email="a@example.com"))

    assert draft.text.splitlines() == [
        f"Hello {HOSTILE},",
        "",
        "Invoice 12: 10.00 EUR, due 2026-01-31.",
        "",
        f"  {HOSTILE} x 2: 10.00 EUR",
        "",
        "Total: 10.00 EUR",
    ]


def test_the_webhook_email_escapes_the_url_in_html() -> None:
    draft = endpoint_disabled_email("owner@example.com", "https://hooks.example/<x>", "gone")

    assert "<code>https://hooks.example/&lt;x&gt;</code> answered 410 Gone" in draft.html
    assert draft.text.startswith("Your webhook endpoint https://hooks.example/<x> answered 410 Gone")


def test_the_invitation_email_escapes_the_organisation_and_keeps_the_link_whole() -> None:
    link = "https://shipyard.example.com/invitations/accept#token=abc_DEF-123"
    draft = invitation_email(
        to="grace@example.com",
        organization=HOSTILE,
        inviter="Ada",
        role="admin",
        link=link,
        expires=datetime(2026, 12, 13, 3, 40, tzinfo=UTC),
    )

    assert draft.kind == "invitation"
    assert "<strong>&lt;b onmouseover=alert(1)&gt;x&lt;/b&gt;</strong>" in draft.html
    assert f'<a href="{link}">' in draft.html
    assert draft.text.splitlines()[0] == f"Ada invited you to join {HOSTILE} on Shipyard as an admin."
    assert link in draft.text.splitlines()
    assert "expires on 2026-12-13 03:40 UTC" in draft.text


def test_a_value_missing_from_a_template_fails_loudly() -> None:
    with pytest.raises(UndefinedError):
        render_parts("webhook_disabled", url="https://hooks.example/")
