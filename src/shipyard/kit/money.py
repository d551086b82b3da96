"""Money for people and models: integer minor units, the currency, and a formatted string.

pycountry carries no minor-unit exponents, so the ISO 4217 exceptions are listed here. Every
currency not named below has two decimals. The list follows ISO 4217's published minor units
(amendment 176); a currency that changes its exponent needs a line here and a data migration.
"""

from __future__ import annotations

# ISO 4217 currencies without a minor unit in use.
ZERO_DECIMAL = frozenset(
    {
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "ISK",
        "JPY",
        "KMF",
        "KRW",
        "PYG",
        "RWF",
        "UGX",
        "UYI",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    }
)
THREE_DECIMAL = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"})
FOUR_DECIMAL = frozenset({"CLF", "UYW"})


def exponent(currency: str) -> int:
    """How many decimal digits the currency's minor unit has (2 unless listed above)."""
    code = currency.upper()
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    if code in FOUR_DECIMAL:
        return 4
    return 2


def format_minor(amount: int, currency: str) -> str:
    """`123456, "EUR"` → `"1,234.56 EUR"`; `1500, "JPY"` → `"1,500 JPY"`; `1500, "KWD"` → `"1.500 KWD"`."""
    digits = exponent(currency)
    sign = "-" if amount < 0 else ""
    major, minor = divmod(abs(amount), 10**digits)
    fraction = f".{minor:0{digits}d}" if digits else ""
    return f"{sign}{major:,}{fraction} {currency.upper()}"
