"""Signed callbacks to merchants' servers, the Standard Webhooks way.

A callback is a ``CallbackDelivery`` row (the outbox) holding the exact JSON body, frozen when
the event happened; background tasks (``checkout.tasks``) POST it, re-signing each attempt:

    webhook-id:        the delivery's public id, the same on every retry (receivers dedupe on it)
    webhook-timestamp: seconds since the epoch, of this attempt
    webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body" with the org's secret>

The secret is ``whsec_<base64 key>``; the HMAC key is the decoded part after ``whsec_``. Each
org has one secret per mode (``orgs.CallbackSecret``): a test-mode event never verifies with
the live secret. For 24 h after a rotation, events carry one signature per valid secret,
space-separated (``v1,<new> v1,<old>``), as Standard Webhooks allows.
Callback URLs must be http(s), and hosts resolving to loopback, private, link-local or other
non-public addresses (``checkout.public_addresses``: IANA's special-purpose registries) are
refused unless ``CALLBACK_ALLOW_PRIVATE`` (SSRF guard), both when a URL is given and again at
delivery, connecting to the address that was checked.
"""

import base64
import hashlib
import hmac
import http.client
import io
import json
import select
import socket
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from urllib.parse import quote, urlsplit

from django.conf import settings
from django.utils import timezone

from checkout.api.schemas import format_timestamp, session_object
from checkout.effective_settings import effective_settings
from checkout.models import CallbackDelivery, CheckoutSession
from checkout.public_addresses import is_public_address
from checkout.task_queue import enqueue_with_transaction
from orgs.ids import new_public_id
from orgs.text import sentence_end


class CallbackEvent:
    COMPLETED = "checkout.session.completed"
    PAYMENT_FAILED = "checkout.session.payment_failed"
    EXPIRED = "checkout.session.expired"

    ALL = frozenset({COMPLETED, PAYMENT_FAILED, EXPIRED})


USER_AGENT = "hosted-checkout-callbacks/1"
MAX_ERROR_LENGTH = 500


class UnsafeCallbackUrl(ValueError):
    """The URL is not http(s), or its host resolves to an address we must not call."""


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


# --- SSRF guard -----------------------------------------------------------------------------


def _host_and_port(url: str) -> tuple[str, str, int]:
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise UnsafeCallbackUrl(sentence_end(f"Invalid callback URL: {error}")) from None
    if parts.scheme not in {"http", "https"} or not host:
        raise UnsafeCallbackUrl("Callback URLs must be http:// or https:// URLs with a host.")
    try:
        # What getaddrinfo would do: a label over 63 bytes (after punycode) fails here.
        host.encode("idna")
    except UnicodeError:
        raise UnsafeCallbackUrl(f"Invalid host name in callback URL: {host!r}.") from None
    return parts.scheme, host, port


def resolve_callback_address(url: str) -> str:
    """The address to connect to for ``url``; raises UnsafeCallbackUrl (or OSError on DNS)."""
    _scheme, host, port = _host_and_port(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except ValueError as error:  # UnicodeError (IDNA), an embedded NUL
        raise UnsafeCallbackUrl(
            sentence_end(f"Invalid host name in callback URL: {error}")
        ) from None
    addresses = [info[4][0] for info in infos]
    if not settings.CALLBACK_ALLOW_PRIVATE:
        refused = [address for address in addresses if not is_public_address(address)]
        # One private answer is enough to refuse: DNS may hand out the others next time.
        if refused:
            raise UnsafeCallbackUrl(
                f"{host} resolves to a non-public address ({refused[0]}); "
                "callbacks to private networks are disabled (CALLBACK_ALLOW_PRIVATE)."
            )
    return addresses[0]


def check_callback_url(url: str) -> None:
    """Refuse a callback URL given by a merchant if it is unsafe (raises UnsafeCallbackUrl).

    A host that does not resolve yet is accepted: delivery checks again and records failures.
    """
    if settings.CALLBACK_ALLOW_PRIVATE:
        # Any address is allowed, so only the URL's form matters; no DNS lookup needed.
        _host_and_port(url)
        return
    try:
        resolve_callback_address(url)
    except OSError:
        return


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
    if event_type not in CallbackEvent.ALL:
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
    enqueue_with_transaction(partial(_start_delivery, delivery.pk))
    return delivery


def _start_delivery(delivery_pk: int) -> None:
    # Imported here: tasks import services, which import this module.
    from checkout.tasks import enqueue_delivery

    enqueue_delivery(delivery_pk)


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
    scheme, host, port = _host_and_port(url)
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
