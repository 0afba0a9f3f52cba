"""Erasing a customer (``checkout.erasure``) while that customer pays or types their details,
while the merchant recovers their sale, while a callback or a receipt about them is on its way,
or while a second erasure of them runs: real concurrency (PostgreSQL row locks, threads
released together). Nothing is half-written, nothing deadlocks, no personal data stays."""

import json
import threading
import time
from functools import partial

import pytest
from django.core import mail
from django.core.mail.backends import locmem
from django.db import connection
from django.tasks import TaskResultStatus
from django.test import Client

from checkout import erasure, services
from checkout.actors import Actor
from checkout.callbacks import build_payload, deliver_callback
from checkout.choices import CallbackEvent, EventKind, PaymentStatus
from checkout.effective_settings import RequiredFieldSet
from checkout.erasure import erase_customer
from checkout.models import CallbackDelivery, CheckoutSession, Order, PaymentAttempt, TimelineEvent
from checkout.processors import CardDetails
from checkout.processors.test import TestProcessor
from checkout.receipts import send_receipt_task
from checkout.request_context import CustomerContext
from checkout.services import PaymentOutcomeKind, pay_checkout_session, save_customer_details
from orgs.models import AuditEntry
from tests.checkout.callback_receiver import CallbackReceiver
from tests.concurrency import together
from tests.factories import card_form_data, make_session

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

REPETITIONS = 8
# Released together, the erasure starting this much later in each repetition: from before the
# other writer takes its locks to after it committed, so that every interleaving is tried.
ERASURE_DELAYS = (0, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 0.2)
ANN = "ann@example.com"
VISA = CardDetails(number="4242424242424242", exp_month=12, exp_year=2099, cvc="123")
IP = "203.0.113.7"
USER_AGENT = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)"
CONTEXT = CustomerContext(ip_address=IP, user_agent=USER_AGENT)
DETAILS = {
    "customer_phone": "+1 415 555 0100",
    "shipping_name": "Ann Example",
    "shipping_line1": "1 Valencia Street",
    "shipping_line2": "Apt 4",
    "shipping_city": "San Francisco",
    "shipping_postal_code": "94110",
    "shipping_country": "US",
}
# What the customer typed or their browser sent: none of it may be stored after erasure (a
# country code is too short to look for: "US" is in "USD").
PERSONAL_VALUES = tuple(
    value
    for value in (*DETAILS.values(), IP, USER_AGENT)
    if len(value) >= erasure.MIN_SCRUBBED_LENGTH
)
ASKS_FOR_EVERYTHING = RequiredFieldSet(phone=True, shipping_address=True)
PAYMENT_OUTCOMES_BESIDE_AN_ERASURE = {
    PaymentOutcomeKind.SUCCEEDED,  # paid first; the erasure waited, then erased it
    PaymentOutcomeKind.IN_PROGRESS,  # the erasure held the session's lock
    PaymentOutcomeKind.DETAILS_MISSING,  # the erasure had committed: no email any more
}


@pytest.fixture
def erase(owner, org):
    """The org's owner erasing a customer (the user exists before any race begins: hashing
    its password inside a racing thread would decide the race)."""

    def erase_as_owner(email: str) -> erasure.Erasure:
        return erase_customer(org=org, email=email, actor=Actor.for_user(owner))

    return erase_as_owner


@pytest.fixture
def slow_charges(monkeypatch):
    """Each charge takes 0.1 s, like a card network: the payment holds the order's and the
    session's locks meanwhile, so an erasure started at the same instant overlaps it."""
    original = TestProcessor.charge

    def slow_charge(self, **kwargs):
        time.sleep(0.1)
        return original(self, **kwargs)

    monkeypatch.setattr(TestProcessor, "charge", slow_charge)


@pytest.fixture
def held_charge(monkeypatch):
    """A charge that lasts until the test sets ``release``; ``charging`` is set once it has
    started (its payment holds the locks)."""
    charging, release = threading.Event(), threading.Event()
    original = TestProcessor.charge

    def charge(self, **kwargs):
        charging.set()
        release.wait(timeout=30)
        return original(self, **kwargs)

    monkeypatch.setattr(TestProcessor, "charge", charge)
    yield charging, release
    release.set()  # never leave a thread blocked, whatever the test did


@pytest.fixture
def held_mail(monkeypatch):
    """Sending an email lasts until the test sets ``release``; ``sending`` is set once one is
    on its way (after its task read the address, holding no lock, as a slow mail server)."""
    sending, release = threading.Event(), threading.Event()
    original = locmem.EmailBackend.send_messages

    def send_messages(self, messages):
        sending.set()
        release.wait(timeout=30)
        return original(self, messages)

    monkeypatch.setattr(locmem.EmailBackend, "send_messages", send_messages)
    yield sending, release
    release.set()


@pytest.fixture
def erasure_pauses(monkeypatch):
    """The erasure is slow at its last scrubs, the stored JSON bodies (a customer with a long
    history): it holds its locks 0.5 s there, its timeline scrubbed, callback payloads not
    yet. The event is set when it gets there."""
    paused = threading.Event()
    original = erasure._Scrubber.mentions

    def mentions(self, text):
        if not paused.is_set():
            paused.set()
            time.sleep(0.5)
        return original(self, text)

    monkeypatch.setattr(erasure._Scrubber, "mentions", mentions)
    return paused


def customer_session(org, email: str = ANN, **kwargs) -> CheckoutSession:
    """An open session whose customer typed ``email``, a phone and an address (step 1 done)."""
    session = make_session(
        org=org, customer_email="", required_fields=ASKS_FOR_EVERYTHING, **kwargs
    )
    return save_customer_details(
        session=session, details={"customer_email": email, **DETAILS}, context=CONTEXT
    )


def after(delay: float, call):
    """``call``, ``delay`` seconds later."""

    def delayed():
        time.sleep(delay)
        return call()

    return delayed


def in_thread(call) -> tuple[threading.Thread, list]:
    """Start ``call`` in a thread of its own (own connection); its result lands in the list,
    which stays empty if it raised."""
    results: list = []

    def run():
        try:
            results.append(call())
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, results


def personal_data_left(session: CheckoutSession, email: str = ANN) -> list[str]:
    """Every place where the customer's email or a value they typed or sent is still stored for
    ``session``: its row, its order, its events, its callback payloads, its payment attempts."""
    stored = {
        "session": CheckoutSession.objects.filter(pk=session.pk).values().get(),
        "order": Order.objects.filter(pk=session.order_id).values().get(),
        "events": list(TimelineEvent.objects.filter(session=session).values("kind", "data")),
        "callbacks": list(
            CallbackDelivery.objects.filter(session=session).values_list("payload", flat=True)
        ),
        "attempts": list(
            PaymentAttempt.objects.filter(session=session).values_list("ip_key", flat=True)
        ),
    }
    left = []
    for place, rows in stored.items():
        text = json.dumps(rows, default=str, ensure_ascii=False).casefold()
        left += [
            f"{place}: {value}" for value in (email, *PERSONAL_VALUES) if value.casefold() in text
        ]
    return left


def events(session: CheckoutSession, kind: str) -> list[TimelineEvent]:
    return list(TimelineEvent.objects.filter(session=session, kind=kind).order_by("pk"))


# --- Erasure and a payment ----------------------------------------------------------------------


def test_erasure_waits_for_a_payment_under_way_then_erases_what_it_and_its_receipt_wrote(
    org, erase, held_charge
):
    charging, release = held_charge
    with CallbackReceiver() as receiver:
        session = customer_session(org, callback_url=receiver.url)
        paying, paid = in_thread(
            partial(pay_checkout_session, session=session, card=VISA, context=CONTEXT)
        )
        assert charging.wait(timeout=10)  # the payment holds the locks now
        erasing, erased = in_thread(partial(erase, ANN))
        time.sleep(0.3)
        assert erasing.is_alive()  # waiting for the payment's lock, not erasing beside it

        release.set()
        paying.join(timeout=30)
        erasing.join(timeout=30)

    [outcome], [erasure_done] = paid, erased
    assert outcome.kind == PaymentOutcomeKind.SUCCEEDED
    # The order's email is the one the payment copied from the session: erased too.
    assert (erasure_done.sessions, erasure_done.orders) == (1, 1)
    assert Order.objects.get(pk=session.order_id).payment_status == PaymentStatus.PAID
    assert len(events(session, EventKind.PAYMENT_SUCCEEDED)) == 1
    assert len(events(session, EventKind.CUSTOMER_ERASED)) == 1
    [delivery] = CallbackDelivery.objects.filter(session=session)
    assert json.loads(delivery.payload)["data"]["customerEmail"] is None
    # The receipt, sent after the payment committed, left before the erasure did or not at all;
    # its record on the timeline names nobody either way.
    assert len(mail.outbox) <= 1
    assert [event.data["to"] for event in events(session, EventKind.RECEIPT_SENT)] in (
        [],
        [erasure.ERASED],
    )
    assert personal_data_left(session) == []


def test_erasure_of_a_customer_paying_two_sessions_takes_their_locks_in_order_without_deadlock(
    org, erase, held_charge
):
    """The customer's second session is being charged when the erasure starts (it locks the
    first order, then waits for the second); then the customer pays the first session too.
    Locking sessions before orders, the erasure would hold the first session while that
    payment holds the first order: a deadlock."""
    charging, release = held_charge
    first, second = customer_session(org), customer_session(org)
    paying_second, second_paid = in_thread(
        partial(pay_checkout_session, session=second, card=VISA, context=CONTEXT)
    )
    assert charging.wait(timeout=10)
    erasing, erased = in_thread(partial(erase, ANN))
    time.sleep(0.3)  # the erasure holds what comes before the second session's locks

    paying_first, first_paid = in_thread(
        partial(pay_checkout_session, session=first, card=VISA, context=CONTEXT)
    )
    paying_first.join(timeout=5)
    release.set()
    for thread in (paying_first, paying_second, erasing):
        thread.join(timeout=30)

    assert [first_paid[0].kind, second_paid[0].kind] == [
        PaymentOutcomeKind.IN_PROGRESS,  # the erasure held its order: answered at once
        PaymentOutcomeKind.SUCCEEDED,
    ]
    assert erased[0].sessions == 2
    for session in (first, second):
        assert len(events(session, EventKind.CUSTOMER_ERASED)) == 1
        assert personal_data_left(session) == []


def test_erasure_and_payment_started_at_the_same_instant_never_deadlock_nor_leave_data(
    org, erase, slow_charges
):
    outcomes = []
    with CallbackReceiver() as receiver:
        for repetition, delay in enumerate(ERASURE_DELAYS):
            email = f"ann.{repetition}@example.com"
            session = customer_session(org, email, callback_url=receiver.url)

            outcome, erased = together(
                partial(pay_checkout_session, session=session, card=VISA, context=CONTEXT),
                after(delay, partial(erase, email)),
            )

            outcomes.append(outcome.kind)
            assert outcome.kind in PAYMENT_OUTCOMES_BESIDE_AN_ERASURE
            paid = outcome.kind == PaymentOutcomeKind.SUCCEEDED
            assert Order.objects.get(pk=session.order_id).is_paid == paid
            assert len(events(session, EventKind.PAYMENT_SUCCEEDED)) == int(paid)
            assert erased.sessions == 1
            assert len(events(session, EventKind.CUSTOMER_ERASED)) == 1
            assert personal_data_left(session, email) == [], outcome.kind
            assert not PaymentAttempt.objects.filter(session=session, outcome="pending").exists()
    print(
        "payments racing an erasure:", {str(kind): outcomes.count(kind) for kind in set(outcomes)}
    )


def test_a_payment_whose_page_was_read_before_the_erasure_charges_nothing_and_writes_nothing(
    org, erase, monkeypatch
):
    """The pay view has read the session (email and details there) when the erasure commits,
    before the payment takes its lock: only what it reads under the lock counts."""
    session = customer_session(org)
    real_lock_for_update = services.lock_for_update

    def erased_meanwhile(locked_session, **kwargs):
        erasing, _ = in_thread(partial(erase, ANN))
        erasing.join(timeout=30)
        return real_lock_for_update(locked_session, **kwargs)

    monkeypatch.setattr(services, "lock_for_update", erased_meanwhile)

    response = Client(REMOTE_ADDR=IP, HTTP_USER_AGENT=USER_AGENT).post(
        f"/checkout/{session.public_id}/pay", card_form_data()
    )

    assert response.status_code == 303  # back to the page, which asks for an email again
    order = Order.objects.get(pk=session.order_id)
    assert (order.payment_status, order.customer_email) == (PaymentStatus.UNPAID, "")
    assert events(session, EventKind.PAYMENT_SUCCEEDED) == []
    assert len(events(session, EventKind.CUSTOMER_ERASED)) == 1
    assert not PaymentAttempt.objects.filter(session=session).exists()  # its claim given back
    assert personal_data_left(session) == []


def test_a_callback_recording_its_attempt_during_an_erasure_does_not_deadlock_with_it(
    org, erase, erasure_pauses
):
    """The callback's attempt is recorded (its delivery row updated, an event written) while
    the erasure holds the session and is about to scrub that delivery's payload."""
    with CallbackReceiver() as receiver:
        session = customer_session(org, callback_url=receiver.url)
        delivery = CallbackDelivery.objects.create(
            public_id="msg_racing0erasure",
            session=session,
            org=org,
            mode=session.mode,
            event_type=CallbackEvent.COMPLETED,
            url=receiver.url,
            payload=build_payload(
                session=CheckoutSession.objects.with_status().get(pk=session.pk),
                event_type=CallbackEvent.COMPLETED,
            ),
        )
        erasing, erased = in_thread(partial(erase, ANN))
        assert erasure_pauses.wait(timeout=10)  # the erasure holds the session's lock
        delivering, delivered = in_thread(partial(deliver_callback.call, delivery.pk))
        erasing.join(timeout=30)
        delivering.join(timeout=30)

    assert delivered == ["delivered"]
    assert len(erased) == 1 and erased[0].callback_payloads == 1
    delivery.refresh_from_db()
    assert delivery.status == CallbackDelivery.Status.DELIVERED
    assert json.loads(delivery.payload)["data"]["customerEmail"] is None
    assert personal_data_left(session) == []


def test_a_receipt_on_its_way_when_the_erasure_commits_is_recorded_without_the_address(
    org, erase, held_mail
):
    sending, release = held_mail
    session = customer_session(org)
    paying, paid = in_thread(
        partial(pay_checkout_session, session=session, card=VISA, context=CONTEXT)
    )
    assert sending.wait(timeout=10)  # paid and committed; its receipt is being sent

    erased = erase(ANN)
    release.set()
    paying.join(timeout=30)

    assert paid[0].kind == PaymentOutcomeKind.SUCCEEDED
    assert erased.sessions == 1
    assert [message.to for message in mail.outbox] == [[ANN]]  # it was on its way
    [receipt] = events(session, EventKind.RECEIPT_SENT)
    assert receipt.data["to"] == erasure.ERASED
    assert receipt.pk > events(session, EventKind.CUSTOMER_ERASED)[0].pk
    assert personal_data_left(session) == []


def test_a_receipt_resent_while_the_erasure_holds_the_session_is_recorded_without_the_address(
    org, erase, owner, erasure_pauses
):
    """The merchant clicks Resend receipt while the erasure runs: the receipt leaves (the task
    read the address first), and its record waits for the erasure's locks."""
    with CallbackReceiver() as receiver:
        session = customer_session(org, callback_url=receiver.url)
        paid = pay_checkout_session(session=session, card=VISA, context=CONTEXT).session
    erasing, erased = in_thread(partial(erase, ANN))
    assert erasure_pauses.wait(timeout=10)  # the timeline is scrubbed, the erasure not done

    services.resend_receipt(session=paid, actor=Actor.for_user(owner))
    erasing.join(timeout=30)

    assert erased[0].sessions == 1
    assert [message.to for message in mail.outbox] == [[ANN], [ANN]]
    resent = events(session, EventKind.RECEIPT_SENT)[-1]
    assert resent.data["to"] == erasure.ERASED
    assert personal_data_left(session) == []


def test_a_receipt_task_that_runs_after_the_erasure_sends_nothing_and_does_not_fail(org, erase):
    """A worker runs the receipt task the payment queued once the customer is erased (a queue
    that was behind, or a retry after a mail server's 4xx)."""
    session = customer_session(org)
    pay_checkout_session(session=session, card=VISA, context=CONTEXT)
    receipts_before = len(events(session, EventKind.RECEIPT_SENT))
    erase(ANN)
    mail.outbox.clear()

    result = send_receipt_task.enqueue(session.public_id)

    assert (result.status, result.return_value) == (TaskResultStatus.SUCCESSFUL, "no email")
    assert mail.outbox == []
    assert len(events(session, EventKind.RECEIPT_SENT)) == receipts_before
    assert events(session, EventKind.RECEIPT_FAILED) == []


# --- Erasure and the customer's details ---------------------------------------------------------


def test_details_typed_at_the_instant_of_erasure_are_erased_whole_or_kept_whole(org, erase):
    """Either the details commit first and the erasure takes all of them, or the erasure has
    looked first and the details are a new submission, kept whole: never some of each."""
    counts = {"kept": 0, "erased": 0}
    for repetition, delay in enumerate(ERASURE_DELAYS):
        email = f"ann.{repetition}@example.com"
        # The customer gave this email before (another session), so the erasure has work.
        customer_session(org, email)
        session = make_session(org=org, customer_email="", required_fields=ASKS_FOR_EVERYTHING)

        _, erased = together(
            partial(
                save_customer_details,
                session=session,
                details={"customer_email": email, **DETAILS},
                context=CONTEXT,
            ),
            after(delay / 4, partial(erase, email)),
        )

        session.refresh_from_db()
        stored = {field: getattr(session, field) for field in DETAILS}
        [details_event] = events(session, EventKind.DETAILS_PROVIDED)
        erased_events = events(session, EventKind.CUSTOMER_ERASED)
        if session.customer_email:
            counts["kept"] += 1
            assert (stored, str(session.ip_address)) == (DETAILS, IP)
            assert erased_events == [] and erased.sessions == 1
        else:
            counts["erased"] += 1
            assert set(stored.values()) == {""}
            assert (session.ip_address, session.user_agent) == (None, "")
            assert [event.pk > details_event.pk for event in erased_events] == [True]
            assert erased.sessions == 2
            assert personal_data_left(session, email) == []
    print("details typed at the instant of erasure:", counts)


def test_details_sent_again_during_the_erasure_of_the_session_are_erased_or_a_new_submission(
    org, erase
):
    """The customer sends their details again (a new address) while their session is erased:
    erased with the rest if saved first, else stored afresh after it, all of them."""
    outcomes = {"erased": 0, "saved after": 0}
    for repetition, delay in enumerate(ERASURE_DELAYS):
        email = f"ann.{repetition}@example.com"
        session = customer_session(org, email)
        moved = {**DETAILS, "shipping_line1": "2 Mission Street"}

        together(
            partial(
                save_customer_details,
                session=session,
                details={"customer_email": email, **moved},
                context=CONTEXT,
            ),
            after(delay / 4, partial(erase, email)),
        )

        session.refresh_from_db()
        stored = {field: getattr(session, field) for field in DETAILS}
        [erased_event] = events(session, EventKind.CUSTOMER_ERASED)
        if events(session, EventKind.DETAILS_PROVIDED)[-1].pk > erased_event.pk:
            outcomes["saved after"] += 1
            assert (session.customer_email, stored, str(session.ip_address)) == (email, moved, IP)
        else:
            outcomes["erased"] += 1
            assert session.customer_email == ""
            assert set(stored.values()) == {""}
            assert personal_data_left(session, email) == []
    print("details sent again during the erasure:", outcomes)


# --- Erasure and a recovery ---------------------------------------------------------------------


def test_a_recovery_made_while_the_erasure_waits_for_its_lock_is_erased_with_it(
    org, erase, owner, monkeypatch
):
    """The merchant recovers the customer's failed sale (a new session with their email)
    while their erasure runs: the erasure takes the new session too."""
    old = customer_session(org)
    CheckoutSession.objects.filter(pk=old.pk).update(failed_attempts=1)
    recovering, go_on = threading.Event(), threading.Event()
    real_create = services.create_checkout_session

    def held_create(**kwargs):
        recovering.set()  # the recovery holds the old session's locks now
        go_on.wait(timeout=30)
        return real_create(**kwargs)

    monkeypatch.setattr(services, "create_checkout_session", held_create)
    recovery_thread, recovered = in_thread(
        partial(services.recover_session, session=old, actor=Actor.for_user(owner), send_email=True)
    )
    assert recovering.wait(timeout=10)
    erasing, erased = in_thread(partial(erase, ANN))
    time.sleep(0.3)  # the erasure has looked for the customer's sessions and waits for one
    go_on.set()
    recovery_thread.join(timeout=30)
    erasing.join(timeout=30)

    [recovery], [erasure_done] = recovered, erased
    assert erasure_done.sessions == 2
    assert not CheckoutSession.objects.filter(customer_email=ANN).exists()
    for session in (old, recovery.session):
        assert len(events(session, EventKind.CUSTOMER_ERASED)) == 1
        assert personal_data_left(session) == []


def test_a_recovery_email_on_its_way_when_the_erasure_commits_is_recorded_without_the_address(
    org, erase, owner, held_mail
):
    sending, release = held_mail
    old = customer_session(org)
    CheckoutSession.objects.filter(pk=old.pk).update(failed_attempts=1)
    recovering, recovered = in_thread(
        partial(services.recover_session, session=old, actor=Actor.for_user(owner), send_email=True)
    )
    assert sending.wait(timeout=10)  # the recovery committed; its email is being sent

    erased = erase(ANN)
    release.set()
    recovering.join(timeout=30)

    assert erased.sessions == 2
    [sent] = events(old, EventKind.RECOVERY_SENT)
    assert sent.data["to"] == erasure.ERASED
    for session in (old, recovered[0].session):
        assert personal_data_left(session) == []


# --- Two erasures -------------------------------------------------------------------------------


def test_two_erasures_of_one_customer_at_once_erase_once_without_deadlock(org, erase):
    for repetition in range(REPETITIONS):
        email = f"ann.{repetition}@example.com"
        sessions = [customer_session(org, email) for _ in range(3)]
        pay_checkout_session(session=sessions[0], card=VISA, context=CONTEXT)

        first, second = together(partial(erase, email), partial(erase, email))

        assert sorted([first.sessions, second.sessions]) == [0, 3]
        for session in sessions:
            assert len(events(session, EventKind.CUSTOMER_ERASED)) == 1
            assert personal_data_left(session, email) == []
    assert AuditEntry.objects.filter(action=AuditEntry.Action.CUSTOMER_ERASED).count() == (
        REPETITIONS
    )
