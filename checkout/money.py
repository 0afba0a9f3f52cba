"""Money: integer amounts in a currency's minor unit, formatted with babel (CLDR data)."""

from decimal import Decimal
from functools import lru_cache

from babel.core import Locale, UnknownLocaleError, get_global
from babel.numbers import format_currency, get_currency_precision, get_territory_currencies
from django.core.exceptions import ValidationError

DEFAULT_LOCALE = "en_US"


@lru_cache(maxsize=1)
def known_currencies() -> frozenset[str]:
    """ISO 4217 codes that are legal tender somewhere today (CLDR): no DEM, no XXX or XTS."""
    territories = get_global("territory_currencies")
    return frozenset(
        code for territory in territories for code in get_territory_currencies(territory)
    )


def is_known_currency(code: str) -> bool:
    return code in known_currencies()


def validate_currency_code(value: str) -> None:
    """Model field validator: a currency code the checkout can charge in."""
    if value and not is_known_currency(value.upper()):
        raise ValidationError(
            "%(value)s is not the ISO 4217 code of a currency in use (e.g. USD, EUR, JPY).",
            code="invalid_currency",
            params={"value": repr(value)},
        )


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
