"""Receipt emails: a test payment's receipt says it is a test, in the subject, the HTML and the
text. Every receipt failure reaches the session's timeline as ``receipt_failed`` with its error,
never as an exception nobody sees: an address the mail library cannot encode, a line break in
the org name (the subject is a header: no injection), and errors nobody expected."""

import pytest
from django.core import mail

from checkout.choices import EventKind
from checkout.models import Order, TimelineEvent
from checkout.receipts import receipt_message, send_receipt_task
from orgs.models import Mode, Organization
from tests.factories import make_session

pytestmark = pytest.mark.django_db

LONG_LABEL_EMAIL = "a@" + "é" * 60 + ".com"  # the label is 124 octets once punycoded (max 63)


def receipt_events(session) -> list[TimelineEvent]:
    kinds = [EventKind.RECEIPT_SENT, EventKind.RECEIPT_FAILED]
    return list(TimelineEvent.objects.filter(session=session, kind__in=kinds))


def test_receipt_email_of_a_test_payment_says_no_real_money_was_charged():
    session = make_session(paid=True)

    receipt = receipt_message(session)

    html = receipt.alternatives[0].content
    assert receipt.subject.startswith("[Test mode] Your receipt from ")
    assert receipt.body.startswith("Test mode — no real money was charged.\n")
    assert "Test mode — no real money was charged." in html
    assert html.index("no real money") < html.index("<h1>")  # above everything else


def test_receipt_email_of_a_live_payment_says_nothing_of_test_mode():
    session = make_session(mode=Mode.LIVE, paid=True)

    receipt = receipt_message(session)

    assert receipt.subject.startswith("Your receipt from ")
    for body in (receipt.body, receipt.alternatives[0].content):
        assert "Receipt from" in body
        assert "Test mode" not in body and "no real money" not in body


def test_receipt_to_an_address_that_fails_idna_is_recorded_as_failed():
    session = make_session(paid=True)
    # Stored before addresses were canonicalized; the data migration leaves it as it was.
    Order.objects.filter(pk=session.order.pk).update(customer_email=LONG_LABEL_EMAIL)

    result = send_receipt_task.enqueue(session.public_id).return_value

    [event] = receipt_events(session)
    assert result == EventKind.RECEIPT_FAILED
    assert event.kind == EventKind.RECEIPT_FAILED
    assert event.data["to"] == LONG_LABEL_EMAIL
    assert event.data["error"].startswith("UnicodeError: ")
    assert mail.outbox == []


def test_org_name_with_a_line_break_is_recorded_as_failed_and_injects_no_header():
    session = make_session(paid=True)
    # Saved before the name validator (a raw update, an old row).
    Organization.objects.filter(pk=session.org.pk).update(
        name="Acme\r\nBcc: everyone@attacker.example"
    )

    result = send_receipt_task.enqueue(session.public_id).return_value

    [event] = receipt_events(session)
    assert result == EventKind.RECEIPT_FAILED
    assert event.data["error"] == (
        "ValueError: Header values may not contain linefeed or carriage return characters"
    )
    assert mail.outbox == []


def test_an_unexpected_receipt_error_is_recorded_as_failed(monkeypatch):
    session = make_session(paid=True)

    def broken_template(*args, **kwargs):
        raise LookupError("template variable went missing")

    monkeypatch.setattr("checkout.receipts.render_to_string", broken_template)

    result = send_receipt_task.enqueue(session.public_id).return_value

    [event] = receipt_events(session)
    assert result == EventKind.RECEIPT_FAILED
    assert event.data["error"] == "LookupError: template variable went missing"
