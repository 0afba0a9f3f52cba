"""create_checkout_session: one transaction, ids, bounds, the session_created event."""

import re
from datetime import timedelta
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError

from checkout.actors import Actor
from checkout.models import CheckoutSession, Order, OrderItem, TimelineEvent
from checkout.services import LineItem, PaymentsUnavailable, create_checkout_session
from tests.factories import PaymentLinkFactory, make_session

pytestmark = pytest.mark.django_db

SESSION_ID = re.compile(r"^cs_(test|live)_[A-Za-z0-9]{24,}$")


def create(org, **kwargs):
    kwargs.setdefault("items", [LineItem(name="Custom Widget", quantity=3, unit_price=2500)])
    return create_checkout_session(
        org=org, mode="test", source="api", actor=Actor.system(), **kwargs
    )


def test_session_and_order_are_created_together_with_items_and_total(org):
    session = create(org, customer_email="alice@example.com")
    assert session.order.amount_total == 7500
    assert session.order.currency == "USD"
    assert [(i.name, i.quantity, i.unit_price) for i in session.order.items.all()] == [
        ("Custom Widget", 3, 2500)
    ]
    assert session.expires_at - session.created_at == timedelta(minutes=60)
    assert session.events.get().kind == "session_created"


def test_session_created_event_names_its_actor_and_data(org):
    session = create(org)
    event = session.events.get()
    assert (event.actor_kind, event.actor_label) == ("system", "system")
    assert event.data["amount_total"] == 7500
    assert event.data["source"] == "api"


def test_failure_while_creating_items_leaves_neither_session_nor_order(org):
    with (
        mock.patch.object(OrderItem.objects, "bulk_create", side_effect=DatabaseError("disk full")),
        pytest.raises(DatabaseError),
    ):
        create(org)
    assert not CheckoutSession.objects.exists()
    assert not Order.objects.exists()
    assert not TimelineEvent.objects.exists()


def test_ids_have_the_documented_format_and_are_unique(org):
    sessions = [create(org) for _ in range(20)] + [make_session(org=org, mode="live")]
    ids = [s.public_id for s in sessions]
    assert all(SESSION_ID.match(i) for i in ids)
    assert ids[-1].startswith("cs_live_") and ids[0].startswith("cs_test_")
    assert all(re.match(r"^ord_[A-Za-z0-9]{24,}$", s.order.public_id) for s in sessions)
    assert len(set(ids)) == len(ids)
    assert re.match(r"^plink_[A-Za-z0-9]{24,}$", PaymentLinkFactory(org=org).public_id)


def test_order_numbers_are_sequential_per_org(org):
    numbers = [create(org).order.number for _ in range(3)]
    assert numbers == [1, 2, 3]
    assert make_session().order.number == 1  # another org starts its own sequence


@pytest.mark.parametrize("minutes", [14, 1441, 0, -5])
def test_expires_in_minutes_out_of_bounds_is_a_clear_error(org, minutes):
    with pytest.raises(ValidationError) as error:
        create(org, expires_in_minutes=minutes)
    assert "expires_in_minutes" in error.value.message_dict
    assert "15" in error.value.message_dict["expires_in_minutes"][0]
    assert not CheckoutSession.objects.exists()


@pytest.mark.parametrize("minutes", [15, 1440])
def test_expires_in_minutes_bounds_are_inclusive(org, minutes):
    session = create(org, expires_in_minutes=minutes)
    assert session.expires_at - session.created_at == timedelta(minutes=minutes)


@pytest.mark.parametrize(
    "items",
    [
        [],
        [LineItem(name="x", quantity=1, unit_price=100)] * 101,
        [LineItem(name="x", quantity=0, unit_price=100)],
        [LineItem(name="x", quantity=1, unit_price=-1)],
        [LineItem(name="", quantity=1, unit_price=100)],
    ],
    ids=["no-items", "101-items", "zero-quantity", "negative-price", "empty-name"],
)
def test_invalid_items_are_refused(org, items):
    with pytest.raises(ValidationError) as error:
        create(org, items=items)
    assert "items" in error.value.message_dict


@pytest.mark.parametrize(
    ("currency", "shown"), [("USD", "$0.01"), ("JPY", "¥1"), ("KWD", "KWD0.001")]
)
def test_a_zero_total_is_refused_naming_items_and_the_minimum(org, currency, shown):
    free = [LineItem(name="Sample", quantity=2, unit_price=0)] * 2

    with pytest.raises(ValidationError) as error:
        create(org, items=free, currency=currency)

    assert list(error.value.message_dict) == ["items"]
    assert shown in error.value.message_dict["items"][0]
    assert not CheckoutSession.objects.exists() and not Order.objects.exists()


def test_a_free_item_beside_a_paid_one_is_allowed(org):
    items = [
        LineItem(name="Espresso beans", quantity=1, unit_price=2400),
        LineItem(name="Tasting notes card", quantity=1, unit_price=0),
    ]

    assert create(org, items=items).order.amount_total == 2400


@pytest.mark.parametrize(
    "field, value",
    [
        ("currency", "XYZ"),
        ("customer_email", "not-an-email"),
        ("success_url", "javascript:alert(1)"),
        ("callback_url", "ftp://example.com/hook"),
    ],
)
def test_invalid_fields_are_refused_with_the_field_named(org, field, value):
    with pytest.raises(ValidationError) as error:
        create(org, **{field: value})
    assert list(error.value.message_dict) == [field]


def test_an_unusable_org_currency_is_refused_and_nothing_is_written(org):
    # Saved around the field's validator (a raw update, as a bad fixture or script would).
    type(org).objects.filter(pk=org.pk).update(currency="DEM")
    org.refresh_from_db()

    with pytest.raises(ValidationError) as error:
        create(org)

    assert list(error.value.message_dict) == ["currency"]
    assert not CheckoutSession.objects.exists() and not Order.objects.exists()
    assert create(org, currency="EUR").order.currency == "EUR"


def test_metadata_is_limited_to_20_string_keys(org):
    create(org, metadata={f"k{i}": "v" for i in range(20)})
    with pytest.raises(ValidationError):
        create(org, metadata={f"k{i}": "v" for i in range(21)})
    with pytest.raises(ValidationError):
        create(org, metadata={"k": 1})


def test_session_from_a_payment_link_uses_its_product(org):
    link = PaymentLinkFactory(org=org, name="Pour-over kit", unit_price=5900, quantity=2)
    session = create_checkout_session(
        org=org, mode="test", source="payment_link", actor=Actor.customer(), link=link
    )
    assert session.payment_link == link
    assert session.order.amount_total == 11800
    assert session.order.items.get().name == "Pour-over kit"


def test_deactivated_payment_link_creates_nothing(org):
    link = PaymentLinkFactory(org=org, is_active=False)
    with pytest.raises(ValidationError):
        create_checkout_session(
            org=org, mode="test", source="payment_link", actor=Actor.customer(), link=link
        )
    assert not Order.objects.exists()


def test_payment_link_of_another_mode_is_refused(org):
    link = PaymentLinkFactory(org=org, mode="live")
    with pytest.raises(ValidationError):
        create_checkout_session(
            org=org, mode="test", source="payment_link", actor=Actor.customer(), link=link
        )


def test_live_sessions_are_refused_without_a_live_processor(org, settings):
    settings.LIVE_PAYMENT_PROCESSOR = ""

    with pytest.raises(PaymentsUnavailable):
        create_checkout_session(
            org=org,
            mode="live",
            source="api",
            actor=Actor.system(),
            items=[LineItem(name="Custom Widget", quantity=1, unit_price=2500)],
        )

    assert not CheckoutSession.objects.exists()
