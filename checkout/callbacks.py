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
from checkout.choices import CallbackEvent, EventKind
from checkout.effective_settings import effective_settings
from checkout.models import CallbackDelivery, CheckoutSession, TimelineEvent
from checkout.session_json import format_timestamp, session_object
from checkout.task_queue import backend_can_defer, enqueue_with_transaction
from checkout.timeline import event_recorded, record_event
from orgs.callback_urls import UnsafeCallbackUrl, host_and_port, resolve_callback_address
from orgs.ids import new_public_id
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
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        self._sock.settimeout(_remaining(self._deadline))
        return self._sock.recv_into(buffer)


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


def _post(*, url: str, address: str, body: bytes, headers: dict[str, str], deadline: float) -> int:
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
        # Only the status line and headers are read, never the body: we close right after.
        connection.request("POST", _request_target(url), body=body, headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


def post_callback(delivery: CallbackDelivery, *, secrets: Sequence[str]) -> DeliveryOutcome:
    """One POST of ``delivery``'s payload signed with each of ``secrets``; failures are
    returned, never raised.

    Connect, TLS, sending and the response's status line share one deadline,
    ``CALLBACK_TIMEOUT_SECONDS`` after the attempt started (a DNS lookup in progress cannot be
    interrupted; the system resolver bounds it with its own timeouts).
    """
    started = time.monotonic()
    timeout = settings.CALLBACK_TIMEOUT_SECONDS

    def outcome(status_code: int | None = None, error: str = "") -> DeliveryOutcome:
        duration_ms = round((time.monotonic() - started) * 1000)
        return DeliveryOutcome(status_code, duration_ms, error[:MAX_ERROR_LENGTH])

    try:
        address = resolve_callback_address(delivery.url)
    except UnsafeCallbackUrl as error:
        return outcome(error=str(error))
    except OSError as error:
        return outcome(error=f"DNS lookup failed: {error}")
    headers = signed_headers(
        secrets=secrets,
        message_id=delivery.public_id,
        timestamp=int(time.time()),
        body=delivery.payload,
    )
    try:
        status_code = _post(
            url=delivery.url,
            address=address,
            body=delivery.payload.encode(),
            headers=headers,
            deadline=started + timeout,
        )
    except TimeoutError:
        return outcome(error=f"Timed out: no response within {timeout:g} s.")
    except (OSError, http.client.HTTPException) as error:
        return outcome(error=f"{type(error).__name__}: {error}" if str(error) else repr(error))
    if not 200 <= status_code < 300:
        return outcome(status_code, f"HTTP {status_code}")
    return outcome(status_code)


# --- The delivery task ----------------------------------------------------------------------


def enqueue_delivery(delivery_pk: int, *, run_after: datetime | None = None) -> None:
    """Start (or retry, at ``run_after``) the delivery of one callback."""
    if run_after is not None and backend_can_defer():
        deliver_callback.using(run_after=run_after).enqueue(delivery_pk)
    else:
        deliver_callback.enqueue(delivery_pk)


def _retry_delay(attempts: int) -> int | None:
    """Seconds before the next try after ``attempts`` failed ones, or None to give up."""
    schedule = settings.CALLBACK_RETRY_SCHEDULE
    if attempts > len(schedule) or not backend_can_defer():
        return None
    return schedule[attempts - 1]


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
