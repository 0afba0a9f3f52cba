"""Prices typed in major units ("12.50") become minor units in the currency's own exponent and
read back the same; more decimals than the currency has are refused, never rounded."""

import pytest

from checkout.money import TooManyDecimals, format_major_units, to_minor_units


@pytest.mark.parametrize(
    ("typed", "currency", "minor", "shown"),
    [
        ("12.50", "USD", 1250, "12.50"),
        ("12.5", "USD", 1250, "12.50"),
        ("12", "USD", 1200, "12.00"),
        ("0.01", "USD", 1, "0.01"),
        ("1200", "JPY", 1200, "1200"),
        ("1,200", "JPY", 1200, "1200"),
        ("1.234", "KWD", 1234, "1.234"),
        ("1,234,567.89", "EUR", 123456789, "1234567.89"),
        (" 7.5 ", "USD", 750, "7.50"),
    ],
)
def test_major_units_become_minor_units_and_read_back(typed, currency, minor, shown):
    assert to_minor_units(typed, currency) == minor
    assert format_major_units(minor, currency) == shown
    assert to_minor_units(shown, currency) == minor


@pytest.mark.parametrize(
    ("typed", "currency", "exponent"),
    [("12.5", "JPY", 0), ("12.505", "USD", 2), ("12.500", "USD", 2), ("1.2345", "KWD", 3)],
)
def test_more_decimals_than_the_currency_has_are_refused(typed, currency, exponent):
    with pytest.raises(TooManyDecimals) as refused:
        to_minor_units(typed, currency)
    assert refused.value.exponent == exponent


@pytest.mark.parametrize(
    "typed", ["", "12,50", "1,20", "-5", "+5", "1e3", ".50", "12.", "1.2.3", "１２", "٣", "12\x00"]
)
def test_text_that_is_not_an_amount_is_refused(typed):
    with pytest.raises(ValueError):
        to_minor_units(typed, "USD")
