"""Django admin: every model is registered, lists filter by derived status, money is formatted."""

import pytest
from django.apps import apps
from django.contrib import admin

from checkout.actors import Actor
from checkout.choices import EventKind
from checkout.money import format_money
from checkout.timeline import record_event
from orgs.models import CallbackSecret, Mode
from tests.factories import UserFactory, make_session, signing_secret

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator_client(client):
    client.force_login(UserFactory(username="operator", is_staff=True, is_superuser=True))
    return client


def test_every_model_of_our_apps_is_in_the_admin():
    missing = [
        model.__name__
        for app in ("orgs", "checkout")
        for model in apps.get_app_config(app).get_models()
        if model not in admin.site._registry
    ]
    assert missing == []


def test_session_list_filters_by_derived_status_and_formats_money(operator_client):
    failed = make_session(failed_attempts=1)
    paid = make_session(paid=True)
    response = operator_client.get("/admin/checkout/checkoutsession/?status=failed")
    assert response.status_code == 200
    assert failed.public_id in response.text and paid.public_id not in response.text
    assert "$75.00" in response.text


def test_session_change_page_shows_items_and_a_readable_timeline(operator_client):
    session = make_session(failed_attempts=1)
    record_event(
        session=session,
        kind=EventKind.PAYMENT_FAILED,
        actor=Actor.customer(),
        data={"decline_code": "insufficient_funds"},
    )
    item = session.order.items.get()

    page = operator_client.get(f"/admin/checkout/checkoutsession/{session.pk}/change/")

    assert page.status_code == 200
    text = page.text
    assert item.name in text and format_money(item.amount, session.order.currency) in text
    events = list(session.events.order_by("created_at", "id"))
    assert [event.kind for event in events] == ["session_created", "payment_failed"]
    for event in events:
        assert event.created_at.strftime("%Y-%m-%d %H:%M:%S") in text  # to the second
    # Oldest first, with the actor and the event's data, above the customer's details.
    assert text.index("Session created") < text.index("Payment failed")
    assert "&quot;decline_code&quot;: &quot;insufficient_funds&quot;" in text
    assert text.index("Payment failed") < text.index("Customer and context")


def test_paid_session_and_its_order_cannot_be_edited_in_the_admin(operator_client):
    session = make_session(paid=True)
    session_page = operator_client.get(f"/admin/checkout/checkoutsession/{session.pk}/change/")
    order_page = operator_client.get(f"/admin/checkout/order/{session.order.pk}/change/")

    for field in ("mode", "org", "customer_email", "payment_method_last4", "expires_at"):
        assert f'name="{field}"' not in session_page.text
    for field in ("mode", "amount_total", "payment_status", "paid_at", "payment_reference"):
        assert f'name="{field}"' not in order_page.text
    assert 'name="items-0-unit_price"' not in order_page.text


def test_callback_deliveries_are_named_in_plain_english(operator_client):
    page = operator_client.get("/admin/")

    assert "Callback deliveries" in page.text
    assert "deliverys" not in page.text


def test_session_list_query_count_does_not_grow_with_rows(
    operator_client, django_assert_max_num_queries
):
    for _ in range(3):
        make_session()
    with django_assert_max_num_queries(12) as few:
        operator_client.get("/admin/checkout/checkoutsession/")
    for _ in range(30):
        make_session()
    with django_assert_max_num_queries(len(few.captured_queries)):
        operator_client.get("/admin/checkout/checkoutsession/")


def test_order_admin_shows_formatted_total(operator_client):
    session = make_session(currency="JPY", items=None)
    response = operator_client.get(f"/admin/checkout/order/{session.order.pk}/change/")
    assert "¥7,500" in response.text


def test_both_callback_secrets_are_shown_but_not_editable_in_the_admin(operator_client, org):
    url = f"/admin/orgs/organization/{org.pk}/change/"

    page = operator_client.get(url)

    assert signing_secret(org, Mode.TEST) in page.text
    assert signing_secret(org, Mode.LIVE) in page.text
    assert 'name="test_callback_secret"' not in page.text
    assert 'name="live_callback_secret"' not in page.text


def test_callback_secret_rows_cannot_be_added_or_edited_in_the_admin(operator_client, org):
    secret = CallbackSecret.objects.get(secret=signing_secret(org, Mode.LIVE))

    page = operator_client.get(f"/admin/orgs/callbacksecret/{secret.pk}/change/")
    add_page = operator_client.get("/admin/orgs/callbacksecret/add/")

    assert secret.secret in page.text
    assert 'name="secret"' not in page.text
    assert add_page.status_code == 403
