"""Recover sale (checkout.services.recover_session, checkout.recovery): a failed session, or an
expired one with an email, gets a fresh session for the same items, linked both ways on the
timelines and named for the merchant who asked; emailed by us at most once per 24 h (a clear
refusal says when and by whom), or sent from the merchant's own mail client (``mailto:``)."""

import smtplib
from datetime import timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import time_machine
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.utils import timezone

from checkout.actors import Actor
from checkout.choices import ActorKind, EventKind, SessionSource
from checkout.effective_settings import RequiredFieldSet, effective_settings
from checkout.models import CheckoutSession, TimelineEvent
from checkout.recovery import recovery_mailto, recovery_status
from checkout.services import (
    LineItem,
    RecoveryEmailTooSoon,
    RecoveryRefused,
    recover_session,
)
from checkout.session_json import session_url
from orgs.models import Mode, Organization
from tests.factories import PaymentLinkFactory, UserFactory, expired_session, make_session

pytestmark = pytest.mark.django_db

ITEMS = [
    LineItem(name="Espresso beans, 1 kg", quantity=2, unit_price=2400),
    LineItem(name="Grinder", quantity=1, unit_price=9900),
]


@pytest.fixture
def merchant():
    return UserFactory(username="jenny")


@pytest.fixture
def recover(django_capture_on_commit_callbacks):
    """``recover_session`` as a request runs it: its tasks run once it commits."""

    def recover(session, user, *, send_email: bool):
        with django_capture_on_commit_callbacks(execute=True):
            return recover_session(
                session=session, actor=Actor.for_user(user), send_email=send_email
            )

    return recover


def failed_session(created_at=None, **kwargs):
    """A session whose card was declined once; created two days ago, so that recoveries may be
    backdated (its window closed long ago: failed sessions are recovered active or not)."""
    created_at = created_at or timezone.now() - timedelta(days=2)
    return make_session(items=ITEMS, failed_attempts=1, created_at=created_at, **kwargs)


def events(session, *kinds) -> list[TimelineEvent]:
    return list(TimelineEvent.objects.filter(session=session, kind__in=kinds))


def test_recovery_creates_a_session_for_the_same_items_linked_both_ways(recover, merchant):
    old = failed_session(customer_email="alice@example.com", metadata={"cart": "c_42"})

    recovery = recover(old, merchant, send_email=True)

    new = CheckoutSession.objects.get(pk=recovery.session.pk)
    assert new.pk != old.pk
    assert new.source == SessionSource.RECOVERY
    assert new.recovered_from == old
    assert (new.org, new.mode, new.order.currency) == (old.org, old.mode, old.order.currency)
    assert [(i.name, i.quantity, i.unit_price) for i in new.order.items.all()] == [
        ("Espresso beans, 1 kg", 2, 2400),
        ("Grinder", 1, 9900),
    ]
    assert new.order.amount_total == old.order.amount_total == 14700
    assert new.customer_email == "alice@example.com"
    assert new.metadata == {"cart": "c_42"}
    assert new.expires_at - new.created_at == timedelta(hours=24)
    [recovered_by] = events(old, EventKind.RECOVERED_BY)
    assert recovered_by.data["recovery_session"] == new.public_id
    assert recovered_by.data["emailed"] is True
    assert (recovered_by.actor_kind, recovered_by.actor_user) == (ActorKind.USER, merchant)
    [created] = events(new, EventKind.SESSION_CREATED)
    assert created.data["recovered_from"] == old.public_id
    assert created.data["source"] == SessionSource.RECOVERY
    assert (created.actor_label, created.actor_user) == ("jenny", merchant)


def test_recovery_keeps_the_session_and_links_overrides_and_required_fields(recover, merchant):
    link = PaymentLinkFactory(
        success_url="https://shop.example.com/thanks",
        require_shipping_address=True,
    )
    old = make_session(link=link, failed_attempts=2, required_fields=RequiredFieldSet(phone=True))
    link.is_active = False  # deactivated since: the recovery does not need it
    link.save()

    new = recover(old, merchant, send_email=False).session

    effective = effective_settings(new)
    assert effective.success_url == "https://shop.example.com/thanks"
    assert effective.required_fields == RequiredFieldSet(phone=True, shipping_address=True)
    assert [item.name for item in new.order.items.all()] == [link.name]


def test_recovery_email_goes_to_the_customer_with_the_new_link_and_names_the_merchant(
    recover, merchant
):
    old = failed_session(customer_email="alice@example.com")

    recovery = recover(old, merchant, send_email=True)

    [message] = mail.outbox
    html = message.alternatives[0].content
    link = session_url(recovery.session)
    assert message.to == ["alice@example.com"]
    assert message.subject == f"[Test mode] Complete your purchase from {old.org.name}"
    for body in (message.body, html):
        assert link in body
        assert old.org.name in body
        assert "Espresso beans, 1 kg × 2" in body
        assert "$147.00" in body
        assert "Test mode — this is a test checkout; nothing will be charged." in body
    [sent] = events(old, EventKind.RECOVERY_SENT)
    assert sent.data["to"] == "alice@example.com"
    assert sent.data["recovery_session"] == recovery.session.public_id
    assert (sent.actor_label, sent.actor_user) == ("jenny", merchant)


def test_recovery_email_of_a_live_session_says_nothing_of_test_mode(recover, merchant, settings):
    settings.LIVE_PAYMENT_PROCESSOR = "checkout.processors.test.TestProcessor"
    old = failed_session(mode=Mode.LIVE)

    recover(old, merchant, send_email=True)

    [message] = mail.outbox
    assert message.subject.startswith("Complete your purchase from ")
    for body in (message.body, message.alternatives[0].content):
        assert "Test mode" not in body


def test_recovery_email_escapes_item_and_org_names_in_html(recover, merchant):
    org = Organization.objects.create(name='Acme "><img src=x onerror=alert(1)>', slug="evil")
    old = make_session(
        org=org,
        items=[LineItem(name="<script>alert(1)</script>", quantity=1, unit_price=500)],
        failed_attempts=1,
    )

    recover(old, merchant, send_email=True)

    [message] = mail.outbox
    html = message.alternatives[0].content
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<script>alert(1)</script> × 1" in message.body  # plain text: shown as typed


def test_second_recovery_email_within_24_hours_is_refused_saying_when_and_by_whom(
    recover, merchant
):
    old = failed_session()
    sent_at = timezone.now() - timedelta(hours=23)
    with time_machine.travel(sent_at):
        recover(old, merchant, send_email=True)
    other = UserFactory(username="bob")

    with pytest.raises(RecoveryEmailTooSoon) as refused:
        recover(old, other, send_email=True)

    message = str(refused.value)
    assert f"{sent_at:%b %-d, %Y at %H:%M} UTC" in message
    assert "sent by jenny" in message
    assert refused.value.last_email.sent_by == "jenny"
    assert len(mail.outbox) == 1
    assert CheckoutSession.objects.filter(recovered_from=old).count() == 1


def test_recovery_email_is_allowed_again_after_24_hours(recover, merchant):
    old = failed_session()
    with time_machine.travel(timezone.now() - timedelta(hours=24, minutes=1)):
        recover(old, merchant, send_email=True)

    recover(old, merchant, send_email=True)

    assert len(mail.outbox) == 2
    assert len(events(old, EventKind.RECOVERY_SENT)) == 2


def test_mailto_path_is_not_limited_and_records_a_recovery_not_emailed_by_us(recover, merchant):
    old = failed_session()
    recover(old, merchant, send_email=True)

    recovery = recover(old, merchant, send_email=False)

    assert recovery.emailed is False
    assert len(mail.outbox) == 1  # only the first, which we sent
    recovered_by = events(old, EventKind.RECOVERED_BY)
    assert [event.data["emailed"] for event in recovered_by] == [True, False]
    assert recovered_by[1].data["recovery_session"] == recovery.session.public_id
    assert recovered_by[1].actor_user == merchant


def test_a_failed_send_does_not_count_against_the_24_hours(recover, merchant, monkeypatch):
    old = failed_session()

    def mail_server_gone(message):
        raise smtplib.SMTPServerDisconnected("mail server went away")

    monkeypatch.setattr(EmailMultiAlternatives, "send", mail_server_gone)
    recover(old, merchant, send_email=True)
    monkeypatch.undo()

    recover(old, merchant, send_email=True)

    [failed] = events(old, EventKind.RECOVERY_FAILED)
    assert failed.data["error"] == "SMTPServerDisconnected: mail server went away"
    assert failed.actor_user == merchant
    assert len(mail.outbox) == 1
    assert len(events(old, EventKind.RECOVERY_SENT)) == 1


def test_paid_session_is_refused(recover, merchant):
    old = make_session(paid=True, failed_attempts=1)

    with pytest.raises(RecoveryRefused, match="is paid") as refused:
        recover(old, merchant, send_email=True)

    assert refused.value.reason == "paid"
    assert not CheckoutSession.objects.filter(recovered_from=old).exists()
    assert mail.outbox == []


def test_open_session_without_a_failed_attempt_is_refused(recover, merchant):
    old = make_session()

    with pytest.raises(RecoveryRefused, match="still open") as refused:
        recover(old, merchant, send_email=False)

    assert refused.value.reason == "open"
    assert not CheckoutSession.objects.filter(recovered_from=old).exists()


def test_expired_session_without_an_email_is_refused(recover, merchant):
    old = expired_session(customer_email="")

    with pytest.raises(RecoveryRefused, match="no customer email") as refused:
        recover(old, merchant, send_email=True)

    assert refused.value.reason == "no_email"
    assert events(old, EventKind.RECOVERED_BY) == []


def test_expired_session_with_an_email_is_recovered(recover, merchant):
    old = expired_session(customer_email="bob@example.com")

    recovery = recover(old, merchant, send_email=True)

    assert recovery.session.customer_email == "bob@example.com"
    assert mail.outbox[0].to == ["bob@example.com"]
    old.refresh_from_db()
    assert events(old, EventKind.RECOVERED_BY)[0].data["closed_window"] is False


def test_recovering_an_active_failed_session_closes_its_window(recover, merchant):
    old = failed_session(created_at=timezone.now() - timedelta(minutes=5))
    assert old.is_active
    before = timezone.now()

    recover(old, merchant, send_email=False)

    old.refresh_from_db()
    assert before <= old.expires_at <= timezone.now()  # the customer cannot pay both
    assert events(old, EventKind.RECOVERED_BY)[0].data["closed_window"] is True


def test_session_whose_recovery_was_paid_is_refused_and_says_so(recover, merchant):
    old = failed_session()
    new = recover(old, merchant, send_email=False).session
    CheckoutSession.objects.filter(pk=new.pk).update(is_paid=True)
    new.order.payment_status = "paid"
    new.order.paid_at = timezone.now()
    new.order.save()

    status = recovery_status(old)
    with pytest.raises(RecoveryRefused, match=f"already paid recovery session {new.public_id}"):
        recover(old, merchant, send_email=True)

    assert status.paid_recovery == new


def test_recovery_status_names_the_last_email_and_when_the_next_may_go(recover, merchant):
    old = failed_session()
    assert recovery_status(old).last_email is None
    assert recovery_status(old).can_email_at(timezone.now())
    new = recover(old, merchant, send_email=True).session
    recover(old, merchant, send_email=False)

    status = recovery_status(old)

    assert status.last_email.sent_by == "jenny"
    assert status.last_email.recovery_session_id == new.public_id
    assert abs(status.last_email.sent_at - timezone.now()) < timedelta(seconds=5)
    assert not status.can_email_at(timezone.now())
    assert status.can_email_at(timezone.now() + timedelta(hours=24))
    assert status.paid_recovery is None


def test_mailto_is_prefilled_with_the_customer_subject_and_the_new_link(recover, merchant):
    old = failed_session(customer_email="alice+shop@example.com")
    new = recover(old, merchant, send_email=False).session

    url = recovery_mailto(new)

    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert parts.scheme == "mailto"
    assert unquote(parts.path) == "alice+shop@example.com"
    assert query["subject"] == [f"[Test mode] Complete your purchase from {old.org.name}"]
    [body] = query["body"]
    assert session_url(new) in body
    assert "Espresso beans, 1 kg × 2: $48.00" in body
    assert "Total: $147.00" in body


def test_mailto_encodes_every_part_so_no_header_can_be_added(recover, merchant):
    org = Organization.objects.create(name="Acme&cc=attacker@example.com", slug="amp")
    old = make_session(
        org=org,
        items=[LineItem(name="Mug\r\nBcc: x@example.com&to=y", quantity=1, unit_price=500)],
        failed_attempts=1,
    )
    new = recover(old, merchant, send_email=False).session

    query = parse_qs(urlsplit(recovery_mailto(new)).query)

    assert set(query) == {"subject", "body"}
    assert "\r" not in recovery_mailto(new) and "\n" not in recovery_mailto(new)


def test_recovery_of_a_recovery_keeps_the_chain(recover, merchant):
    first = failed_session()
    second = recover(first, merchant, send_email=False)
    second.session.failed_attempts = 1
    second.session.save(update_fields=["failed_attempts"])

    third = recover(second.session, merchant, send_email=True)

    assert third.session.recovered_from == second.session
    assert len(mail.outbox) == 1


def test_mailto_refuses_a_session_that_is_no_recovery():
    old = failed_session()

    with pytest.raises(ValueError, match="not a recovery"):
        recovery_mailto(old)
