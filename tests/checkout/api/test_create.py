"""POST /v0/checkout/sessions: the seed example, every field bound and error code."""

import pytest
from django.test import override_settings

from checkout.choices import EventKind
from checkout.models import CheckoutSession
from tests.checkout.api.client import SEED_BODY, error_of
from tests.factories import PaymentLinkFactory

ITEM = {"name": "Custom Widget", "quantity": 1, "unitPrice": 2500}


def with_items(**fields):
    return {"items": [ITEM], **fields}


def test_seed_example_creates_a_session_with_the_total(api):
    response = api.create(SEED_BODY)

    assert response.status_code == 201
    session = response.json()
    assert session["object"] == "checkout.session"
    assert session["id"].startswith("cs_test_")
    assert session["mode"] == "test"
    assert session["status"] == "open"
    assert session["active"] is True
    assert session["url"].endswith(f"/checkout/{session['id']}")
    assert session["customerEmail"] == "jenny.rosen@example.com"
    assert session["successUrl"] == "https://example.com/success"
    assert session["order"]["amountTotal"] == 7500
    assert session["order"]["currency"] == "USD"
    assert session["order"]["paymentStatus"] == "unpaid"
    assert session["order"]["paidAt"] is None
    assert session["order"]["items"] == [
        {"name": "Custom Widget", "quantity": 3, "unitPrice": 2500, "amount": 7500}
    ]


def test_times_are_iso_8601_utc_with_z(api):
    session = api.create().json()

    assert session["createdAt"].endswith("Z") and len(session["createdAt"]) == 20
    assert session["expiresAt"].endswith("Z")


def test_session_is_stored_with_a_created_event_naming_the_key(api, org):
    session_id = api.create().json()["id"]

    session = CheckoutSession.objects.get(public_id=session_id)
    assert session.org == org
    event = session.events.get(kind=EventKind.SESSION_CREATED)
    assert event.actor_label.startswith("sk_test_")


def test_expires_in_minutes_defaults_to_60(api):
    session = CheckoutSession.objects.get(public_id=api.create().json()["id"])

    assert round((session.expires_at - session.created_at).total_seconds()) == 3600


@pytest.mark.parametrize("minutes", [15, 1440])
def test_expires_in_minutes_bounds_are_accepted(api, minutes):
    assert api.create(with_items(expiresInMinutes=minutes)).status_code == 201


def test_optional_fields_shape_the_session(api):
    response = api.create(
        with_items(
            currency="eur",
            callbackUrl="https://merchant.example.com/hooks",
            requiredFields={"phone": True, "shippingAddress": True},
            metadata={"orderRef": "A-1001", "channel": "web"},
        )
    )

    session = response.json()
    assert response.status_code == 201
    assert session["currency"] == "EUR"
    assert session["callbackUrl"] == "https://merchant.example.com/hooks"
    assert session["requiredFields"] == {"phone": True, "location": False, "shippingAddress": True}
    assert session["metadata"] == {"orderRef": "A-1001", "channel": "web"}


def test_effective_settings_come_from_the_org(api, org):
    org.success_url = "https://shop.example.com/thanks"
    org.require_location = True
    org.save()

    session = api.create({"items": [ITEM]}).json()

    assert session["successUrl"] == "https://shop.example.com/thanks"
    assert session["requiredFields"]["location"] is True
    assert session["currency"] == "USD"


def test_payment_link_id_creates_a_session_for_its_product(api, org):
    link = PaymentLinkFactory(org=org, unit_price=2400)

    response = api.create({"paymentLinkId": link.public_id})

    assert response.status_code == 201
    assert response.json()["paymentLinkId"] == link.public_id
    assert response.json()["order"]["amountTotal"] == 2400


def test_payment_link_of_another_mode_is_refused(api, org):
    link = PaymentLinkFactory(org=org, mode="live")

    error = error_of(response := api.create({"paymentLinkId": link.public_id}))

    assert response.status_code == 400
    assert error["param"] == "paymentLinkId"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (with_items(expiresInMinutes=14), "expiresInMinutes"),
        (with_items(expiresInMinutes=1441), "expiresInMinutes"),
        (with_items(expiresInMinutes=60.5), "expiresInMinutes"),
        ({"items": []}, "items"),
        ({"items": [ITEM] * 101}, "items"),
        ({"items": [{**ITEM, "unitPrice": -1}]}, "items[0].unitPrice"),
        ({"items": [{**ITEM, "unitPrice": 25.5}]}, "items[0].unitPrice"),
        ({"items": [{**ITEM, "unitPrice": "2500"}]}, "items[0].unitPrice"),
        ({"items": [ITEM, {**ITEM, "quantity": 0}]}, "items[1].quantity"),
        ({"items": [{**ITEM, "quantity": 1.5}]}, "items[0].quantity"),
        ({"items": [{**ITEM, "quantity": 10**30}]}, "items[0].quantity"),
        ({"items": [{**ITEM, "name": ""}]}, "items[0].name"),
        ({"items": [{"name": "No price", "quantity": 1}]}, "items[0].unitPrice"),
        (with_items(currency="ZZZ"), "currency"),
        (with_items(currency="DEM"), "currency"),  # ISO 4217, but no longer anyone's tender
        (with_items(currency="XTS"), "currency"),  # reserved for testing
        (with_items(currency="dollars"), "currency"),
        (with_items(customerEmail="not-an-email"), "customerEmail"),
        (with_items(successUrl="not a url"), "successUrl"),
        (with_items(callbackUrl="ftp://example.com/hook"), "callbackUrl"),
        (with_items(metadata={f"k{n}": "v" for n in range(21)}), "metadata"),
        (with_items(metadata={"count": 3}), "metadata.count"),
        (with_items(requiredFields={"phone": "yes"}), "requiredFields.phone"),
        (with_items(unknownField=1), "unknownField"),
        ({}, "items"),
        ({"items": [ITEM], "paymentLinkId": "plink_doesnotexist"}, "paymentLinkId"),
    ],
)
def test_invalid_bodies_are_400_naming_the_param(api, body, param):
    response = api.create(body)

    error = error_of(response)
    assert response.status_code == 400
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert not CheckoutSession.objects.exists()


def test_a_zero_total_is_400_naming_items(api):
    free = {"items": [{**ITEM, "unitPrice": 0}, {**ITEM, "name": "Gift wrap", "unitPrice": 0}]}

    response = api.create(free)

    error = error_of(response)
    assert response.status_code == 400
    assert (error["code"], error["param"]) == ("parameter_invalid", "items")
    assert "$0.01" in error["message"]
    assert not CheckoutSession.objects.exists()


@pytest.mark.parametrize(
    "raw",
    [
        "{not json",
        "[]",
        '"a string"',
        "null",
        "1" * 5000,
        '{"items": [{"name": "x\\u0000y", "quantity": 1, "unitPrice": 1}]}',
        '{"items": [{"name": "\\ud800", "quantity": 1, "unitPrice": 1}]}',
        '{"items": null}',
        '{"items": {"name": "x"}}',
        '{"items": [null]}',
        '{"items": [{"name": "x", "quantity": NaN, "unitPrice": 1}]}',
        '{"items": [{"name": "x", "quantity": true, "unitPrice": 1}]}',
        '{"metadata": {"k": "\\u0000"}, "items": [{"name": "x", "quantity": 1, "unitPrice": 1}]}',
    ],
)
def test_malformed_or_hostile_bodies_are_400_json(api, raw):
    response = api.post("/v0/checkout/sessions", raw=raw)

    assert response.status_code == 400
    assert error_of(response)["type"] == "invalid_request_error"


def test_unicode_names_and_emails_are_kept(api):
    body = {
        "items": [{"name": "Café crème ☕ 東京", "quantity": 1, "unitPrice": 450}],
        "customerEmail": "zoe@bücher.example",
    }

    response = api.create(body)

    assert response.status_code == 201
    assert response.json()["order"]["items"][0]["name"] == "Café crème ☕ 東京"


def test_live_key_without_a_live_processor_cannot_create_sessions(live_api):
    response = live_api.create()

    assert response.status_code == 400
    assert error_of(response)["code"] == "live_mode_unavailable"
    assert not CheckoutSession.objects.exists()


@override_settings(CALLBACK_ALLOW_PRIVATE=False)
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://[::a9fe:a9fe]/hook",  # IPv4-compatible form of the cloud metadata address
        "http://[64:ff9b:1::7f00:1]/hook",  # local-use NAT64 to 127.0.0.1
        "http://[5f00::1]/hook",  # SRv6 SID
    ],
)
def test_callback_url_on_a_private_address_is_refused(api, url):
    response = api.create(with_items(callbackUrl=url))

    assert response.status_code == 400
    assert error_of(response)["param"] == "callbackUrl"


def test_callback_url_on_a_private_address_is_allowed_when_configured(api, settings):
    settings.CALLBACK_ALLOW_PRIVATE = True

    assert api.create(with_items(callbackUrl="http://127.0.0.1:9/hook")).status_code == 201


@pytest.mark.parametrize("allow_private", [True, False])
@pytest.mark.parametrize(
    "url",
    [
        "http://" + "a" * 64 + ".example.com/h",  # a DNS label over 63 characters
        "http://" + "ü" * 60 + ".com/h",  # fine as text, over 63 bytes in punycode
        "http://[::1/h",  # unbalanced IPv6 bracket
        "http://example.com:99999/h",  # port out of range
    ],
)
def test_callback_urls_with_an_impossible_host_are_400_not_500(api, settings, allow_private, url):
    settings.CALLBACK_ALLOW_PRIVATE = allow_private

    response = api.create(with_items(callbackUrl=url))

    assert response.status_code == 400
    assert error_of(response)["param"] == "callbackUrl"
    assert not CheckoutSession.objects.exists()


def test_url_and_email_fields_are_published_with_their_format(api):
    schema = api.get("/v0/openapi.json").json()
    properties = schema["components"]["schemas"]["CreateCheckoutSession"]["properties"]

    def formats(name):
        return {variant.get("format") for variant in properties[name]["anyOf"]}

    assert "uri" in formats("successUrl")
    assert "uri" in formats("callbackUrl")
    assert "email" in formats("customerEmail")
