"""Decline explanations (checkout.declines, the ``decline_explanation`` filter): every code the
test processor (or the card form) can produce has a plain explanation with what to do next; a
code we do not know gets a safe generic one; the explanation is escaped like any text."""

import pytest
from django.template import Context, Template

from checkout.choices import EventKind
from checkout.declines import DECLINE_EXPLANATIONS, decline_reason, explain_decline
from checkout.models import TimelineEvent
from checkout.processors.base import CardDetails
from checkout.processors.test import CUSTOMER_MESSAGES, TEST_CARD_OUTCOMES, TestProcessor


def render(source: str, **context) -> str:
    return Template("{% load checkout_display %}" + source).render(Context(context))


def processor_codes() -> set[str]:
    """Every code and decline code the test processor returns, its fallback included, and the
    card form's own format error."""
    codes = {code for pair in TEST_CARD_OUTCOMES.values() for code in pair if code}
    return codes | set(CUSTOMER_MESSAGES) | {"card_declined", "generic_decline", "incorrect_number"}


def test_every_code_the_processor_can_return_has_an_explanation():
    assert processor_codes() - set(DECLINE_EXPLANATIONS) == set()


@pytest.mark.parametrize("number", [*sorted(TEST_CARD_OUTCOMES), "4000000000000010"])
def test_every_test_card_decline_is_explained_specifically(number):
    result = TestProcessor().charge(
        amount=100,
        currency="USD",
        card=CardDetails(number=number, exp_month=12, exp_year=2099, cvc="123"),
        idempotency_key="k",
        description="Order #1",
    )
    if result.success:
        return
    reason = decline_reason({"code": result.code, "decline_code": result.decline_code})
    assert reason in DECLINE_EXPLANATIONS
    assert str(explain_decline(reason)).startswith(f"{reason} — ")


def test_insufficient_funds_reads_as_the_spec_says():
    assert str(explain_decline("insufficient_funds")) == (
        "insufficient_funds — the card has too little money; the customer can try another card"
    )


def test_decline_code_wins_over_the_code():
    assert decline_reason({"code": "card_declined", "decline_code": "lost_card"}) == "lost_card"
    assert decline_reason({"code": "expired_card", "decline_code": ""}) == "expired_card"
    assert decline_reason({}) == ""


def test_unknown_code_gets_a_safe_generic_explanation():
    assert str(explain_decline("issuer_on_fire")) == (
        "issuer_on_fire — the payment was declined for a reason we have no explanation for; "
        "the customer can try another card or ask their bank why it was declined"
    )
    assert str(explain_decline("")).startswith("unknown — the payment was declined")


def test_filter_explains_a_failed_payment_event():
    event = TimelineEvent(
        kind=EventKind.PAYMENT_FAILED,
        data={"code": "card_declined", "decline_code": "insufficient_funds"},
    )

    html = render("{{ event|decline_explanation }}", event=event)

    assert html == (
        "insufficient_funds — the card has too little money; the customer can try another card"
    )


def test_filter_explains_a_processor_error_and_nothing_else():
    error = TimelineEvent(kind=EventKind.PAYMENT_ERROR, data={"error": "timeout"})
    created = TimelineEvent(kind=EventKind.SESSION_CREATED, data={"code": "lost_card"})

    assert render("{{ e|decline_explanation }}", e=error).startswith("processing_error — ")
    assert render("{{ e|decline_explanation }}", e=created) == ""


def test_filter_takes_event_data_or_a_code():
    assert render("{{ d|decline_explanation }}", d={"code": "expired_card"}).startswith(
        "expired_card — the card has expired"
    )
    assert render("{{ 'incorrect_cvc'|decline_explanation }}").startswith("incorrect_cvc — ")


def test_filter_escapes_a_code_it_does_not_know():
    event = TimelineEvent(
        kind=EventKind.PAYMENT_FAILED, data={"decline_code": '<script>alert(1)</script>"'}
    )

    html = render("{{ event|decline_explanation }}", event=event)

    assert "<script>" not in html
    assert html.startswith("&lt;script&gt;alert(1)&lt;/script&gt;&quot; — ")
