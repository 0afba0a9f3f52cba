"""Payment links and org settings: prices that charge nothing and callback URLs the SSRF rule
refuses can be neither validated nor stored."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from tests.factories import OrganizationFactory, PaymentLinkFactory

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


@pytest.mark.parametrize("model", ["link", "org"])
def test_callback_urls_on_private_addresses_fail_validation_in_production(model, settings):
    settings.CALLBACK_ALLOW_PRIVATE = False
    instance = (
        PaymentLinkFactory.build(callback_url="http://127.0.0.1:8000/hooks")
        if model == "link"
        else OrganizationFactory.build(callback_url="http://[::ffff:10.0.0.1]/hooks")
    )

    with pytest.raises(ValidationError) as refused:
        instance.full_clean(exclude=["org"])

    assert "non-public address" in refused.value.message_dict["callback_url"][0]
