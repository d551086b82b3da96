"""Minor-unit exponents and formatting."""

from __future__ import annotations

import pytest

from shipyard.kit.money import exponent, format_minor
from shipyard.mcp.schemas import Money


@pytest.mark.parametrize(
    ("amount", "currency", "formatted"),
    [
        (123456, "EUR", "1,234.56 EUR"),
        (5, "usd", "0.05 USD"),
        (0, "GBP", "0.00 GBP"),
        (150000, "JPY", "150,000 JPY"),
        (1500, "KRW", "1,500 KRW"),
        (1500, "KWD", "1.500 KWD"),
        (1234567, "BHD", "1,234.567 BHD"),
        (12345, "CLF", "1.2345 CLF"),
        (-250, "EUR", "-2.50 EUR"),
        (999_999_999_999_999, "EUR", "9,999,999,999,999.99 EUR"),
    ],
)
def test_amounts_are_formatted_with_their_currencys_minor_unit(amount: int, currency: str, formatted: str) -> None:
    assert format_minor(amount, currency) == formatted


def test_unlisted_currencies_have_two_decimals() -> None:
    assert [exponent(code) for code in ("EUR", "USD", "CHF", "XYZ")] == [2, 2, 2, 2]
    assert [exponent(code) for code in ("JPY", "KWD", "UYW")] == [0, 3, 4]


def test_money_carries_minor_units_currency_and_the_formatted_string() -> None:
    assert Money.of(1500, "JPY").model_dump() == {"amount": 1500, "currency": "JPY", "formatted": "1,500 JPY"}
