"""Which currencies an org, a payment link or a session may use (ISO 4217 via CLDR)."""

from functools import lru_cache

from babel.core import get_global
from babel.numbers import get_territory_currencies
from django.core.exceptions import ValidationError


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
