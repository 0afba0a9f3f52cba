"""PaymentLink's price: a link that charges nothing can be neither validated nor stored."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from tests.factories import PaymentLinkFactory

pytestmark = pytest.mark.django_db


def test_a_zero_price_fails_validation_naming_unit_price(org):
    link = PaymentLinkFactory.build(org=org, unit_price=0)

    with pytest.raises(ValidationError) as error:
        link.full_clean()

    assert list(error.value.message_dict) == ["unit_price"]


def test_the_database_refuses_a_zero_price(org):
    link = PaymentLinkFactory(org=org)

    with pytest.raises(IntegrityError):
        type(link).objects.filter(pk=link.pk).update(unit_price=0)


def test_one_minor_unit_is_a_valid_price(org):
    link = PaymentLinkFactory.build(org=org, unit_price=1)

    link.full_clean()
