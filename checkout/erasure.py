"""A customer's right to erasure: one customer's personal data leaves an org's sessions and
orders, on the merchant's request (the retention of every session's IP address and user agent
is ``checkout.upkeep.drop_old_customer_context``).

Erasure keeps the records a merchant must keep (amounts, items, statuses, order numbers, card
brand and last 4, the timeline's events) and takes out what names or locates the person: email,
phone, location, shipping address, IP address, user agent. The email becomes empty, as on a
session where none was given, so everything that needs one (receipts, recovery emails, the
customer portal) finds nothing to act on, and no placeholder address is ever mailed. Inside
JSON the app stored (timeline event data, callback payloads, the API's idempotent responses,
the session's metadata), a value equal to or containing one of those is replaced by
``[erased]`` (in the API's shapes, a value equal to the email becomes null, as for "no email").

The customer is the canonical email (``orgs.emails``), matched with ``=`` in both modes of the
org: a data subject's request is about the person, not a mode.

Beside other writers: the erasure takes the locks every writer of a session takes
(``checkout.locking``), so a payment or saved details under way commit first and are erased,
or come after it (a new submission, asked for an email again). A receipt or recovery email on
its way when the erasure commits may still arrive; its record on the timeline names nobody
(``record_email_to_customer``).
"""

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from checkout.actors import Actor
from checkout.choices import EventKind
from checkout.locking import lock_for_update
from checkout.models import (
    CallbackDelivery,
    CheckoutSession,
    IdempotencyRecord,
    Order,
    PaymentAttempt,
    TimelineEvent,
)
from checkout.timeline import record_event
from orgs.audit import record
from orgs.emails import canonical_email
from orgs.models import AuditEntry, Organization

ERASED = "[erased]"
# Session values that, found inside stored JSON, are taken out with the email. Shorter ones
# (a country code, a state) would match unrelated text and locate nobody on their own.
MIN_SCRUBBED_LENGTH = 5
PERSONAL_SESSION_FIELDS = {
    "customer_email": "",
    "customer_phone": "",
    "customer_country": "",
    "customer_postal_code": "",
    "shipping_name": "",
    "shipping_line1": "",
    "shipping_line2": "",
    "shipping_city": "",
    "shipping_state": "",
    "shipping_postal_code": "",
    "shipping_country": "",
    "ip_address": None,
    "user_agent": "",
}
# Values searched for inside JSON (see MIN_SCRUBBED_LENGTH).
SCRUBBED_IN_JSON = (
    "customer_email",
    "customer_phone",
    "shipping_name",
    "shipping_line1",
    "shipping_line2",
    "ip_address",
    "user_agent",
)


@dataclass(frozen=True)
class Erasure:
    """What an erasure changed: rows of each kind (0 everywhere: nothing matched)."""

    sessions: int = 0
    orders: int = 0
    events: int = 0
    callback_payloads: int = 0
    api_responses: int = 0

    @property
    def found(self) -> bool:
        return self.sessions > 0 or self.orders > 0


def customer_reference(org: Organization, email: str) -> str:
    """A short keyed hash naming the customer in the audit log, never the address itself:
    the same request for the same customer shows the same reference."""
    digest = hashlib.blake2b(
        email.encode(), key=settings.SECRET_KEY.encode()[:64], digest_size=6, person=b"erasure"
    )
    return f"customer {digest.hexdigest()} (org {org.pk})"


class _Scrubber:
    """Replaces a customer's values inside JSON-shaped data."""

    def __init__(self, values: set[str], *, whole_value: Any) -> None:
        needles = sorted(
            (value for value in values if len(value) >= MIN_SCRUBBED_LENGTH), key=len, reverse=True
        )
        self.whole = {needle.casefold() for needle in needles}
        self.pattern = (
            re.compile("|".join(re.escape(needle) for needle in needles), re.IGNORECASE)
            if needles
            else None
        )
        self.whole_value = whole_value

    def scrub(self, value: Any) -> Any:
        if self.pattern is None:
            return value
        if isinstance(value, str):
            if value.casefold() in self.whole:
                return self.whole_value
            return self.pattern.sub(ERASED, value)
        if isinstance(value, dict):
            return {key: self.scrub(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.scrub(item) for item in value]
        return value

    def mentions(self, text: str) -> bool:
        return self.pattern is not None and self.pattern.search(text) is not None


def _scrub_json_text(text: str, scrubber: _Scrubber) -> str | None:
    """The JSON ``text`` scrubbed, or None when nothing in it changes (or it isn't JSON)."""
    if not scrubber.mentions(text):
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return scrubber.pattern.sub(ERASED, text)
    scrubbed = scrubber.scrub(parsed)
    if scrubbed == parsed:
        return None
    return json.dumps(scrubbed, separators=(",", ":"), ensure_ascii=False)


# How many times an erasure looks for the customer's sessions and locks them: when a writer it
# waited for gave another session their email (a recovery copying it, details typed meanwhile),
# it starts over, so that every lock is still taken in order. The last round erases what it
# locked: a writer that keeps adding sessions of the customer comes after the erasure.
MAX_ROUNDS = 3


class _CustomerGainedSessions(Exception):
    """Under the locks, the customer has sessions the erasure did not lock: start over."""


def erase_customer(*, org: Organization, email: str, actor: Actor) -> Erasure:
    """Erase the personal data of the customer with ``email`` from ``org``'s sessions and
    orders (both modes), in one transaction; record ``customer_erased`` on each session and
    one audit entry. Raises ValidationError for an address that is not one. Idempotent: a
    second run finds nothing (the email is gone) and records nothing."""
    email = canonical_email(email)
    for _round in range(MAX_ROUNDS - 1):
        try:
            with transaction.atomic():
                return _erase_locked(org=org, email=email, actor=actor, last_round=False)
        except _CustomerGainedSessions:
            continue
    with transaction.atomic():
        return _erase_locked(org=org, email=email, actor=actor, last_round=True)


def _erase_locked(*, org: Organization, email: str, actor: Actor, last_round: bool) -> Erasure:
    """One round of ``erase_customer``, inside its transaction."""
    candidates = CheckoutSession.objects.filter(org=org).filter(
        Q(customer_email=email) | Q(order__customer_email=email)
    )
    matched = list(candidates.values_list("pk", "order_id"))
    if not matched:
        return Erasure()
    # The order locks every session writer takes (``checkout.locking``): orders, then
    # sessions, each in primary-key order, so a payment under way is waited for, never
    # deadlocked with. Sessions FOR NO KEY UPDATE, the lock this transaction's UPDATEs take
    # anyway: it still waits for and excludes every writer of the session, but not the rows
    # that only refer to it (a callback recording its attempt holds its delivery's row, which
    # is scrubbed below, while it writes its event: FOR UPDATE would deadlock with it).
    orders = list(
        Order.objects.select_for_update()
        .filter(pk__in=[order_id for _pk, order_id in matched])
        .order_by("pk")
        .only("pk", "customer_email")
    )
    sessions = list(
        CheckoutSession.objects.select_for_update(no_key=True)
        .filter(pk__in=[pk for pk, _order_id in matched])
        .order_by("pk")
    )
    # Matched again under the locks: a writer waited for may have changed these sessions, or
    # (a recovery, saved details) given the customer's email to a session not locked here.
    if not last_round and not set(candidates.values_list("pk", flat=True)) <= {
        session.pk for session in sessions
    }:
        raise _CustomerGainedSessions
    orders_by_pk = {order.pk: order for order in orders}
    sessions = [
        session
        for session in sessions
        if email in (session.customer_email, orders_by_pk[session.order_id].customer_email)
    ]
    if not sessions:
        return Erasure()
    values = {email}
    for session in sessions:
        values |= {str(getattr(session, field) or "") for field in SCRUBBED_IN_JSON}
    in_events = _Scrubber(values, whole_value=ERASED)
    # The API's shapes say "no email" with null.
    in_api_json = _Scrubber(values, whole_value=None)

    ids = [session.pk for session in sessions]
    order_ids = [session.order_id for session in sessions]
    CheckoutSession.objects.filter(pk__in=ids).update(**PERSONAL_SESSION_FIELDS)
    # With its email gone, an open session's customer types one again to pay.
    CheckoutSession.objects.filter(pk__in=ids, customer_email_fixed=True).update(
        customer_email_fixed=False
    )
    for session in sessions:
        metadata = in_events.scrub(session.metadata)
        if metadata != session.metadata:
            CheckoutSession.objects.filter(pk=session.pk).update(metadata=metadata)
    orders_erased = Order.objects.filter(pk__in=order_ids, customer_email=email).update(
        customer_email=""
    )
    # The abuse limits' day-old counts keep counting, without the client's address.
    PaymentAttempt.objects.filter(session_id__in=ids).exclude(ip_key="").update(ip_key="")

    events = 0
    for event in TimelineEvent.objects.filter(session_id__in=ids).only("pk", "data"):
        data = in_events.scrub(event.data)
        if data != event.data:
            TimelineEvent.objects.filter(pk=event.pk).update(data=data)
            events += 1
    payloads = 0
    for delivery in CallbackDelivery.objects.filter(session_id__in=ids).only("pk", "payload"):
        if (payload := _scrub_json_text(delivery.payload, in_api_json)) is not None:
            CallbackDelivery.objects.filter(pk=delivery.pk).update(payload=payload)
            payloads += 1
    responses = 0
    # The API's replayable responses (kept a day) of this org that name the customer.
    escaped = json.dumps(email, ensure_ascii=False)[1:-1]
    for response in IdempotencyRecord.objects.filter(
        org=org, response_body__icontains=escaped
    ).only("pk", "response_body"):
        if (body := _scrub_json_text(response.response_body, in_api_json)) is not None:
            IdempotencyRecord.objects.filter(pk=response.pk).update(response_body=body)
            responses += 1

    for session in sessions:
        record_event(
            session=session,
            kind=EventKind.CUSTOMER_ERASED,
            actor=actor,
            data={"fields": sorted(PERSONAL_SESSION_FIELDS)},
        )
    erasure = Erasure(
        sessions=len(sessions),
        orders=orders_erased,
        events=events,
        callback_payloads=payloads,
        api_responses=responses,
    )
    record(
        org=org,
        user=actor.user,
        action=AuditEntry.Action.CUSTOMER_ERASED,
        target=customer_reference(org, email),
        changes={"sessions": erasure.sessions, "orders": erasure.orders},
    )
    return erasure


def record_email_to_customer(
    *, session: CheckoutSession, kind: str, actor: Actor, to: str, data: Mapping
) -> TimelineEvent:
    """Record on ``session``'s timeline what became of an email to its customer ``to`` (a
    receipt, a recovery email: sent or failed), its ``data`` naming ``to``.

    The email went out holding no lock (a slow mail server must not hold the session), so the
    customer may have been erased meanwhile, after their events were scrubbed. Recorded under
    the session's locks, which the erasure takes too: it either waits and then scrubs this
    event with the others, or has committed, and then ``to`` is taken out of ``data`` here."""
    with transaction.atomic():
        locked = lock_for_update(session)
        if to not in (locked.customer_email, locked.order.customer_email):
            data = _Scrubber({to}, whole_value=ERASED).scrub(dict(data))
        return record_event(session=locked, kind=kind, actor=actor, data=data)
