"""Signed callbacks to merchants' servers, the Standard Webhooks way.

Which callbacks an event asks for is one table, ``CALLBACKS_FOR_EVENT`` (the timeline is the
audit log: ``payment_succeeded`` → ``checkout.session.completed`` …); when the timeline
records such an event, ``request_callbacks`` writes a ``CallbackDelivery`` row (the outbox)
holding the exact JSON body, frozen when the event happened, in the event's transaction. The
``deliver_callback`` task POSTs it, re-signing each attempt, and retries on failure:

    webhook-id:        the delivery's public id, the same on every retry (receivers dedupe on it)
    webhook-timestamp: seconds since the epoch, of this attempt
    webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body" with the org's secret>

The secret is ``whsec_<base64 key>``; the HMAC key is the decoded part after ``whsec_``. Each
org has one secret per mode (``orgs.CallbackSecret``): a test-mode event never verifies with
the live secret. For 24 h after a rotation, events carry one signature per valid secret,
space-separated (``v1,<new> v1,<old>``), as Standard Webhooks allows.
Callback URLs follow ``orgs.callback_urls`` (the SSRF guard), checked when a URL is given and
again at each delivery, which connects to the address that was checked.

The dashboard's Checkout settings use two services here: ``send_test_callback`` (a signed
``callback.test`` POSTed in the request, its answer shown) and ``redeliver_callback`` (a pending
or failed delivery sent again now by ``deliver_callback``, same ``webhook-id``).

Task backends (``TASKS_BACKEND``, see README "Background tasks"): with ``database`` retries
wait ``CALLBACK_RETRY_SCHEDULE[n]`` seconds (``run_after``); the ``immediate`` backend (tests)
cannot defer, so a callback gets its first attempt only, which the timeline says.
"""

import base64
import hashlib
import hmac
import http.client
import io
import json
import logging
import select
import socket
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from urllib.parse import quote, urlsplit

from django.conf import settings
from django.db import transaction
from django.dispatch import receiver
from django.tasks import task
from django.utils import timezone

from checkout.actors import Actor
from checkout.choices import CallbackEvent, EventKind, PaymentStatus, SessionStatus
from checkout.effective_settings import effective_settings, resolve_settings
from checkout.models import CallbackDelivery, CheckoutSession, TimelineEvent
from checkout.session_json import (
    CheckoutSessionObject,
    LineItemObject,
    OrderObject,
    RequiredFieldsObject,
    format_timestamp,
    session_object,
)
from checkout.task_queue import backend_can_defer, enqueue_with_transaction, retry_delay
from checkout.timeline import event_recorded, record_event
from orgs.audit import record
from orgs.callback_urls import UnsafeCallbackUrl, host_and_port, resolve_callback_address
from orgs.ids import RANDOM_PART_LENGTH, new_public_id
from orgs.models import AuditEntry, Organization
from orgs.services import callback_signing_secrets

logger = logging.getLogger(__name__)


# The callbacks each kind of timeline event asks for (the only place that decides it).
CALLBACKS_FOR_EVENT: dict[str, str] = {
    EventKind.PAYMENT_SUCCEEDED: CallbackEvent.COMPLETED,
    EventKind.PAYMENT_FAILED: CallbackEvent.PAYMENT_FAILED,
    # A card-testing limit refused a payment: once per session (checkout.card_testing), under
    # Stripe's name, so a merchant's handler for failed payments needs no change.
    EventKind.PAYMENT_BLOCKED: CallbackEvent.PAYMENT_FAILED,
    EventKind.SESSION_EXPIRED: CallbackEvent.EXPIRED,
}

USER_AGENT = "hosted-checkout-callbacks/1"
MAX_ERROR_LENGTH = 500


# --- Signing --------------------------------------------------------------------------------


def signing_key(secret: str) -> bytes:
    """The HMAC key inside a ``whsec_…`` secret."""
    return base64.b64decode(secret.removeprefix("whsec_"))


def sign(*, secret: str, message_id: str, timestamp: int, body: str) -> str:
    """The ``webhook-signature`` header value: ``v1,<base64 HMAC-SHA256>``."""
    signed_content = f"{message_id}.{timestamp}.{body}".encode()
    digest = hmac.new(signing_key(secret), signed_content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(
    *, secrets: Sequence[str], message_id: str, timestamp: int, body: str
) -> dict[str, str]:
    """Every header of one delivery attempt, with a signature per secret (space-separated)."""
    if not secrets:
        raise ValueError("A callback needs at least one signing secret.")
    signatures = [
        sign(secret=secret, message_id=message_id, timestamp=timestamp, body=body)
        for secret in secrets
    ]
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signatures),
    }


# --- Enqueueing -----------------------------------------------------------------------------


def build_payload(*, session: CheckoutSession, event_type: str) -> str:
    """The callback body: ``{"type", "timestamp", "data": <the API's session object>}``."""
    return json.dumps(
        {
            "type": event_type,
            "timestamp": format_timestamp(timezone.now()),
            "data": session_object(session).to_json_dict(),
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


def enqueue_session_callback(
    *, session: CheckoutSession, event_type: str
) -> CallbackDelivery | None:
    """Queue ``event_type`` for the session's effective callback URL (call inside the
    transaction that changed the session; the delivery task commits with it)."""
    if event_type not in CallbackEvent.values:
        raise ValueError(f"Unknown callback event {event_type!r}.")
    # Re-read inside the caller's transaction: the payload shows the state being committed.
    current = CheckoutSession.objects.with_status().with_details().get(pk=session.pk)
    url = effective_settings(current).callback_url
    if not url:
        return None
    delivery = CallbackDelivery.objects.create(
        public_id=new_public_id("msg"),
        session=current,
        org_id=current.org_id,
        mode=current.mode,
        event_type=event_type,
        url=url,
        payload=build_payload(session=current, event_type=event_type),
        next_attempt_at=timezone.now(),
    )
    # A broken queue must never fail the customer's payment: the row then stays pending.
    enqueue_with_transaction(partial(enqueue_delivery, delivery.pk))
    return delivery


@receiver(event_recorded, dispatch_uid="checkout.callbacks.request_callbacks")
def request_callbacks(sender, *, event: TimelineEvent, **kwargs) -> None:
    """Queue the callback the event's kind asks for (in the event's own transaction)."""
    if event_type := CALLBACKS_FOR_EVENT.get(event.kind):
        enqueue_session_callback(session=event.session, event_type=event_type)


# --- Delivery -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryOutcome:
    status_code: int | None
    duration_ms: int
    error: str = ""
    # The start of the response body, read only when asked for (the test callback shows it).
    body_excerpt: str = ""

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class DeadlineExceeded(TimeoutError):
    """The attempt ran out of its total time (``CALLBACK_TIMEOUT_SECONDS``)."""


def _remaining(deadline: float) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise DeadlineExceeded("deadline reached")
    return remaining


class _DeadlineReader(io.RawIOBase):
    """Socket reads that share one deadline: a receiver sending a byte now and then cannot
    stretch an attempt past it (a socket timeout alone restarts at every byte)."""

    def __init__(self, sock: socket.socket, deadline: float):
        super().__init__()
        self._sock = sock
        # A socket file (as http.client's own reader) keeps the socket open while the body is
        # read: the connection closes its socket as soon as the response says it will close.
        self._file = sock.makefile("rb", buffering=0)
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        self._sock.settimeout(_remaining(self._deadline))
        return self._file.readinto(buffer)

    def close(self) -> None:
        self._file.close()
        super().close()


class _DeadlineResponse(http.client.HTTPResponse):
    def __init__(self, sock: socket.socket, *args, deadline: float, **kwargs):
        super().__init__(sock, *args, **kwargs)
        self.fp.close()
        self.fp = io.BufferedReader(_DeadlineReader(sock, deadline))


class _CallbackConnection(http.client.HTTPConnection):
    """One POST to the address the SSRF guard checked (not to whatever DNS answers next),
    with connect, TLS handshake, sending and the status line all within one deadline."""

    def __init__(
        self, host: str, port: int, *, address: str, deadline: float, tls: ssl.SSLContext | None
    ):
        super().__init__(host, port)
        self._address = address
        self._deadline = deadline
        self._tls = tls
        self.default_port = 443 if tls else 80  # the Host header names only other ports
        self.response_class = partial(_DeadlineResponse, deadline=deadline)

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), _remaining(self._deadline))
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls is not None:
                sock = self._handshake(sock)
        except BaseException:
            sock.close()
            raise
        self.sock = sock

    def _handshake(self, sock: socket.socket) -> ssl.SSLSocket:
        tls_sock = self._tls.wrap_socket(
            sock, server_hostname=self.host, do_handshake_on_connect=False
        )
        # Non-blocking, so that a handshake dribbled out byte by byte also meets the deadline.
        tls_sock.setblocking(False)
        while True:
            try:
                tls_sock.do_handshake()
                break
            except ssl.SSLWantReadError:
                ready = select.select([tls_sock], [], [], _remaining(self._deadline))[0]
            except ssl.SSLWantWriteError:
                ready = select.select([], [tls_sock], [], _remaining(self._deadline))[1]
            if not ready:
                raise DeadlineExceeded("deadline reached during the TLS handshake")
        tls_sock.setblocking(True)
        return tls_sock

    def send(self, data) -> None:
        if self.sock is None:
            self.connect()
        # sendall's timeout bounds the whole call, so the remaining time bounds every send.
        self.sock.settimeout(_remaining(self._deadline))
        super().send(data)


def _request_target(url: str) -> str:
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    # The request line is ASCII: percent-encode anything else, keeping existing escapes.
    return quote(target, safe="/?&=:;@!$'()*+,-._~%")


def _read_excerpt(response: http.client.HTTPResponse, limit: int) -> bytes:
    """Up to ``limit`` bytes of the body, whatever arrives before the attempt's deadline."""
    excerpt = b""
    try:
        while len(excerpt) < limit:
            # read1 returns what one read brings: a body without a length that never ends
            # still gives its first bytes (read(n) would wait for all n of them).
            chunk = response.read1(limit - len(excerpt))
            if not chunk:
                break
            excerpt += chunk
    except (OSError, http.client.HTTPException):
        pass  # the status line came, which is the outcome; keep what the body gave
    return excerpt


def _post(
    *,
    url: str,
    address: str,
    body: bytes,
    headers: dict[str, str],
    deadline: float,
    read_body: int = 0,
) -> tuple[int, bytes]:
    scheme, host, port = host_and_port(url)
    connection = _CallbackConnection(
        host,
        port,
        address=address,
        deadline=deadline,
        tls=ssl.create_default_context() if scheme == "https" else None,
    )
    try:
        # No redirects are followed: a redirect could point anywhere, past the SSRF guard.
        # Only the status line and headers are read, and ``read_body`` bytes of the body
        # (none for real deliveries): we close right after.
        connection.request("POST", _request_target(url), body=body, headers=headers)
        response = connection.getresponse()
        try:
            return response.status, _read_excerpt(response, read_body) if read_body else b""
        finally:
            response.close()
    finally:
        connection.close()


def post_signed(
    *,
    url: str,
    message_id: str,
    body: str,
    secrets: Sequence[str],
    timeout: float,
    read_body: int = 0,
) -> DeliveryOutcome:
    """One signed POST of ``body`` to ``url`` (``webhook-id`` ``message_id``), after the SSRF
    check, to the address checked; failures are returned, never raised.

    Connect, TLS, sending and the response's status line (and the first ``read_body`` bytes
    of its body) share one deadline, ``timeout`` seconds after the attempt started (a DNS
    lookup in progress cannot be interrupted; the system resolver bounds it with its own
    timeouts).
    """
    started = time.monotonic()

    def outcome(status_code: int | None = None, error: str = "", excerpt=b"") -> DeliveryOutcome:
        duration_ms = round((time.monotonic() - started) * 1000)
        return DeliveryOutcome(
            status_code,
            duration_ms,
            error[:MAX_ERROR_LENGTH],
            body_excerpt=excerpt.decode(errors="replace"),
        )

    try:
        address = resolve_callback_address(url)
    except UnsafeCallbackUrl as error:
        return outcome(error=str(error))
    except OSError as error:
        return outcome(error=f"DNS lookup failed: {error}")
    headers = signed_headers(
        secrets=secrets, message_id=message_id, timestamp=int(time.time()), body=body
    )
    try:
        status_code, excerpt = _post(
            url=url,
            address=address,
            body=body.encode(),
            headers=headers,
            deadline=started + timeout,
            read_body=read_body,
        )
    except TimeoutError:
        return outcome(error=f"Timed out: no response within {timeout:g} s.")
    except (OSError, http.client.HTTPException) as error:
        return outcome(error=f"{type(error).__name__}: {error}" if str(error) else repr(error))
    if not 200 <= status_code < 300:
        return outcome(status_code, f"HTTP {status_code}", excerpt)
    return outcome(status_code, excerpt=excerpt)


def post_callback(delivery: CallbackDelivery, *, secrets: Sequence[str]) -> DeliveryOutcome:
    """One POST of ``delivery``'s payload signed with each of ``secrets``, within
    ``CALLBACK_TIMEOUT_SECONDS``; failures are returned, never raised."""
    return post_signed(
        url=delivery.url,
        message_id=delivery.public_id,
        body=delivery.payload,
        secrets=secrets,
        timeout=settings.CALLBACK_TIMEOUT_SECONDS,
    )


# --- The delivery task ----------------------------------------------------------------------


def enqueue_delivery(delivery_pk: int, *, run_after: datetime | None = None) -> None:
    """Start (or retry, at ``run_after``) the delivery of one callback."""
    if run_after is not None and backend_can_defer():
        deliver_callback.using(run_after=run_after).enqueue(delivery_pk)
    else:
        deliver_callback.enqueue(delivery_pk)


def _retry_delay(attempts: int) -> int | None:
    """Seconds before the next try after ``attempts`` failed ones, or None to give up."""
    return retry_delay(settings.CALLBACK_RETRY_SCHEDULE, failed_attempts=attempts)


@task
def deliver_callback(delivery_pk: int) -> str:
    """Make one delivery attempt, record it on the session's timeline, schedule a retry."""
    delivery = (
        CallbackDelivery.objects.select_related("session__org").filter(pk=delivery_pk).first()
    )
    if delivery is None or delivery.status != CallbackDelivery.Status.PENDING:
        return "skipped"
    if delivery.next_attempt_at is not None and delivery.next_attempt_at > timezone.now():
        # This task's attempt was made and recorded, and the next one is scheduled: the task is
        # run again because its worker died before marking it finished (checkout.task_recovery).
        return "not due"
    # No transaction is open during the request: a slow merchant must not hold database locks.
    started = time.monotonic()
    try:
        # The session's mode picks the secret: a test payment must not be verifiable as live.
        secrets = callback_signing_secrets(org=delivery.session.org, mode=delivery.session.mode)
        outcome = post_callback(delivery, secrets=secrets)
    except Exception as error:  # noqa: BLE001 - recorded below as a failed attempt, and logged
        # post_callback returns the failures it expects; anything else (a bug, a library
        # raising something new) must still count as a failed attempt with a retry, or the
        # delivery would stay pending forever with nothing on the timeline.
        logger.exception("Callback delivery %s failed unexpectedly", delivery.public_id)
        outcome = DeliveryOutcome(
            status_code=None,
            duration_ms=round((time.monotonic() - started) * 1000),
            error=f"Unexpected error: {type(error).__name__}: {error}"[:MAX_ERROR_LENGTH],
        )
    attempt = delivery.attempts + 1
    now = timezone.now()
    delay = None if outcome.delivered else _retry_delay(attempt)
    if outcome.delivered:
        status = CallbackDelivery.Status.DELIVERED
    elif delay is None:
        status = CallbackDelivery.Status.FAILED
    else:
        status = CallbackDelivery.Status.PENDING
    next_attempt_at = now + timedelta(seconds=delay) if delay is not None else None

    with transaction.atomic():
        # Only if no other run recorded this attempt meanwhile (a task run again while its first
        # worker, not dead but slow, was still at it): one attempt, one timeline event.
        recorded = CallbackDelivery.objects.filter(
            pk=delivery.pk, status=CallbackDelivery.Status.PENDING, attempts=delivery.attempts
        ).update(
            attempts=attempt,
            status=status,
            last_status_code=outcome.status_code,
            last_error=outcome.error,
            next_attempt_at=next_attempt_at,
            delivered_at=now if outcome.delivered else None,
        )
        if not recorded:
            return "superseded"
        record_event(
            session=delivery.session,
            kind=EventKind.CALLBACK_DELIVERED if outcome.delivered else EventKind.CALLBACK_FAILED,
            actor=Actor.system(),
            data={
                "delivery": delivery.public_id,
                "event_type": delivery.event_type,
                "url": delivery.url,
                "attempt": attempt,
                "status_code": outcome.status_code,
                "duration_ms": outcome.duration_ms,
                "error": outcome.error,
                "next_attempt_at": next_attempt_at.isoformat() if next_attempt_at else None,
                **(
                    {"retries": "need TASKS_BACKEND=database"}
                    if not outcome.delivered and not backend_can_defer()
                    else {}
                ),
            },
        )
        if next_attempt_at is not None:
            # Committed with the attempt: a worker dying right after cannot lose the retry.
            enqueue_with_transaction(
                partial(enqueue_delivery, delivery.pk, run_after=next_attempt_at)
            )
    return status


# --- From the dashboard: a test callback, a redelivery ----------------------------------------

# A type of its own, never one of the three real events: a handler that acts on
# checkout.session.completed must not ship anything for it (live mode included), and Standard
# Webhooks handlers answer 2xx to types they don't know.
TEST_CALLBACK_TYPE = "callback.test"
# Sent while the merchant waits for the page: shorter than a delivery's timeout.
TEST_CALLBACK_TIMEOUT_SECONDS = 5
# What the page shows of the answer (Stripe's CLI shows the status and the body).
TEST_CALLBACK_BODY_EXCERPT = 500
EXAMPLE_ID_PART = "ExampleTestCallback".ljust(RANDOM_PART_LENGTH, "0")


class NoCallbackUrl(ValueError):
    """The org has no callback URL to send a test callback to."""


class RedeliveryRefused(ValueError):
    """The delivery was delivered already: there is nothing to send again."""


@dataclass(frozen=True)
class SentTestCallback:
    """What a test callback did: the request made and the answer (or the error)."""

    url: str
    webhook_id: str
    event_type: str
    mode: str
    status_code: int | None
    duration_ms: int
    body_excerpt: str
    error: str

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def build_test_callback_payload(*, org: Organization, mode: str, now: datetime) -> str:
    """A Standard Webhooks body of type ``callback.test`` whose ``data`` is an example session
    object (the shape real callbacks carry) with example ids and ``metadata.test_callback``."""
    effective = resolve_settings(org=org)
    amount = 7500
    example = CheckoutSessionObject(
        id=f"cs_{mode}_{EXAMPLE_ID_PART}",
        mode=mode,
        url=f"{settings.SITE_URL}/checkout/cs_{mode}_{EXAMPLE_ID_PART}",
        status=SessionStatus.SUCCEEDED,
        active=False,
        created_at=now - timedelta(minutes=5),
        expires_at=now + timedelta(minutes=55),
        failed_attempts=0,
        customer_email="jenny.rosen@example.com",
        currency=effective.currency,
        success_url=effective.success_url or None,
        callback_url=effective.callback_url or None,
        required_fields=RequiredFieldsObject(
            phone=effective.required_fields.phone,
            location=effective.required_fields.location,
            shipping_address=effective.required_fields.shipping_address,
        ),
        payment_link_id=None,
        metadata={"test_callback": "true"},
        order=OrderObject(
            id=f"ord_{EXAMPLE_ID_PART}",
            number=0,
            payment_status=PaymentStatus.PAID,
            currency=effective.currency,
            amount_total=amount,
            items=[
                LineItemObject(name="Example item", quantity=1, unit_price=amount, amount=amount)
            ],
            paid_at=now,
        ),
    )
    return json.dumps(
        {
            "type": TEST_CALLBACK_TYPE,
            "timestamp": format_timestamp(now),
            "data": example.to_json_dict(),
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


def send_test_callback(*, org: Organization, mode: str, user) -> SentTestCallback:
    """POST a signed ``callback.test`` to the org's callback URL now, in this request, and
    return the answer; audited (``TEST_CALLBACK_SENT``). Raises NoCallbackUrl."""
    url = resolve_settings(org=org).callback_url
    if not url:
        raise NoCallbackUrl("Set a callback URL first: the test callback is sent there.")
    webhook_id = new_public_id("msg")
    outcome = post_signed(
        url=url,
        message_id=webhook_id,
        body=build_test_callback_payload(org=org, mode=mode, now=timezone.now()),
        # The mode's secrets, as a real callback of this mode is signed.
        secrets=callback_signing_secrets(org=org, mode=mode),
        timeout=min(TEST_CALLBACK_TIMEOUT_SECONDS, settings.CALLBACK_TIMEOUT_SECONDS),
        read_body=TEST_CALLBACK_BODY_EXCERPT * 4,  # bytes: up to 4 per character
    )
    sent = SentTestCallback(
        url=url,
        webhook_id=webhook_id,
        event_type=TEST_CALLBACK_TYPE,
        mode=mode,
        status_code=outcome.status_code,
        duration_ms=outcome.duration_ms,
        body_excerpt=outcome.body_excerpt[:TEST_CALLBACK_BODY_EXCERPT],
        error=outcome.error,
    )
    record(
        org=org,
        user=user,
        action=AuditEntry.Action.TEST_CALLBACK_SENT,
        target=url,
        mode=mode,
        changes={
            "webhook_id": webhook_id,
            "status_code": sent.status_code,
            "duration_ms": sent.duration_ms,
            "error": sent.error,
        },
    )
    return sent


def redeliver_callback(*, delivery: CallbackDelivery, user) -> CallbackDelivery:
    """Send a pending or failed delivery again now, with the same ``webhook-id`` and body
    (re-signed, as every attempt is); audited (``CALLBACK_REDELIVERED``).

    The attempt is made by ``deliver_callback`` as any other and counts once: a delivery that
    had given up gets one more try (failing again, it stays failed), a pending one gets its
    next try now and then follows its retry schedule. Raises RedeliveryRefused once delivered.
    """
    with transaction.atomic():
        locked = (
            CallbackDelivery.objects.select_for_update(of=("self",))
            .select_related("org")
            .get(pk=delivery.pk)
        )
        if not locked.can_be_redelivered:
            raise RedeliveryRefused("This callback was delivered already.")
        previous_status = locked.status
        locked.status = CallbackDelivery.Status.PENDING
        locked.next_attempt_at = timezone.now()
        locked.save(update_fields=["status", "next_attempt_at"])
        record(
            org=locked.org,
            user=user,
            action=AuditEntry.Action.CALLBACK_REDELIVERED,
            target=locked.public_id,
            mode=locked.mode,
            changes={"status": [previous_status, locked.status], "event_type": locked.event_type},
        )
        enqueue_with_transaction(partial(enqueue_delivery, locked.pk))
    return locked
