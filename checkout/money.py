"""Money: integer amounts in a currency's minor unit, formatted with babel (CLDR data)."""

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
