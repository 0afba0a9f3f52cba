"""Paying on the hosted page: declines are attempts, format errors are not, success pays the
order exactly once, sends the receipt after commit and never loses a payment to the mail server."""

import re
import smtplib

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.test import Client
from django.utils.html import escape

from checkout.choices import EventKind, PaymentStatus
from checkout.forms import CardForm
from checkout.models import CheckoutSession, TimelineEvent
from checkout.processors.test import CUSTOMER_MESSAGES, TestProcessor
from checkout.request_context import CustomerContext
from checkout.services import pay_checkout_session
from orgs.models import Mode
from tests.factories import (
    OrganizationFactory,
    PaymentLinkFactory,
    card_form_data,
    expired_session,
    make_session,
    session_ready_to_pay,
)

pytestmark = pytest.mark.django_db

DECLINES = [
    ("4000 0000 0000 0002", "card_declined", "generic_decline"),
    ("4000 0000 0000 9995", "card_declined", "insufficient_funds"),
    ("4000 0000 0000 0069", "expired_card", ""),
    ("4000 0000 0000 0127", "incorrect_cvc", ""),
    ("4000 0000 0000 0119", "processing_error", ""),
    ("4000 0000 0000 9987", "card_declined", "lost_card"),
    ("4000 0000 0000 9979", "card_declined", "stolen_card"),
    ("4000 0000 0000 6975", "card_declined", "card_velocity_exceeded"),
    ("4000 0566 5566 5556", "card_declined", "generic_decline"),  # any other valid number
]


class RefusingMailServer(BaseEmailBackend):
    """A mail server that is down."""

    def send_messages(self, email_messages):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


@pytest.fixture
def callbacks(monkeypatch):
    """The callback events the payment asked for (through the events it recorded)."""
    sent: list[tuple[str, str]] = []
    monkeypatch.setattr(
        "checkout.callbacks.enqueue_session_callback",
        lambda *, session, event_type: sent.append((session.public_id, event_type)),
    )
    return sent


@pytest.fixture
def charges(monkeypatch):
    """Every charge the test processor receives: (amount, currency, idempotency key)."""
    seen: list[tuple[int, str, str]] = []
    original = TestProcessor.charge

    def spy(self, **kwargs):
        seen.append((kwargs["amount"], kwargs["currency"], kwargs["idempotency_key"]))
        return original(self, **kwargs)

    monkeypatch.setattr(TestProcessor, "charge", spy)
    return seen


def pay(client, session, follow=False, **card):
    return client.post(f"/checkout/{session.public_id}/pay", card_form_data(**card), follow=follow)


def events(session, kind):
    return list(TimelineEvent.objects.filter(session=session, kind=kind))


@pytest.mark.parametrize(("number", "code", "decline_code"), DECLINES)
def test_decline_increments_failed_attempts_once_and_records_its_code(
    client, number, code, decline_code, callbacks
):
    session = session_ready_to_pay()

    response = pay(client, session, number=number, follow=True)

    session.refresh_from_db()
    # Post-redirect-get: reloading the page afterwards never resubmits the card.
    assert response.redirect_chain == [(f"/checkout/{session.public_id}", 303)]
    assert escape(CUSTOMER_MESSAGES[decline_code or code]) in response.content.decode()
    assert session.failed_attempts == 1
    [failed] = events(session, EventKind.PAYMENT_FAILED)
    assert failed.data == {
        "code": code,
        "decline_code": decline_code,
        "message": CUSTOMER_MESSAGES[decline_code or code],
        "brand": "visa",
        "last4": number[-4:],
        "attempt": 1,
    }
    assert session.payment_method_last4 == number[-4:]
    assert session.order.payment_status == PaymentStatus.UNPAID
    assert callbacks == [(session.public_id, "checkout.session.payment_failed")]


def alert_text(html: str) -> str:
    """The words of the page's alert, tags and spacing dropped."""
    [alert] = re.findall(r'<div class="alert[^"]*" role="alert"[^>]*>(.*?)</div>', html, re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", alert).split())


def test_second_decline_counts_as_attempt_two_and_suggests_another_card(client):
    session = session_ready_to_pay()

    first = pay(client, session, number="4000 0000 0000 0002", follow=True)
    second = pay(client, session, number="4000 0000 0000 9995", follow=True)

    session.refresh_from_db()
    assert session.failed_attempts == 2
    assert [e.data["attempt"] for e in events(session, EventKind.PAYMENT_FAILED)] == [1, 2]
    assert "Payment declined again" not in first.content.decode()
    assert "Payment declined again" in second.content.decode()
    reloaded = client.get(f"/checkout/{session.public_id}").content.decode()
    assert "Try a different card" in reloaded
    assert "Your card has insufficient funds" not in reloaded  # the decline was shown once


@pytest.mark.parametrize("htmx", [False, True])
def test_second_decline_says_try_another_card_once(client, htmx):
    session = session_ready_to_pay()
    pay(client, session, number="4000 0000 0000 0002", follow=True)

    second = client.post(
        f"/checkout/{session.public_id}/pay",
        card_form_data(number="4000 0000 0000 0002"),
        headers={"HX-Request": "true"} if htmx else {},
        follow=not htmx,
    )

    alert = alert_text(second.content.decode())
    assert alert == (
        "Payment declined again Your card was declined. Try another card or contact your bank."
    )
    assert len(re.findall(r"try (?:a different|another) card", alert, re.I)) == 1


@pytest.mark.parametrize(
    ("card", "field", "message"),
    [
        ({"number": "4242 4242 4242 4241"}, "number", "Your card number is invalid."),
        ({"number": "4242 4242"}, "number", "Your card number is incomplete."),
        ({"expiry": "01 / 20"}, "expiry", "Your card&#x27;s expiration date is in the past."),
        ({"expiry": "13 / 40"}, "expiry", "Your card&#x27;s expiration month is invalid."),
        ({"expiry": "soon"}, "expiry", "Enter the expiry date as MM / YY."),
        ({"cvc": "12"}, "cvc", "Your card&#x27;s security code is incomplete."),
        ({"cvc": "1234"}, "cvc", "Your card&#x27;s security code is invalid."),
        (
            {"number": "3782 822463 10005", "cvc": "123"},
            "cvc",
            "Your card&#x27;s security code is incomplete.",
        ),
    ],
)
def test_format_error_is_shown_inline_and_is_not_an_attempt(client, card, field, message, charges):
    session = session_ready_to_pay()

    response = pay(client, session, **card)

    session.refresh_from_db()
    html = response.content.decode()
    assert response.status_code == 200
    assert message in html
    assert f'id="id_{field}_error"' in html
    assert 'aria-invalid="true"' in html
    assert session.failed_attempts == 0
    assert not events(session, EventKind.PAYMENT_FAILED)
    assert charges == []


def test_amex_with_four_digit_cvc_is_accepted(client):
    session = session_ready_to_pay()

    pay(client, session, number="3782 822463 10005", cvc="1234")

    # Reaches the processor: an unknown card number is a generic decline, not a format error.
    assert events(session, EventKind.PAYMENT_FAILED)[0].data["brand"] == "amex"


def test_success_pays_the_order_once_and_records_the_payment(client, callbacks):
    session = session_ready_to_pay(customer_email="bob@example.com")

    response = pay(client, session, number="5555 5555 5555 4444")

    order = CheckoutSession.objects.get(pk=session.pk).order
    assert response.status_code == 303
    assert response["Location"] == f"/checkout/{session.public_id}/thank-you"
    assert order.payment_status == PaymentStatus.PAID
    assert order.paid_at is not None
    assert (order.payment_method_brand, order.payment_method_last4) == ("mastercard", "4444")
    assert order.payment_reference.startswith("ch_test_")
    assert order.customer_email == "bob@example.com"
    [succeeded] = events(session, EventKind.PAYMENT_SUCCEEDED)
    assert succeeded.data == {
        "reference": order.payment_reference,
        "brand": "mastercard",
        "last4": "4444",
        "amount": 7500,
        "currency": "USD",
    }
    assert callbacks == [(session.public_id, "checkout.session.completed")]
    assert CheckoutSession.objects.with_status().get(pk=session.pk).status == "succeeded"


def test_receipt_email_is_sent_after_commit_with_html_and_text(
    client, django_capture_on_commit_callbacks
):
    org = OrganizationFactory(name="Bean There Coffee")
    session = session_ready_to_pay(org=org, customer_email="carol@example.com")

    with django_capture_on_commit_callbacks(execute=True) as on_commit:
        pay(client, session)

    assert len(on_commit) == 1  # the receipt waits for the payment to commit
    [receipt] = mail.outbox
    order = session.order
    order.refresh_from_db()
    assert receipt.to == ["carol@example.com"]
    assert receipt.subject == f"[Test mode] Your receipt from Bean There Coffee [#{order.number}]"
    html = receipt.alternatives[0].content
    for body in (receipt.body, html):
        assert "Bean There Coffee" in body
        assert f"#{order.number}" in body
        assert "Custom widget × 3" in body
        assert "$75.00" in body
        assert "Visa •••• 4242" in body
        assert "/portal/" in body
    assert receipt.reply_to == ["support@merchant.example.com"]
    assert events(session, EventKind.RECEIPT_SENT)[0].data["to"] == "carol@example.com"


def test_failing_mail_server_keeps_the_payment_and_records_receipt_failed(
    client, settings, django_capture_on_commit_callbacks
):
    settings.MAILERS = {"default": {"BACKEND": f"{__name__}.RefusingMailServer"}}
    session = session_ready_to_pay()

    with django_capture_on_commit_callbacks(execute=True):
        response = pay(client, session)

    session.order.refresh_from_db()
    assert response.status_code == 303
    assert session.order.payment_status == PaymentStatus.PAID
    [failed] = events(session, EventKind.RECEIPT_FAILED)
    assert "SMTPServerDisconnected" in failed.data["error"]
    assert not events(session, EventKind.RECEIPT_SENT)


def test_paying_a_paid_session_again_charges_nothing_and_shows_already_paid(client, charges):
    session = session_ready_to_pay()
    pay(client, session)

    again = pay(client, session, number="5555 5555 5555 4444", follow=True)

    # Post-redirect-get: reloading the receipt never resubmits the card.
    assert again.redirect_chain == [(f"/checkout/{session.public_id}", 303)]
    assert again.status_code == 200
    assert "already been paid" in again.content.decode()
    assert len(charges) == 1
    assert len(events(session, EventKind.PAYMENT_SUCCEEDED)) == 1
    reloaded = client.get(f"/checkout/{session.public_id}").content.decode()
    assert "This order is paid" in reloaded and "already been paid" not in reloaded


def test_paying_a_paid_session_over_htmx_shows_already_paid_too(client, charges):
    session = session_ready_to_pay()
    pay(client, session)

    again = client.post(
        f"/checkout/{session.public_id}/pay",
        card_form_data(number="5555 5555 5555 4444"),
        headers={"HX-Request": "true"},
    )
    # htmx follows HX-Redirect with a full page load.
    page = client.get(again["HX-Redirect"])

    assert again["HX-Redirect"] == f"/checkout/{session.public_id}"
    assert "already been paid" in page.content.decode()
    assert len(charges) == 1
    assert len(events(session, EventKind.PAYMENT_SUCCEEDED)) == 1


@pytest.mark.parametrize("htmx", [False, True])
def test_paying_in_a_tab_that_lost_the_race_shows_already_paid(client, charges, monkeypatch, htmx):
    # This tab's page was unpaid; the other tab's payment commits before this one takes the lock.
    session = session_ready_to_pay()

    def other_tab_pays_first(**kwargs):
        other_tab = CardForm(card_form_data(number="5555 5555 5555 4444"))
        assert other_tab.is_valid()
        paid = pay_checkout_session(
            session=session, card=other_tab.card_details(), context=CustomerContext()
        )
        assert paid.succeeded
        return pay_checkout_session(**kwargs)

    monkeypatch.setattr("checkout.views.pay_checkout_session", other_tab_pays_first)

    response = client.post(
        f"/checkout/{session.public_id}/pay",
        card_form_data(),
        headers={"HX-Request": "true"} if htmx else {},
    )

    next_url = response["HX-Redirect"] if htmx else response["Location"]
    assert next_url == f"/checkout/{session.public_id}"
    assert "already been paid" in client.get(next_url).content.decode()
    assert len(charges) == 1
    assert len(events(session, EventKind.PAYMENT_SUCCEEDED)) == 1


def test_paying_an_expired_session_charges_nothing(client, charges):
    session = expired_session()
    session.details_provided_at = session.created_at
    session.save()

    response = pay(client, session)

    session.order.refresh_from_db()
    assert response.status_code == 410
    assert "This checkout has expired" in response.content.decode()
    assert charges == []
    assert session.order.payment_status == PaymentStatus.UNPAID
    assert not events(session, EventKind.PAYMENT_FAILED)


def test_paying_before_giving_details_charges_nothing_and_goes_back_to_step_one(client, charges):
    session = make_session()

    response = pay(client, session)

    assert response.status_code == 303
    assert response["Location"] == f"/checkout/{session.public_id}"
    assert charges == []


def test_live_session_without_live_processor_shows_payments_unavailable(client, settings, charges):
    settings.LIVE_PAYMENT_PROCESSOR = ""
    session = session_ready_to_pay(mode=Mode.LIVE)

    page = client.get(f"/checkout/{session.public_id}")
    response = pay(client, session)

    session.order.refresh_from_db()
    for shown in (page, response):
        assert shown.status_code == 503
        assert "Payments are unavailable" in shown.content.decode()
    assert charges == []
    assert session.order.payment_status == PaymentStatus.UNPAID


def test_live_session_is_charged_by_the_configured_live_processor(client, settings):
    settings.LIVE_PAYMENT_PROCESSOR = "checkout.processors.test.TestProcessor"
    session = session_ready_to_pay(mode=Mode.LIVE)

    response = pay(client, session)

    session.order.refresh_from_db()
    assert response.status_code == 303
    assert session.order.payment_status == PaymentStatus.PAID


def test_amount_and_currency_posted_by_the_client_are_ignored(client, charges):
    session = session_ready_to_pay()  # 3 × $25.00

    pay(client, session, amount="1", amount_total="1", currency="JPY", unit_price="0")

    session.order.refresh_from_db()
    [(amount, currency, idempotency_key)] = charges
    assert (amount, currency) == (7500, "USD")
    assert idempotency_key.startswith(f"{session.public_id}:attempt:1:card:")
    assert (session.order.amount_total, session.order.currency) == (7500, "USD")
    assert events(session, EventKind.PAYMENT_SUCCEEDED)[0].data["amount"] == 7500


def test_posting_to_another_sessions_url_with_a_valid_csrf_token_pays_only_that_session():
    browser = Client(enforce_csrf_checks=True)
    mine = session_ready_to_pay()
    other = session_ready_to_pay(org=mine.org)
    browser.get(f"/checkout/{mine.public_id}")  # sets the CSRF cookie
    token = browser.cookies["csrftoken"].value

    response = browser.post(
        f"/checkout/{other.public_id}/pay", {**card_form_data(), "csrfmiddlewaretoken": token}
    )

    mine.order.refresh_from_db()
    other.order.refresh_from_db()
    assert response.status_code == 303
    assert other.order.payment_status == PaymentStatus.PAID
    assert mine.order.payment_status == PaymentStatus.UNPAID
    assert not events(mine, EventKind.PAYMENT_SUCCEEDED)


def test_pay_without_csrf_token_is_refused():
    browser = Client(enforce_csrf_checks=True)
    session = session_ready_to_pay()

    response = browser.post(f"/checkout/{session.public_id}/pay", card_form_data())

    session.order.refresh_from_db()
    assert response.status_code == 403
    assert session.order.payment_status == PaymentStatus.UNPAID


def test_decline_over_htmx_swaps_only_the_card_step(client):
    session = session_ready_to_pay()

    response = client.post(
        f"/checkout/{session.public_id}/pay",
        card_form_data(number="4000 0000 0000 0002"),
        headers={"HX-Request": "true"},
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<form id="card-step"')
    assert "<html" not in html
    assert "Your card was declined" in html
    assert 'value="4000' not in html  # a declined card number is not echoed back


def test_success_over_htmx_redirects_the_whole_page(client):
    session = session_ready_to_pay()

    response = client.post(
        f"/checkout/{session.public_id}/pay", card_form_data(), headers={"HX-Request": "true"}
    )

    assert response.status_code == 200
    assert response["HX-Redirect"] == f"/checkout/{session.public_id}/thank-you"


def test_payment_link_session_is_paid_end_to_end_without_javascript(
    client, django_capture_on_commit_callbacks
):
    link = PaymentLinkFactory(require_phone=True)

    checkout_url = client.get(f"/pay/{link.public_id}")["Location"]
    details = client.post(
        f"{checkout_url}/details", {"email": "dan@example.com", "phone": "+1 415 555 0100"}
    )
    card_step = client.get(details["Location"])
    with django_capture_on_commit_callbacks(execute=True):
        paid = client.post(f"{checkout_url}/pay", card_form_data())
    thank_you = client.get(paid["Location"])

    assert details.status_code == 303
    assert "Card number" in card_step.content.decode()
    assert "Pay $24.00" in card_step.content.decode()
    assert thank_you.status_code == 200
    assert "Thanks for your payment" in thank_you.content.decode()
    assert mail.outbox[0].to == ["dan@example.com"]


def org_now_requires_phone(session) -> None:
    """The merchant ticks "require phone" after the customer saved their details."""
    session.org.require_phone = True
    session.org.save(update_fields=["require_phone"])


def test_pay_after_the_org_starts_requiring_phone_shows_the_details_step_saying_why(
    client, charges
):
    session = session_ready_to_pay(org=OrganizationFactory(name="Kaffee Rösterei"))
    org_now_requires_phone(session)

    response = pay(client, session)
    page = client.get(response["Location"])

    html = page.content.decode()
    assert response.status_code == 303
    assert response["Location"] == f"/checkout/{session.public_id}"
    assert "Kaffee Rösterei now needs your phone number before you pay." in html
    assert "Continue to payment" in html and ">Phone" in html
    assert 'id="card-step"' not in html
    assert charges == []
    assert events(session, EventKind.PAYMENT_FAILED) == []


def test_pay_over_htmx_after_the_org_starts_requiring_phone_swaps_in_the_details_step(
    client, charges
):
    session = session_ready_to_pay(org=OrganizationFactory(name="Kaffee Rösterei"))
    org_now_requires_phone(session)

    response = client.post(
        f"/checkout/{session.public_id}/pay", card_form_data(), headers={"HX-Request": "true"}
    )

    html = response.content.decode()
    assert response.status_code == 200
    # The card form asked to swap itself; the answer replaces all the steps instead.
    assert response["HX-Retarget"] == "#checkout-steps"
    assert response["HX-Reswap"] == "outerHTML"
    assert html.lstrip().startswith('<div id="checkout-steps"')
    assert "Kaffee Rösterei now needs your phone number before you pay." in html
    assert "Continue to payment" in html and ">Phone" in html
    assert charges == []


def test_newly_required_details_name_every_missing_field(client):
    session = session_ready_to_pay(org=OrganizationFactory(name="Acme"))
    session.org.require_phone = session.org.require_shipping_address = True
    session.org.save()

    html = client.get(f"/checkout/{session.public_id}").content.decode()

    assert "Acme now needs your phone number and your shipping address before you pay." in html


def test_customer_who_gives_the_newly_required_phone_can_pay(client, charges):
    session = session_ready_to_pay()
    org_now_requires_phone(session)
    pay(client, session)

    client.post(
        f"/checkout/{session.public_id}/details",
        {"email": session.customer_email, "phone": "+1 415 555 0100"},
    )
    response = pay(client, session)

    session.order.refresh_from_db()
    assert response["Location"] == f"/checkout/{session.public_id}/thank-you"
    assert session.order.is_paid
    assert len(charges) == 1
