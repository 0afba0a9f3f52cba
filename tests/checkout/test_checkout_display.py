"""The display vocabulary (checkout/templatetags/checkout_display.py): money in each currency's
own exponent and the customer's locale, payment methods, status badges and event labels, as
templates render them."""

import pytest
from django.template import Context, Template
from django.test import RequestFactory

from checkout.choices import EventKind, SessionStatus
from checkout.models import TimelineEvent


def render(source: str, request=None, **context) -> str:
    template = Template("{% load checkout_display %}" + source)
    context = Context(context)
    if request is not None:
        context["request"] = request
    return template.render(context)


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [(7500, "USD", "$75.00"), (1500, "JPY", "¥1,500"), (12345, "KWD", "KWD12.345")],
)
def test_money_uses_the_currencys_own_exponent(amount, currency, expected):
    assert render("{% money amount currency %}", amount=amount, currency=currency) == expected


def test_money_follows_the_requests_accept_language():
    request = RequestFactory().get("/", headers={"Accept-Language": "de-DE,de;q=0.9"})

    html = render("{% money 123456 'EUR' %}", request=request)

    assert html == "1.234,56\xa0€"


def test_money_without_a_request_takes_the_given_locale_or_en_us():
    assert render("{% money 123456 'EUR' %}") == "€1,234.56"
    assert render("{% money 123456 'EUR' locale='fr_FR' %}") == "1\u202f234,56\xa0€"


def test_money_can_name_its_result_for_reuse():
    assert render("{% money 990 'USD' as total %}Pay {{ total }}") == "Pay $9.90"


@pytest.mark.parametrize(
    ("brand", "last4", "expected"),
    [
        ("visa", "4242", "Visa •••• 4242"),
        ("mastercard", "4444", "Mastercard •••• 4444"),
        ("amex", "0005", "American Express •••• 0005"),
        ("elo", "1234", "Elo •••• 1234"),  # a network we have no name for: title-cased
        ("unknown", "1234", "Card •••• 1234"),
        ("", "", "Card"),
        ("visa", "", "Visa"),
    ],
)
def test_payment_method_names_the_brand_and_last_four(brand, last4, expected):
    html = render("{{ brand|payment_method:last4 }}", brand=brand, last4=last4)

    assert html == expected


def test_payment_method_escapes_an_odd_brand_string():
    # The brand comes from a processor's response: never trusted as HTML.
    html = render(
        "{{ brand|payment_method:last4 }}", brand='<img src=x onerror="alert(1)">', last4="42&"
    )

    assert "<img" not in html
    assert html == "&lt;Img Src=X Onerror=&quot;Alert(1)&quot;&gt; •••• 42&amp;"


@pytest.mark.parametrize(
    ("status", "badge"),
    [
        (SessionStatus.OPEN, '<span class="badge badge--open">Open</span>'),
        (SessionStatus.SUCCEEDED, '<span class="badge badge--succeeded">Succeeded</span>'),
        ("failed", '<span class="badge badge--failed">Failed</span>'),
        ("expired", '<span class="badge badge--expired">Expired</span>'),
    ],
)
def test_status_badge_is_a_labelled_badge_per_status(status, badge):
    assert render("{{ status|status_badge }}", status=status) == badge


def test_status_badge_of_an_unknown_value_is_escaped_and_plain():
    html = render("{{ status|status_badge }}", status="<b>odd</b>")

    assert html == '<span class="badge">&lt;b&gt;odd&lt;/b&gt;</span>'


@pytest.mark.parametrize(
    ("status", "badge"),
    [
        ("paid", '<span class="badge badge--paid">Paid</span>'),
        ("unpaid", '<span class="badge badge--unpaid">Unpaid</span>'),
        ("<b>odd</b>", '<span class="badge">&lt;b&gt;odd&lt;/b&gt;</span>'),
    ],
)
def test_payment_status_badge_names_an_orders_payment_status(status, badge):
    assert render("{{ status|payment_status_badge }}", status=status) == badge


def test_event_label_is_the_kinds_label():
    event = TimelineEvent(kind=EventKind.RECEIPT_SENT, data={"to": "ann@example.com"})

    assert render("{{ event|event_label }}", event=event) == "Receipt sent"
    assert render("{{ kind|event_label }}", kind="callback_failed") == "Callback attempt failed"


@pytest.mark.parametrize(
    ("data", "label"),
    [
        ({"code": "card_declined", "decline_code": "insufficient_funds"}, "(insufficient_funds)"),
        ({"code": "expired_card", "decline_code": ""}, "(expired_card)"),
        ({}, ""),
    ],
)
def test_event_label_of_a_failed_payment_names_its_decline_code(data, label):
    event = TimelineEvent(kind=EventKind.PAYMENT_FAILED, data=data)

    assert render("{{ event|event_label }}", event=event) == f"Payment failed {label}".strip()


def test_event_label_escapes_a_decline_code():
    event = TimelineEvent(kind=EventKind.PAYMENT_FAILED, data={"decline_code": "<script>"})

    assert render("{{ event|event_label }}", event=event) == "Payment failed (&lt;script&gt;)"
