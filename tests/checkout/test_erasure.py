"""Customer data erasure (``checkout.erasure``) and the retention of IP addresses and user
agents (``checkout.upkeep.drop_old_customer_context``)."""

import json
import smtplib
from datetime import timedelta
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import DatabaseError, connection
from django.db.models import Q
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from checkout.actors import Actor
from checkout.callbacks import build_payload
from checkout.choices import CallbackEvent, EventKind
from checkout.erasure import ERASED, erase_customer
from checkout.models import (
    CallbackDelivery,
    CheckoutSession,
    IdempotencyRecord,
    Order,
    PaymentAttempt,
    TimelineEvent,
)
from checkout.portal import PortalScope, portal_path
from checkout.receipts import send_receipt
from checkout.upkeep import LIMIT_RECORD_RETENTION, drop_old_customer_context
from orgs.models import AuditEntry, Mode
from tests.factories import (
    OrganizationFactory,
    UserFactory,
    make_session,
    timeline_event,
)

pytestmark = pytest.mark.django_db

ANN = "ann@example.com"
PERSONAL = {
    "customer_phone": "+1 415 555 0100",
    "customer_country": "US",
    "customer_postal_code": "94110",
    "shipping_name": "Ann Example",
    "shipping_line1": "1 Valencia Street",
    "shipping_line2": "Apt 4",
    "shipping_city": "San Francisco",
    "shipping_state": "CA",
    "shipping_postal_code": "94110",
    "shipping_country": "US",
    "ip_address": "203.0.113.7",
    "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)",
    "device_type": "mobile",
}


def customer_session(org, email=ANN, *, paid=False, mode=Mode.TEST, **kwargs):
    """A session of ``email`` with every personal field filled in, as the hosted page does."""
    session = make_session(org=org, mode=mode, customer_email=email, paid=paid, **kwargs)
    for field, value in PERSONAL.items():
        setattr(session, field, value)
    session.details_provided_at = timezone.now()
    session.save()
    if paid:
        Order.objects.filter(pk=session.order_id).update(customer_email=email)
        session.order.refresh_from_db()
    timeline_event(session, EventKind.DETAILS_PROVIDED, fields=["email", "phone"])
    return session


def erase(org, email=ANN, user=None):
    user = user or UserFactory()
    return erase_customer(org=org, email=email, actor=Actor.for_user(user))


def snapshot(session: CheckoutSession) -> dict:
    session = CheckoutSession.objects.with_status().select_related("order").get(pk=session.pk)
    return {
        "status": session.status,
        "amount": session.order.amount_total,
        "payment_status": session.order.payment_status,
        "items": list(session.order.items.values_list("name", "quantity", "unit_price")),
        "failed_attempts": session.failed_attempts,
        "device_type": session.device_type,
    }


def test_erasure_empties_every_personal_field_of_the_customers_sessions_and_orders():
    org = OrganizationFactory()
    paid = customer_session(org, paid=True)
    live = customer_session(org, mode=Mode.LIVE)

    erasure = erase(org)

    assert (erasure.sessions, erasure.orders) == (2, 2)
    for session in (paid, live):
        session.refresh_from_db()
        assert session.customer_email == ""
        assert session.ip_address is None
        for field in PERSONAL.keys() - {"ip_address", "device_type"}:
            assert getattr(session, field) == "", field
    assert Order.objects.get(pk=paid.order_id).customer_email == ""


def test_erasure_keeps_amounts_items_statuses_and_every_event():
    org = OrganizationFactory()
    paid = customer_session(org, paid=True)
    failed = customer_session(org, failed_attempts=2)
    before = {s.pk: snapshot(s) for s in (paid, failed)}
    events_before = {s.pk: list(s.events.values_list("kind", flat=True)) for s in (paid, failed)}

    erase(org)

    for session in (paid, failed):
        assert snapshot(session) == before[session.pk]
        kinds = list(session.events.values_list("kind", flat=True))
        assert kinds == [*events_before[session.pk], EventKind.CUSTOMER_ERASED]


def test_erased_event_names_the_merchant_user_and_the_audit_log_never_the_email():
    org = OrganizationFactory()
    session = customer_session(org)
    jenny = UserFactory(username="jenny")

    erase(org, user=jenny)

    event = session.events.get(kind=EventKind.CUSTOMER_ERASED)
    assert (event.actor_label, event.actor_user) == ("jenny", jenny)
    entry = AuditEntry.objects.get(org=org, action=AuditEntry.Action.CUSTOMER_ERASED)
    assert entry.user == jenny
    assert entry.changes == {"sessions": 1, "orders": 1}
    assert "ann" not in json.dumps([entry.target, entry.changes]).lower()


def test_another_customer_and_the_same_email_at_another_org_are_untouched():
    org, other_org = OrganizationFactory(), OrganizationFactory()
    bob = customer_session(org, "bob@example.com", paid=True)
    ann_elsewhere = customer_session(other_org, paid=True)

    erase(org)

    bob.refresh_from_db()
    ann_elsewhere.refresh_from_db()
    assert bob.customer_email == "bob@example.com"
    assert bob.shipping_line1 == PERSONAL["shipping_line1"]
    assert ann_elsewhere.customer_email == ANN
    assert str(ann_elsewhere.ip_address) == PERSONAL["ip_address"]
    assert Order.objects.get(pk=ann_elsewhere.order_id).customer_email == ANN


@pytest.mark.parametrize(
    "look_alike",
    [
        "ann@examp1e.com",  # digit one
        "ann@exampIe.com",  # capital i: canonical "ann@exampie.com"
        "ann@exаmple.com",  # Cyrillic а: its own IDNA domain
        "ann@example.com.evil.test",
        "ann+1@example.com",
    ],
)
def test_a_look_alike_email_erases_nobody_else(look_alike):
    org = OrganizationFactory()
    session = customer_session(org, paid=True)

    erasure = erase(org, email=look_alike)

    session.refresh_from_db()
    assert not erasure.found
    assert session.customer_email == ANN
    assert Order.objects.get(pk=session.order_id).customer_email == ANN


def test_the_same_customer_typed_in_another_case_is_erased():
    org = OrganizationFactory()
    session = customer_session(org)

    assert erase(org, email="  ANN@Example.COM".strip()).sessions == 1
    session.refresh_from_db()
    assert session.customer_email == ""


@pytest.mark.parametrize("junk", ["ann\x00@example.com", "not an email", "", "a" * 300 + "@x.com"])
def test_junk_email_is_refused_and_changes_nothing(junk):
    org = OrganizationFactory()
    customer_session(org)

    with pytest.raises(ValidationError):
        erase(org, email=junk)

    assert CheckoutSession.objects.filter(customer_email=ANN).count() == 1
    assert not AuditEntry.objects.filter(action=AuditEntry.Action.CUSTOMER_ERASED).exists()


def test_personal_data_inside_event_data_is_scrubbed():
    org = OrganizationFactory()
    session = customer_session(org, paid=True)
    receipt = timeline_event(session, EventKind.RECEIPT_SENT, to=ANN, attempt=1)
    failure = timeline_event(
        session,
        EventKind.RECEIPT_FAILED,
        to=ANN,
        error="SMTPRecipientsRefused: {'ann@example.com': (550, b'no')}",
    )
    recovery = timeline_event(session, EventKind.RECOVERED_BY, to=ANN, emailed=True)
    declined = timeline_event(session, EventKind.PAYMENT_FAILED, code="card_declined", last4="0002")

    erase(org)

    receipt.refresh_from_db()
    failure.refresh_from_db()
    recovery.refresh_from_db()
    declined.refresh_from_db()
    assert receipt.data == {"to": ERASED, "attempt": 1}
    assert failure.data["to"] == ERASED
    assert "ann@" not in failure.data["error"]
    assert recovery.data["to"] == ERASED
    assert declined.data == {"code": "card_declined", "last4": "0002"}
    assert ANN not in json.dumps(list(TimelineEvent.objects.values_list("data", flat=True)))


def test_callback_payloads_metadata_and_idempotent_api_responses_are_scrubbed():
    org = OrganizationFactory()
    session = customer_session(org, metadata={"customer": ANN, "plan": "gold"})
    delivery = CallbackDelivery.objects.create(
        public_id="msg_erasure1",
        session=session,
        event_type=CallbackEvent.COMPLETED,
        url="https://merchant.example.com/hooks",
        payload=build_payload(
            session=CheckoutSession.objects.with_status().get(pk=session.pk),
            event_type=CallbackEvent.COMPLETED,
        ),
    )
    response = IdempotencyRecord.objects.create(
        org=org,
        mode=Mode.TEST,
        key="k1",
        request_fingerprint="f",
        response_status=201,
        response_body=json.dumps({"id": session.public_id, "customerEmail": ANN}),
    )

    erase(org)

    delivery.refresh_from_db()
    response.refresh_from_db()
    session.refresh_from_db()
    assert json.loads(delivery.payload)["data"]["customerEmail"] is None
    assert json.loads(response.response_body) == {"id": session.public_id, "customerEmail": None}
    assert session.metadata == {"customer": ERASED, "plan": "gold"}


def test_the_abuse_limits_keep_counting_without_the_clients_address():
    org = OrganizationFactory()
    session = customer_session(org)
    attempt = PaymentAttempt.objects.create(
        org=org, mode=Mode.TEST, session=session, ip_key="203.0.113.7", outcome="declined"
    )

    erase(org)

    attempt.refresh_from_db()
    assert (attempt.ip_key, attempt.outcome) == ("", "declined")


def test_a_portal_link_issued_before_erasure_is_not_found_after(client):
    org = OrganizationFactory()
    session = customer_session(org, paid=True)
    links = [portal_path(session.order, scope=scope) for scope in PortalScope]
    assert all(client.get(link).status_code == 200 for link in links)

    erase(org)

    assert [client.get(link).status_code for link in links] == [404, 404]


def test_a_second_erasure_finds_nothing_and_records_nothing():
    org = OrganizationFactory()
    session = customer_session(org, paid=True)
    erase(org)
    events = session.events.count()

    again = erase(org)

    assert not again.found
    assert session.events.count() == events
    assert AuditEntry.objects.filter(action=AuditEntry.Action.CUSTOMER_ERASED).count() == 1


def test_a_failure_midway_leaves_nothing_half_written():
    org = OrganizationFactory()
    session = customer_session(org, paid=True)
    timeline_event(session, EventKind.RECEIPT_SENT, to=ANN)

    # The audit entry is the last write: everything before it must roll back with it.
    with (
        mock.patch("checkout.erasure.record", side_effect=DatabaseError("disk full")),
        pytest.raises(DatabaseError),
    ):
        erase(org)

    session.refresh_from_db()
    assert session.customer_email == ANN
    assert str(session.ip_address) == PERSONAL["ip_address"]
    assert Order.objects.get(pk=session.order_id).customer_email == ANN
    assert session.events.filter(data__to=ANN).exists()
    assert not session.events.filter(kind=EventKind.CUSTOMER_ERASED).exists()


def test_a_receipt_sent_to_an_address_erased_meanwhile_is_recorded_without_it():
    """The receipt task read the address before the erasure and records after it."""
    org = OrganizationFactory()
    session = customer_session(org, paid=True)
    read_before = CheckoutSession.objects.select_related("order", "org").get(pk=session.pk)
    erase(org)

    event = send_receipt(session=read_before, actor=Actor.system())

    assert event.data == {"to": ERASED, "attempt": 1}
    assert ANN not in json.dumps(list(TimelineEvent.objects.values_list("data", flat=True)))


def test_a_receipt_failing_for_an_address_erased_meanwhile_is_recorded_without_it():
    org = OrganizationFactory()
    session = customer_session(org, paid=True)
    read_before = CheckoutSession.objects.select_related("order", "org").get(pk=session.pk)
    erase(org)
    refused = smtplib.SMTPRecipientsRefused({ANN: (550, b"5.1.1 no such user")})

    with mock.patch("django.core.mail.EmailMultiAlternatives.send", side_effect=refused):
        event = send_receipt(session=read_before, actor=Actor.system())

    assert event.kind == EventKind.RECEIPT_FAILED
    assert event.data["to"] == ERASED
    assert "ann@" not in event.data["error"]


def test_an_open_session_the_merchant_gave_the_email_of_takes_a_new_one():
    org = OrganizationFactory()
    session = customer_session(org)
    assert session.customer_email_fixed

    erase(org)

    session.refresh_from_db()
    assert not session.customer_email_fixed


@pytest.mark.postgres
def test_erasure_locks_orders_before_sessions_in_primary_key_order():
    org = OrganizationFactory()
    for _ in range(3):
        customer_session(org, paid=True)

    with CaptureQueriesContext(connection) as queries:
        erase(org)

    locks = [q["sql"] for q in queries if q["sql"].endswith(("FOR UPDATE", "FOR NO KEY UPDATE"))]
    assert len(locks) == 2
    assert 'FROM "checkout_order"' in locks[0] and 'ORDER BY "checkout_order"."id"' in locks[0]
    assert locks[0].endswith("FOR UPDATE")  # as checkout.locking takes it
    assert 'FROM "checkout_checkoutsession"' in locks[1]
    assert 'ORDER BY "checkout_checkoutsession"."id"' in locks[1]
    # Rows that only refer to a session (events, callback attempts) are written beside it.
    assert locks[1].endswith("FOR NO KEY UPDATE")


def test_the_management_command_erases_through_the_same_service(capsys):
    org = OrganizationFactory(slug="bean-there")
    session = customer_session(org)

    call_command("erase_customer", "--org", "bean-there", "--email", "Ann@Example.com")

    session.refresh_from_db()
    assert session.customer_email == ""
    assert "1 session(s)" in capsys.readouterr().out
    event = session.events.get(kind=EventKind.CUSTOMER_ERASED)
    assert "operator" in event.actor_label


# --- Retention of IP addresses and user agents ---------------------------------------------


def context_session(org, days_old: int):
    session = customer_session(org, created_at=timezone.now() - timedelta(days=days_old))
    return session


@override_settings(CUSTOMER_CONTEXT_RETENTION_DAYS=90)
def test_retention_drops_ip_and_user_agent_of_old_sessions_only_in_batches():
    org = OrganizationFactory()
    old = [context_session(org, 91) for _ in range(5)]
    new = context_session(org, 89)

    with CaptureQueriesContext(connection) as queries:
        assert drop_old_customer_context(batch_size=2) == 5
    updates = [q for q in queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 3  # 2 + 2 + 1

    for session in old:
        session.refresh_from_db()
        assert (session.ip_address, session.user_agent) == (None, "")
        assert session.customer_email == ANN  # only the context goes
        assert session.device_type == "mobile"
    new.refresh_from_db()
    assert str(new.ip_address) == PERSONAL["ip_address"]
    assert new.user_agent == PERSONAL["user_agent"]
    assert drop_old_customer_context() == 0


@override_settings(CUSTOMER_CONTEXT_RETENTION_DAYS=0)
def test_retention_zero_keeps_everything():
    org = OrganizationFactory()
    session = context_session(org, 400)

    assert drop_old_customer_context() == 0
    session.refresh_from_db()
    assert str(session.ip_address) == PERSONAL["ip_address"]


def test_the_abuse_limits_client_addresses_never_outlive_the_context_retention():
    # The setting counts whole days (1 at least when not 0).
    assert timedelta(days=1) >= LIMIT_RECORD_RETENTION


@pytest.mark.postgres
def test_retention_batch_reads_the_partial_index():
    org = OrganizationFactory()
    context_session(org, 100)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        query = (
            CheckoutSession.objects.filter(
                Q(ip_address__isnull=False) | ~Q(user_agent=""),
                created_at__lt=timezone.now() - timedelta(days=90),
            )
            .order_by("created_at")
            .values_list("pk", flat=True)[:1000]
        )
        sql, params = query.query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "session_context_created" in plan
