"""Money formatting uses each currency's own exponent."""

import pytest
from django.core.exceptions import ValidationError

from checkout.money import format_money, minor_unit_exponent
from orgs.currencies import is_known_currency
from tests.factories import PaymentLinkFactory


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


def test_only_currencies_in_use_are_known():
    assert all(is_known_currency(code) for code in ("USD", "EUR", "JPY", "KWD", "CHF"))
    assert not any(is_known_currency(code) for code in ("XYZ", "DEM", "XXX", "XTS", "usd"))


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["XYZ", "DEM", "12", "US"])
def test_org_and_link_currencies_are_validated(org, value):
    link = PaymentLinkFactory.build(org=org, currency=value)
    org.currency = value

    with pytest.raises(ValidationError) as org_error:
        org.full_clean()
    with pytest.raises(ValidationError) as link_error:
        link.full_clean()

    assert "currency" in org_error.value.message_dict
    assert "currency" in link_error.value.message_dict


@pytest.mark.django_db
def test_lower_case_and_empty_link_currency_are_accepted(org):
    org.currency = "eur"
    org.full_clean()
    PaymentLinkFactory.build(org=org, currency="").full_clean()
