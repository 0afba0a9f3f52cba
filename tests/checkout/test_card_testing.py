"""Card testing: past the declines of a session or of a client IP the processor is not asked,
the customer is told so, the timeline records ``payment_blocked`` once and the merchant gets one
callback for it; a tester learns the specific decline reason for no card but a session's first;
an org flooded with declines raises one alarm."""

import importlib
import logging
import re
import smtplib
from datetime import timedelta

import pytest
import time_machine
from django.apps import apps as django_apps
from django.test import Client
from django.utils import timezone

from checkout.card_testing import GENERIC_DECLINE_MESSAGE, send_alarm_email_task
from checkout.choices import EventKind, PaymentStatus
from checkout.models import CheckoutSession, DeclineAlarm, PaymentAttempt, TimelineEvent
from checkout.processors import ProcessorUnavailable
from checkout.processors.test import CUSTOMER_MESSAGES, TestProcessor
from checkout.templatetags.checkout_display import decline_explanation, event_label
from tests.factories import (
    MembershipFactory,
    OrganizationFactory,
    PaymentLinkFactory,
    card_form_data,
    session_ready_to_pay,
    timeline_event,
)

pytestmark = pytest.mark.django_db

DECLINED = "4000 0000 0000 0002"
INSUFFICIENT_FUNDS = "4000 0000 0000 9995"
INCORRECT_CVC = "4000 0000 0000 0127"
PAYS = "4242 4242 4242 4242"
SESSION_BLOCKED = "no longer accepts cards"
IP_BLOCKED = "Too many payments from your network were declined"


@pytest.fixture
def charges(monkeypatch):
    """The card numbers the processor was asked to charge."""
    seen: list[str] = []
    original = TestProcessor.charge

    def spy(self, **kwargs):
        seen.append(kwargs["card"].number)
        return original(self, **kwargs)

    monkeypatch.setattr(TestProcessor, "charge", spy)
    return seen


@pytest.fixture
def callbacks(monkeypatch):
    """The callback events requested, as (session id, event type)."""
    sent: list[tuple[str, str]] = []
    monkeypatch.setattr(
        "checkout.callbacks.enqueue_session_callback",
        lambda *, session, event_type: sent.append((session.public_id, event_type)),
    )
    return sent


def browser(ip: str = "203.0.113.7") -> Client:
    return Client(REMOTE_ADDR=ip)


def pay(client, session, number=DECLINED, *, htmx=False, follow=False):
    return client.post(
        f"/checkout/{session.public_id}/pay",
        card_form_data(number=number),
        headers={"HX-Request": "true"} if htmx else {},
        follow=follow,
    )


def events(session, kind):
    return list(TimelineEvent.objects.filter(session=session, kind=kind))


def alert_text(html: str) -> str:
    [alert] = re.findall(r'<div class="alert[^"]*" role="alert"[^>]*>(.*?)</div>', html, re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", alert).split())


def decline(client, session, number=DECLINED):
    """A declined payment over HTMX (no redirect, so no message waits for a later page)."""
    return pay(client, session, number, htmx=True)


def decline_until_blocked(client, session, declines: int = 5) -> None:
    for _ in range(declines):
        decline(client, session)


# --- Declines per session ------------------------------------------------------------------


def test_the_sixth_payment_of_a_session_is_blocked_without_asking_the_processor(charges):
    client = browser()
    session = session_ready_to_pay()
    decline_until_blocked(client, session)

    response = pay(client, session, number=PAYS, follow=True)

    session.refresh_from_db()
    assert len(charges) == 5
    assert session.failed_attempts == 5
    assert session.order.payment_status == PaymentStatus.UNPAID
    assert response.status_code == 429
    assert SESSION_BLOCKED in response.content.decode()
    [blocked] = events(session, EventKind.PAYMENT_BLOCKED)
    assert blocked.data == {"limit": "session_declines", "declines": 5, "maximum": 5}
    assert blocked.actor_kind == "customer"


def test_the_session_limit_is_a_setting(settings, charges):
    settings.CARD_TESTING_DECLINES_PER_SESSION = 2
    client = browser()
    session = session_ready_to_pay()

    for _ in range(4):
        pay(client, session)

    assert len(charges) == 2
    assert events(session, EventKind.PAYMENT_BLOCKED)[0].data["maximum"] == 2


def test_a_session_limit_of_zero_turns_it_off(settings, charges):
    settings.CARD_TESTING_DECLINES_PER_SESSION = 0
    client = browser()
    session = session_ready_to_pay()

    for _ in range(7):
        pay(client, session)

    assert len(charges) == 7
    assert not events(session, EventKind.PAYMENT_BLOCKED)


@pytest.mark.parametrize("htmx", [False, True])
def test_the_last_allowed_decline_takes_the_customer_to_the_blocked_page(htmx):
    client = browser()
    session = session_ready_to_pay()
    decline_until_blocked(client, session, declines=4)

    response = pay(client, session, htmx=htmx)

    next_url = response["HX-Redirect"] if htmx else response["Location"]
    assert next_url == f"/checkout/{session.public_id}"
    page = client.get(next_url)
    assert page.status_code == 429
    assert "It had 5 declined payments" in page.content.decode()
    assert 'id="card-step"' not in page.content.decode()


def test_blocked_session_page_offers_a_fresh_checkout_from_its_active_payment_link():
    client = browser()
    link = PaymentLinkFactory()
    session = session_ready_to_pay(link=link)
    decline_until_blocked(client, session)

    html = client.get(f"/checkout/{session.public_id}").content.decode()

    assert f'href="/pay/{link.public_id}"' in html
    assert "Start a new checkout" in html


def test_details_step_of_a_blocked_session_goes_back_to_its_blocked_page():
    client = browser()
    session = session_ready_to_pay()
    decline_until_blocked(client, session)

    response = client.post(f"/checkout/{session.public_id}/details", {"email": "a@example.com"})

    assert response.status_code == 303
    assert client.get(response["Location"]).status_code == 429


# --- Declines per client IP ----------------------------------------------------------------


def four_sessions_of_declines(client, org=None) -> None:
    """20 declines from one client: four sessions of five."""
    for _ in range(4):
        decline_until_blocked(client, session_ready_to_pay(**({"org": org} if org else {})))


@pytest.mark.parametrize("htmx", [False, True])
def test_after_twenty_declines_from_one_ip_a_fresh_session_is_not_charged(charges, htmx):
    client = browser("198.51.100.20")
    four_sessions_of_declines(client)
    fresh = session_ready_to_pay()

    response = pay(client, fresh, number=PAYS, htmx=htmx, follow=not htmx)

    fresh.refresh_from_db()
    assert len(charges) == 20
    assert fresh.failed_attempts == 0
    assert fresh.order.payment_status == PaymentStatus.UNPAID
    assert response.status_code == 200
    assert alert_text(response.content.decode()).startswith(f"Payment blocked {IP_BLOCKED}")
    assert 'id="card-step"' in response.content.decode()  # the form stays: later, it may pay
    [blocked] = events(fresh, EventKind.PAYMENT_BLOCKED)
    assert blocked.data == {
        "limit": "ip_declines",
        "declines": 20,
        "maximum": 20,
        "window_minutes": 60,
    }


def test_another_ip_still_pays_while_one_is_blocked(charges):
    four_sessions_of_declines(browser("198.51.100.20"))
    session = session_ready_to_pay()

    response = pay(browser("198.51.100.21"), session, number=PAYS)

    session.order.refresh_from_db()
    assert response["Location"] == f"/checkout/{session.public_id}/thank-you"
    assert session.order.is_paid


def test_an_ipv6_client_is_counted_by_its_64_network(settings, charges):
    settings.CARD_TESTING_DECLINES_PER_IP_PER_HOUR = 2
    first, second = session_ready_to_pay(), session_ready_to_pay()
    pay(browser("2001:db8:1:2::10"), first)
    pay(browser("2001:db8:1:2:ffff::99"), first)

    pay(browser("2001:db8:1:2:abcd::1"), second)  # the same /64
    pay(browser("2001:db8:1:3::1"), second)  # another /64

    assert len(charges) == 3
    assert events(second, EventKind.PAYMENT_BLOCKED)[0].data["limit"] == "ip_declines"


def test_the_ip_limit_lifts_an_hour_after_the_declines(charges):
    client = browser()
    four_sessions_of_declines(client)
    fresh = session_ready_to_pay(expires_in_minutes=180)

    with time_machine.travel(timezone.now() + timedelta(minutes=61)):
        response = pay(client, fresh, number=PAYS)

    assert response.status_code == 303
    assert response["Location"] == f"/checkout/{fresh.public_id}/thank-you"
    assert len(charges) == 21


def test_successful_payments_do_not_count_against_the_ip(settings, charges):
    settings.CARD_TESTING_DECLINES_PER_IP_PER_HOUR = 2
    client = browser()
    for _ in range(3):
        pay(client, session_ready_to_pay(), number=PAYS)
    session = session_ready_to_pay()

    pay(client, session)
    pay(client, session)

    assert len(charges) == 5
    assert not events(session, EventKind.PAYMENT_BLOCKED)


def test_a_processor_outage_does_not_count_against_the_ip(settings, monkeypatch):
    settings.CARD_TESTING_DECLINES_PER_IP_PER_HOUR = 1

    def unavailable(self, **kwargs):
        raise ProcessorUnavailable("timed out")

    monkeypatch.setattr(TestProcessor, "charge", unavailable)
    client = browser()
    for _ in range(3):
        pay(client, session_ready_to_pay())

    assert PaymentAttempt.objects.filter(outcome="error").count() == 3
    assert not TimelineEvent.objects.filter(kind=EventKind.PAYMENT_BLOCKED).exists()


def test_a_blocked_payment_claims_nothing(settings):
    settings.CARD_TESTING_DECLINES_PER_SESSION = 1
    client = browser()
    session = session_ready_to_pay()
    pay(client, session)

    for _ in range(3):
        pay(client, session)

    assert list(PaymentAttempt.objects.values_list("outcome", flat=True)) == ["declined"]


# --- One payment_blocked, one callback ------------------------------------------------------


def test_a_blocked_session_asks_for_one_callback_however_often_it_is_tried(callbacks):
    client = browser()
    session = session_ready_to_pay()
    decline_until_blocked(client, session)

    for _ in range(10):
        pay(client, session)

    failed = (session.public_id, "checkout.session.payment_failed")
    assert callbacks == [failed] * 6  # one per decline (5) and one for the block
    assert len(events(session, EventKind.PAYMENT_BLOCKED)) == 1


def test_an_ip_blocked_session_asks_for_one_callback(settings, callbacks):
    settings.CARD_TESTING_DECLINES_PER_IP_PER_HOUR = 1
    client = browser()
    pay(client, session_ready_to_pay())
    callbacks.clear()
    session = session_ready_to_pay()

    for _ in range(5):
        pay(client, session)

    assert callbacks == [(session.public_id, "checkout.session.payment_failed")]


def test_payment_blocked_reads_well_on_the_timeline():
    client = browser()
    session = session_ready_to_pay()
    decline_until_blocked(client, session)
    pay(client, session)

    [blocked] = events(session, EventKind.PAYMENT_BLOCKED)

    assert event_label(blocked) == "Payment blocked (too many declines on this session)"
    assert decline_explanation(blocked).startswith(
        "session_declines — card-testing protection: this session reached its limit"
    )
    assert event_label("payment_blocked") == "Payment blocked"


def test_the_first_refused_payment_names_its_limit_on_the_session():
    client = browser()
    session = session_ready_to_pay()
    decline_until_blocked(client, session)
    session.refresh_from_db()
    assert session.payment_blocked == ""  # used up, none refused yet
    assert session.blocked_by == "session_declines"

    pay(client, session)

    session.refresh_from_db()
    assert session.payment_blocked == "session_declines"


def test_the_migration_fills_the_sessions_limit_from_its_first_recorded_block():
    migration = importlib.import_module("checkout.migrations.0017_payment_blocked_and_alarm_email")
    blocked, untouched = session_ready_to_pay(), session_ready_to_pay()
    timeline_event(blocked, EventKind.PAYMENT_BLOCKED, limit="ip_declines")
    timeline_event(blocked, EventKind.PAYMENT_BLOCKED, limit="session_declines")

    migration.fill_from_events(django_apps, schema_editor=None)

    assert CheckoutSession.objects.get(pk=blocked.pk).payment_blocked == "ip_declines"
    assert CheckoutSession.objects.get(pk=untouched.pk).payment_blocked == ""


# --- What a card tester learns ---------------------------------------------------------------


def test_a_sessions_first_decline_shows_the_specific_message_later_ones_the_generic(client):
    session = session_ready_to_pay()

    first = pay(client, session, number=INSUFFICIENT_FUNDS, follow=True)
    second = pay(client, session, number=INCORRECT_CVC, follow=True)

    assert CUSTOMER_MESSAGES["insufficient_funds"] in alert_text(first.content.decode())
    assert alert_text(second.content.decode()) == (
        f"Payment declined again {GENERIC_DECLINE_MESSAGE}"
    )
    # The merchant still sees the real reason.
    assert events(session, EventKind.PAYMENT_FAILED)[1].data["code"] == "incorrect_cvc"


@pytest.mark.parametrize("htmx", [False, True])
def test_a_first_decline_from_an_ip_with_other_recent_declines_is_generic(htmx):
    client = browser()
    decline(client, session_ready_to_pay())
    other = session_ready_to_pay()

    response = pay(client, other, number=INSUFFICIENT_FUNDS, htmx=htmx, follow=not htmx)

    assert alert_text(response.content.decode()) == f"Payment declined {GENERIC_DECLINE_MESSAGE}"


def test_a_first_decline_from_another_ip_keeps_the_specific_message():
    decline(browser("203.0.113.7"), session_ready_to_pay())

    response = pay(
        browser("203.0.113.8"), session_ready_to_pay(), number=INCORRECT_CVC, follow=True
    )

    assert CUSTOMER_MESSAGES["incorrect_cvc"] in response.content.decode().replace("&#x27;", "'")


# --- The org's velocity alarm ----------------------------------------------------------------


def decline_from_new_ips(org, count: int, start: int = 1) -> None:
    for n in range(start, start + count):
        decline(browser(f"192.0.2.{n}"), session_ready_to_pay(org=org))


def test_an_org_flooded_with_declines_raises_one_alarm_and_logs_it(settings, caplog):
    settings.CARD_TESTING_ALARM_DECLINES = 3
    org = OrganizationFactory(slug="flooded")

    with caplog.at_level(logging.WARNING, logger="checkout.card_testing"):
        decline_from_new_ips(org, 6)

    [alarm] = DeclineAlarm.objects.all()
    assert (alarm.org, alarm.mode, alarm.declines, alarm.window_minutes) == (org, "test", 3, 10)
    [warning] = [r for r in caplog.records if r.name == "checkout.card_testing"]
    assert "Card-testing alarm: org flooded had 3 declined test-mode payments" in warning.message


def test_during_an_alarm_every_decline_is_generic_but_payments_go_through(settings):
    settings.CARD_TESTING_ALARM_DECLINES = 3
    org = OrganizationFactory()
    decline_from_new_ips(org, 3)
    paying = session_ready_to_pay(org=org)

    declined = pay(
        browser("192.0.2.50"), session_ready_to_pay(org=org), number=INSUFFICIENT_FUNDS, follow=True
    )
    paid = pay(browser("192.0.2.51"), paying, number=PAYS)

    paying.order.refresh_from_db()
    assert GENERIC_DECLINE_MESSAGE in alert_text(declined.content.decode())
    assert paid["Location"] == f"/checkout/{paying.public_id}/thank-you"
    assert paying.order.is_paid


def test_the_alarm_is_per_org_and_mode_and_ends_with_its_window(settings):
    settings.CARD_TESTING_ALARM_DECLINES = 3
    flooded, quiet = OrganizationFactory(), OrganizationFactory()
    decline_from_new_ips(flooded, 3)

    elsewhere = pay(
        browser("192.0.2.60"), session_ready_to_pay(org=quiet), INSUFFICIENT_FUNDS, follow=True
    )
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        later = pay(
            browser("192.0.2.61"),
            session_ready_to_pay(org=flooded),
            INSUFFICIENT_FUNDS,
            follow=True,
        )

    assert CUSTOMER_MESSAGES["insufficient_funds"] in elsewhere.content.decode()
    assert CUSTOMER_MESSAGES["insufficient_funds"] in later.content.decode()
    assert DeclineAlarm.objects.count() == 1


def test_a_live_alarm_emails_the_orgs_owners_once_with_the_failed_sessions_link(
    settings, mailoutbox, django_capture_on_commit_callbacks
):
    settings.CARD_TESTING_ALARM_DECLINES = 3
    settings.LIVE_PAYMENT_PROCESSOR = "checkout.processors.test.TestProcessor"
    org = OrganizationFactory(slug="flooded", name="Flooded Ltd")
    MembershipFactory(org=org, role="owner", user__email="boss@example.com")
    MembershipFactory(org=org, role="owner", user__email="")
    MembershipFactory(org=org, role="member", user__email="staff@example.com")

    with django_capture_on_commit_callbacks(execute=True):
        for n in range(1, 7):
            decline(browser(f"192.0.2.{n}"), session_ready_to_pay(org=org, mode="live"))

    [alarm] = DeclineAlarm.objects.all()
    [email] = mailoutbox
    assert email.to == ["boss@example.com"]
    assert email.subject == "Card-testing alarm: 3 declined payments at Flooded Ltd"
    assert "3 payments were declined within 10 minutes" in email.body
    assert "a network after 20 declines in an hour" in email.body
    assert f"{settings.SITE_URL}/dashboard/flooded/sessions/?status=failed" in email.body
    alarm.refresh_from_db()
    assert alarm.emailed_at is not None
    assert send_alarm_email_task.call(alarm.pk) == "skipped"  # a re-run sends nothing twice
    assert len(mailoutbox) == 1


def test_a_test_mode_alarm_emails_nobody(settings, mailoutbox, django_capture_on_commit_callbacks):
    settings.CARD_TESTING_ALARM_DECLINES = 3
    org = OrganizationFactory()
    MembershipFactory(org=org, role="owner", user__email="boss@example.com")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        decline_from_new_ips(org, 3)

    assert DeclineAlarm.objects.count() == 1
    assert callbacks  # the payments' own (callbacks): on-commit work did run
    assert mailoutbox == []


def test_an_alarm_email_the_mail_server_refused_leaves_the_alarm_unsent(
    settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.CARD_TESTING_ALARM_DECLINES = 1
    settings.LIVE_PAYMENT_PROCESSOR = "checkout.processors.test.TestProcessor"
    org = OrganizationFactory()
    MembershipFactory(org=org, role="owner", user__email="boss@example.com")

    def refuse(self, *args, **kwargs):
        raise smtplib.SMTPServerDisconnected("down")

    monkeypatch.setattr("django.core.mail.EmailMessage.send", refuse)
    with django_capture_on_commit_callbacks(execute=True):
        response = decline(browser("192.0.2.1"), session_ready_to_pay(org=org, mode="live"))

    [alarm] = DeclineAlarm.objects.all()
    assert response.status_code == 200
    assert alarm.emailed_at is None
    assert send_alarm_email_task.call(alarm.pk) == "failed"
