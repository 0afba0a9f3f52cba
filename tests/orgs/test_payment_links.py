"""Payment links and org settings: prices that charge nothing and callback URLs the SSRF rule
refuses can be neither validated nor stored."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from orgs.models import PaymentLink
from orgs.services import save_organization, save_payment_link, set_payment_links_active
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


def test_the_link_service_refuses_a_private_callback_url_and_saves_nothing(org, settings):
    settings.CALLBACK_ALLOW_PRIVATE = False
    link = PaymentLinkFactory.build(org=org, callback_url="http://[::127.0.0.1]/hooks")

    with pytest.raises(ValidationError) as refused:
        save_payment_link(link=link)

    assert list(refused.value.message_dict) == ["callback_url"]
    assert not PaymentLink.objects.exists()


def test_the_settings_service_refuses_an_unknown_currency_and_saves_nothing(org):
    org.currency = "DEM"
    org.terms_url = "https://merchant.example.com/new-terms"

    with pytest.raises(ValidationError) as refused:
        save_organization(org=org)

    assert list(refused.value.message_dict) == ["currency"]
    org.refresh_from_db()
    assert org.currency == "USD" and org.terms_url == "https://merchant.example.com/terms"


def test_deactivating_links_changes_them_all_and_reactivating_undoes_it(org):
    links = [PaymentLinkFactory(org=org) for _ in range(3)]

    changed = set_payment_links_active(links=PaymentLink.objects.filter(org=org), active=False)

    assert changed == 3
    assert not PaymentLink.objects.filter(is_active=True).exists()
    set_payment_links_active(links=PaymentLink.objects.filter(pk=links[0].pk), active=True)
    assert list(PaymentLink.objects.filter(is_active=True)) == [links[0]]


def test_the_admin_saves_payment_links_through_the_service(admin_client, org, settings):
    settings.CALLBACK_ALLOW_PRIVATE = False
    page = admin_client.post(
        "/admin/orgs/paymentlink/add/",
        {
            "org": org.pk,
            "mode": "test",
            "name": "Beans",
            "unit_price": 2400,
            "quantity": 1,
            "callback_url": "http://10.0.0.1/hooks",
            "is_active": "on",
            "created_at_0": "2026-11-24",
            "created_at_1": "10:00:00",
        },
    )

    assert page.status_code == 200  # the form again, with the error
    assert "non-public address" in page.text
    assert not PaymentLink.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "Beans\r\nBcc: x@evil.example"),
        ("name", "Beans\u202e"),
        ("unit_price", 10**10 + 1),
        ("quantity", 10_001),
    ],
)
def test_a_link_a_checkout_would_refuse_cannot_be_saved(org, field, value):
    link = PaymentLinkFactory.build(org=org, **{field: value})

    with pytest.raises(ValidationError) as refused:
        save_payment_link(link=link)

    assert list(refused.value.message_dict) == [field]


def test_the_ssrf_refusal_does_not_say_which_private_address_a_name_has(settings):
    settings.CALLBACK_ALLOW_PRIVATE = False
    link = PaymentLinkFactory.build(callback_url="http://localhost/hooks")

    with pytest.raises(ValidationError) as refused:
        link.full_clean(exclude=["org"])

    message = refused.value.message_dict["callback_url"][0]
    assert "non-public address" in message
    assert "127.0.0.1" not in message and "::1" not in message
