"""Money: integer amounts in a currency's minor unit, formatted with babel (CLDR data)."""

import re
from decimal import Decimal
from functools import lru_cache

from babel.core import Locale, UnknownLocaleError
from babel.numbers import format_currency, get_currency_precision

DEFAULT_LOCALE = "en_US"


def minor_unit_exponent(currency: str) -> int:
    """Digits after the decimal point: USD 2, JPY 0, KWD 3 (ISO 4217 via CLDR)."""
    return get_currency_precision(currency.upper())


def to_major_units(amount: int, currency: str) -> Decimal:
    return Decimal(amount).scaleb(-minor_unit_exponent(currency))


# An amount as a merchant types it: ASCII digits (commas only between groups of three),
# then a point and the decimals. "12,50" is not read as 12.50 (nor as 1250).
MAJOR_UNITS = re.compile(r"(?P<whole>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.(?P<fraction>[0-9]+))?")


class TooManyDecimals(ValueError):
    """The amount has more decimals than its currency (``exponent``) has."""

    def __init__(self, exponent: int):
        super().__init__(exponent)
        self.exponent = exponent


def to_minor_units(text: str, currency: str) -> int:
    """``"12.50"`` USD → 1250, ``"1200"`` JPY → 1200, ``"1.234"`` KWD → 1234: the currency's
    own exponent. ``ValueError`` for text that is not an amount, ``TooManyDecimals`` for more
    decimals than the currency has (``"12.5"`` JPY, ``"12.500"`` USD)."""
    match = MAJOR_UNITS.fullmatch(text.strip())
    if match is None:
        raise ValueError(text)
    exponent = minor_unit_exponent(currency)
    fraction = match["fraction"] or ""
    if len(fraction) > exponent:
        raise TooManyDecimals(exponent)
    return int(match["whole"].replace(",", "") + fraction.ljust(exponent, "0"))


def format_major_units(amount: int, currency: str) -> str:
    """What a merchant would type for ``amount``: ``1250`` USD → ``"12.50"``, JPY ``"1200"``,
    KWD ``1234`` → ``"1.234"`` (no symbol, no grouping: ``to_minor_units`` reads it back)."""
    return format(to_major_units(amount, currency), "f")


@lru_cache(maxsize=64)
def _locale(locale: str | None) -> Locale:
    try:
        return Locale.parse((locale or DEFAULT_LOCALE).replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        return Locale.parse(DEFAULT_LOCALE)


def format_money(amount: int, currency: str, locale: str | None = None) -> str:
    """``format_money(7500, "USD")`` → ``$75.00``; JPY shows no decimals, KWD three."""
    currency = currency.upper()
    return format_currency(to_major_units(amount, currency), currency, locale=_locale(locale))
