"""The API stores the canonical form of ``customerEmail`` (orgs.emails) and refuses an address
no mail server can deliver to with a 400 naming ``customerEmail``."""

import pytest

from checkout.models import CheckoutSession
from tests.checkout.api.client import error_of

pytestmark = pytest.mark.django_db

LONG_LABEL_EMAIL = "a@" + "é" * 60 + ".com"  # the label is 124 octets once punycoded (max 63)
ITEMS = [{"name": "Espresso beans", "quantity": 1, "unitPrice": 2400}]


def test_api_refuses_an_undeliverable_address_naming_customer_email(api):
    response = api.create({"items": ITEMS, "customerEmail": LONG_LABEL_EMAIL})

    error = error_of(response)
    assert response.status_code == 400
    assert error["param"] == "customerEmail"
    assert error["message"] == (
        "Invalid customerEmail: This email address cannot receive mail: a part of its domain "
        "is longer than 63 characters once encoded."
    )
    assert not CheckoutSession.objects.exists()


def test_api_stores_and_returns_the_canonical_address(api):
    response = api.create({"items": ITEMS, "customerEmail": "Victim@GMAıL.com"})

    assert response.status_code == 201
    assert response.json()["customerEmail"] == "victim@xn--gmal-nza.com"
    session = CheckoutSession.objects.get()
    assert session.customer_email == session.order.customer_email == "victim@xn--gmal-nza.com"
