"""Money formatting uses each currency's own exponent."""

import pytest

from checkout.money import format_money, is_known_currency, minor_unit_exponent


@pytest.mark.parametrize(
    "amount, currency, expected",
    [
        (7500, "USD", "$75.00"),
        (1500, "JPY", "¥1,500"),
        (12345, "KWD", "12.345"),
        (5, "EUR", "€0.05"),
    ],
)
def test_amounts_are_shown_with_the_currency_exponent(amount, currency, expected):
    assert expected in format_money(amount, currency)


def test_exponents_come_from_iso_4217():
    assert [minor_unit_exponent(c) for c in ("USD", "JPY", "KWD")] == [2, 0, 3]


def test_locale_changes_the_format():
    assert format_money(123456, "EUR", "de_DE") == "1.234,56\xa0€"


def test_unknown_currency_is_not_known():
    assert is_known_currency("USD") and not is_known_currency("XYZ")
