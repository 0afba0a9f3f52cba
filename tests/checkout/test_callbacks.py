"""Signed callbacks: a real receiver on 127.0.0.1 verifies them with the `standardwebhooks`
package; failures are retried by the database task backend and recorded on the timeline."""

import base64
import hashlib
import hmac
import json
import re
import secrets
import socket
import time
from datetime import datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from checkout.actors import Actor
from checkout.callbacks import enqueue_session_callback, sign, signed_headers
from checkout.choices import CallbackEvent, EventKind
from checkout.models import CallbackDelivery, CheckoutSession
from checkout.services import extend_session_expiry
from orgs.callback_urls import UnsafeCallbackUrl, check_callback_url, resolve_callback_address
from orgs.models import Mode
from orgs.public_addresses import IPV4_BLOCKS, IPV6_BLOCKS, Reach, is_public_address
from orgs.services import rotate_callback_secret
from tests.checkout.callback_receiver import CallbackReceiver, SlowDripReceiver
from tests.factories import make_session, signing_secret

DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


@pytest.fixture
def receiver():
    with CallbackReceiver() as receiver:
        yield receiver


@pytest.fixture
def database_tasks(settings):
    """Tasks go to django-tasks-db; retries wait 0 s so a batch worker runs them all now."""
    settings.TASKS = DATABASE_TASKS
    settings.CALLBACK_RETRY_SCHEDULE = [0, 0, 0]


def run_worker():
    call_command(
        "db_worker", batch=True, reload=False, startup_delay=False, interval=0, verbosity=0
    )


def enqueue_in_transaction(session, event_type=CallbackEvent.COMPLETED):
    with transaction.atomic():
        return enqueue_session_callback(session=session, event_type=event_type)


def deliver_now(session, django_capture_on_commit_callbacks):
    """Enqueue a completed callback and run the delivery that waits for the commit."""
    with django_capture_on_commit_callbacks(execute=True):
        return enqueue_in_transaction(session)


# The test vector published with the Standard Webhooks specification (computed by neither our
# code nor the library this suite verifies with).
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY = (
    "msg_p5jXN8AQM9LWM0D4loKWxJek",
    1614265330,
    '{"test": 2432232314}',
)
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
# v1, then the base64 of a 32-byte HMAC-SHA256: 43 characters and one "=" of padding.
SIGNATURE_FORMAT = re.compile(r"v1,[A-Za-z0-9+/]{43}=")


def test_our_signature_is_the_standard_webhooks_test_vector():
    assert (
        sign(secret=SPEC_SECRET, message_id=SPEC_ID, timestamp=SPEC_TIMESTAMP, body=SPEC_BODY)
        == SPEC_SIGNATURE
    )


def test_our_signature_is_v1_and_the_base64_hmac_sha256_of_id_timestamp_body():
    key = secrets.token_bytes(32)
    secret = "whsec_" + base64.b64encode(key).decode()
    body = '{"type":"checkout.session.completed","data":{"name":"Café ☕"}}'

    signature = sign(secret=secret, message_id="msg_1", timestamp=1700000000, body=body)

    digest = hmac.new(key, f"msg_1.1700000000.{body}".encode(), hashlib.sha256).digest()
    assert SIGNATURE_FORMAT.fullmatch(signature)
    assert signature == "v1," + base64.b64encode(digest).decode()


def test_our_signed_headers_verify_and_any_tampering_does_not():
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    body = '{"type":"checkout.session.completed","data":{"id":"cs_test_1"}}'
    now = int(time.time())

    headers = signed_headers(secrets=[secret], message_id="msg_1", timestamp=now, body=body)

    assert SIGNATURE_FORMAT.fullmatch(headers["webhook-signature"])
    assert (headers["webhook-id"], headers["webhook-timestamp"]) == ("msg_1", str(now))
    assert Webhook(secret).verify(body, headers) == json.loads(body)
    for tampered_body, tampered_headers in [
        (body.replace("cs_test_1", "cs_test_2"), headers),
        (body, {**headers, "webhook-timestamp": str(now + 1)}),
        (body, {**headers, "webhook-id": "msg_2"}),
    ]:
        with pytest.raises(WebhookVerificationError):
            Webhook(secret).verify(tampered_body, tampered_headers)


def test_with_two_secrets_each_signature_is_v1_and_each_secret_verifies():
    new, old = ("whsec_" + base64.b64encode(secrets.token_bytes(24)).decode() for _ in "ab")
    body, now = '{"a":1}', int(time.time())

    headers = signed_headers(secrets=[new, old], message_id="msg_1", timestamp=now, body=body)

    signatures = headers["webhook-signature"].split(" ")
    assert len(signatures) == 2
    assert all(SIGNATURE_FORMAT.fullmatch(signature) for signature in signatures)
    assert Webhook(new).verify(body, headers) == Webhook(old).verify(body, headers)


@pytest.mark.django_db(transaction=True)
def test_receiver_verifies_the_callback_with_the_orgs_secret(org, receiver):
    session = make_session(org=org, callback_url=receiver.url)

    delivery = enqueue_in_transaction(session)

    assert len(receiver.received) == 1
    callback = receiver.received[0]
    payload = Webhook(signing_secret(org)).verify(callback.body, callback.headers)
    assert payload["type"] == "checkout.session.completed"
    assert payload["timestamp"].endswith("Z")
    assert payload["data"]["id"] == session.public_id
    assert payload["data"]["object"] == "checkout.session"
    assert payload["data"]["order"]["amountTotal"] == 7500
    assert callback.headers["webhook-id"] == delivery.public_id
    assert callback.headers["Content-Type"] == "application/json"


@pytest.mark.django_db(transaction=True)
def test_a_delivered_attempt_is_on_the_timeline(org, receiver):
    session = make_session(org=org, callback_url=receiver.url)

    delivery = enqueue_in_transaction(session)

    delivery.refresh_from_db()
    assert delivery.status == CallbackDelivery.Status.DELIVERED
    assert delivery.attempts == 1
    event = session.events.get(kind=EventKind.CALLBACK_DELIVERED)
    assert event.data["status_code"] == 200
    assert event.data["duration_ms"] >= 0
    assert event.data["event_type"] == "checkout.session.completed"


@pytest.mark.django_db(transaction=True)
def test_a_wrong_secret_does_not_verify(org, receiver):
    session = make_session(org=org, callback_url=receiver.url)
    enqueue_in_transaction(session)
    callback = receiver.received[0]

    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 32).verify(callback.body, callback.headers)


def verifies(secret, callback) -> bool:
    try:
        Webhook(secret).verify(callback.body, callback.headers)
    except WebhookVerificationError:
        return False
    return True


def test_a_test_mode_callback_verifies_with_the_test_secret_and_not_the_live_one(
    org, receiver, django_capture_on_commit_callbacks
):
    session = make_session(org=org, mode=Mode.TEST, callback_url=receiver.url)

    deliver_now(session, django_capture_on_commit_callbacks)

    [callback] = receiver.received
    assert json.loads(callback.body)["data"]["mode"] == "test"
    assert verifies(signing_secret(org, Mode.TEST), callback)
    assert not verifies(signing_secret(org, Mode.LIVE), callback)


def test_a_live_mode_callback_verifies_with_the_live_secret_and_not_the_test_one(
    org, receiver, django_capture_on_commit_callbacks
):
    session = make_session(org=org, mode=Mode.LIVE, callback_url=receiver.url)

    deliver_now(session, django_capture_on_commit_callbacks)

    [callback] = receiver.received
    assert json.loads(callback.body)["data"]["mode"] == "live"
    assert verifies(signing_secret(org, Mode.LIVE), callback)
    assert not verifies(signing_secret(org, Mode.TEST), callback)


def test_a_callback_sent_within_24_hours_of_a_rotation_verifies_with_old_and_new_secret(
    org, receiver, django_capture_on_commit_callbacks
):
    old_secret = signing_secret(org, Mode.LIVE)
    rotate_callback_secret(org=org, mode=Mode.LIVE, now=timezone.now() - timedelta(hours=23))
    session = make_session(org=org, mode=Mode.LIVE, callback_url=receiver.url)

    deliver_now(session, django_capture_on_commit_callbacks)

    [callback] = receiver.received
    assert verifies(signing_secret(org, Mode.LIVE), callback)
    assert verifies(old_secret, callback)
    assert not verifies(signing_secret(org, Mode.TEST), callback)


def test_a_callback_sent_24_hours_after_a_rotation_verifies_with_the_new_secret_only(
    org, receiver, django_capture_on_commit_callbacks
):
    old_secret = signing_secret(org, Mode.LIVE)
    rotate_callback_secret(org=org, mode=Mode.LIVE, now=timezone.now() - timedelta(hours=24))
    session = make_session(org=org, mode=Mode.LIVE, callback_url=receiver.url)

    deliver_now(session, django_capture_on_commit_callbacks)

    [callback] = receiver.received
    assert verifies(signing_secret(org, Mode.LIVE), callback)
    assert not verifies(old_secret, callback)
    assert callback.headers["webhook-signature"].count("v1,") == 1


@pytest.mark.django_db(transaction=True)
def test_receiver_failing_twice_gets_the_event_on_the_third_try(org, database_tasks):
    with CallbackReceiver(statuses=[500, 500, 200]) as receiver:
        session = make_session(org=org, callback_url=receiver.url)
        delivery = enqueue_in_transaction(session)

        run_worker()

    assert len(receiver.received) == 3
    assert len({callback.headers["webhook-id"] for callback in receiver.received}) == 1
    assert {callback.body for callback in receiver.received} == {delivery.payload}
    Webhook(signing_secret(org)).verify(receiver.received[2].body, receiver.received[2].headers)
    delivery.refresh_from_db()
    assert delivery.status == CallbackDelivery.Status.DELIVERED
    assert delivery.attempts == 3
    attempts = list(
        session.events.filter(
            kind__in=[EventKind.CALLBACK_FAILED, EventKind.CALLBACK_DELIVERED]
        ).values_list("kind", "data__status_code", "data__attempt")
    )
    assert attempts == [
        (EventKind.CALLBACK_FAILED, 500, 1),
        (EventKind.CALLBACK_FAILED, 500, 2),
        (EventKind.CALLBACK_DELIVERED, 200, 3),
    ]


@pytest.mark.django_db(transaction=True)
def test_retries_follow_the_schedule_with_run_after(org, settings):
    settings.TASKS = DATABASE_TASKS
    settings.CALLBACK_RETRY_SCHEDULE = [3600]
    with CallbackReceiver(statuses=[503]) as receiver:
        session = make_session(org=org, callback_url=receiver.url)
        delivery = enqueue_in_transaction(session)
        run_worker()

    retry = DBTaskResult.objects.filter(
        status="READY", task_path="checkout.callbacks.deliver_callback"
    ).get()
    delivery.refresh_from_db()
    assert len(receiver.received) == 1
    assert delivery.status == CallbackDelivery.Status.PENDING
    assert abs((retry.run_after - delivery.next_attempt_at).total_seconds()) < 1
    assert 3590 < (retry.run_after - delivery.created_at).total_seconds() < 3700


@pytest.mark.django_db(transaction=True)
def test_delivery_gives_up_after_the_schedule(org, database_tasks):
    with CallbackReceiver(statuses=[500] * 10) as receiver:
        session = make_session(org=org, callback_url=receiver.url)
        delivery = enqueue_in_transaction(session)
        run_worker()

    delivery.refresh_from_db()
    assert len(receiver.received) == 4  # the first try and 3 retries
    assert delivery.status == CallbackDelivery.Status.FAILED
    assert session.events.filter(kind=EventKind.CALLBACK_FAILED).count() == 4


@pytest.mark.django_db(transaction=True)
def test_immediate_backend_tries_once_and_says_retries_need_the_database_backend(org):
    with CallbackReceiver(statuses=[500]) as receiver:
        session = make_session(org=org, callback_url=receiver.url)
        delivery = enqueue_in_transaction(session)

    delivery.refresh_from_db()
    assert len(receiver.received) == 1
    assert delivery.status == CallbackDelivery.Status.FAILED
    event = session.events.get(kind=EventKind.CALLBACK_FAILED)
    assert event.data["status_code"] == 500
    assert "TASKS_BACKEND=database" in event.data["retries"]


@pytest.mark.django_db(transaction=True)
def test_private_hosts_are_refused_at_delivery_time(org, receiver, settings):
    # Accepted when given (as when a public name later resolves to a private address)...
    session = make_session(org=org, callback_url=receiver.url)
    # ...and refused when delivering.
    settings.CALLBACK_ALLOW_PRIVATE = False

    enqueue_in_transaction(session)

    assert receiver.received == []
    event = session.events.get(kind=EventKind.CALLBACK_FAILED)
    assert "non-public address" in event.data["error"]
    assert event.data["status_code"] is None


def test_no_callback_url_means_no_delivery(org):
    session = make_session(org=org)

    assert enqueue_in_transaction(session) is None
    assert not CallbackDelivery.objects.exists()


def test_the_delivered_payload_is_the_one_frozen_when_the_event_happened(
    org, receiver, django_capture_on_commit_callbacks
):
    session = make_session(org=org, callback_url=receiver.url, metadata={"orderRef": "A-1001"})
    with django_capture_on_commit_callbacks(execute=False) as pending_deliveries:
        frozen = enqueue_in_transaction(session, CallbackEvent.PAYMENT_FAILED).payload
    before = json.loads(frozen)["data"]

    # Between the event and its delivery the session moves on.
    extend_session_expiry(session=session, minutes=30, actor=Actor.system())
    CheckoutSession.objects.filter(pk=session.pk).update(
        customer_email="someone.else@example.com", metadata={"orderRef": "B-2002"}
    )
    for deliver in pending_deliveries:
        deliver()

    delivered = receiver.received[0].body
    assert delivered == frozen
    data = json.loads(delivered)["data"]
    assert (data["customerEmail"], data["metadata"]) == (
        "alice@example.com",
        {"orderRef": "A-1001"},
    )
    assert data["expiresAt"] == before["expiresAt"]
    session.refresh_from_db()
    assert datetime.fromisoformat(data["expiresAt"]) < session.expires_at - timedelta(minutes=29)


def test_unknown_event_types_are_refused(org):
    session = make_session(org=org, callback_url="https://merchant.example.com/hooks")

    with pytest.raises(ValueError, match="Unknown callback event"):
        enqueue_in_transaction(session, "checkout.session.refunded")


# IPv6 forms that used to pass the SSRF check (security audit, defect 9).
NON_PUBLIC_IPV6_FORMS = [
    "[::127.0.0.1]",  # IPv4-compatible loopback
    "[::a9fe:a9fe]",  # IPv4-compatible 169.254.169.254 (cloud metadata)
    "[::a00:1]",  # IPv4-compatible 10.0.0.1
    "[::ffff:0:7f00:1]",  # IPv4-translated 127.0.0.1 (RFC 2765)
    "[64:ff9b:1::7f00:1]",  # local-use NAT64 (RFC 8215)
    "[fec0::1]",  # site-local, deprecated (RFC 3879)
    "[3fff::1]",  # documentation (RFC 9637)
    "[5f00::1]",  # SRv6 SIDs (RFC 9602)
]

NON_PUBLIC_HOSTS = [
    *NON_PUBLIC_IPV6_FORMS,
    "127.0.0.1",  # loopback
    "[::1]",  # IPv6 loopback
    "10.0.0.1",  # private
    "172.16.5.4",  # private
    "192.168.1.20",  # private
    "169.254.169.254",  # link-local (cloud metadata)
    "[fe80::1]",  # IPv6 link-local
    "[fd00:ec2::254]",  # unique-local (AWS's IPv6 metadata address)
    "100.64.0.1",  # carrier-grade NAT (RFC 6598)
    "192.0.0.170",  # NAT64 discovery (RFC 8880)
    "192.0.2.1",  # documentation
    "198.18.0.1",  # benchmarking
    "240.0.0.1",  # reserved
    "255.255.255.255",  # limited broadcast
    "[2001:db8::1]",  # documentation
    "[100::1]",  # discard-only (RFC 6666)
    "[2002:a00:1::1]",  # 6to4 tunnel to 10.0.0.1
    "[2002:7f00:1::1]",  # 6to4 tunnel to 127.0.0.1
    "[2001:0:4136:e378:8000:63bf:f5ff:fffe]",  # Teredo, client 10.0.0.1
    "[2001:0:808:808:8000:63bf:f7f7:f7f7]",  # Teredo, even with public server and client
    "[::ffff:10.0.0.1]",  # IPv4-mapped private
    "[::ffff:169.254.169.254]",  # IPv4-mapped metadata
    "[64:ff9b::a00:1]",  # NAT64 to 10.0.0.1
    "[64:ff9b::a9fe:a9fe]",  # NAT64 to the metadata address
    "224.0.0.1",  # multicast
    "[ff02::1]",  # IPv6 multicast
    "0.0.0.0",  # noqa: S104 - unspecified, refused
    "[::]",  # IPv6 unspecified
    "[4000::1]",  # outside 2000::/3, IANA's only global unicast block
]

PUBLIC_HOSTS = [
    "1.1.1.1",
    "8.8.8.8",
    "93.184.215.14",
    "[2606:4700:4700::1111]",
    "[2001:4860:4860::8888]",
    "[2002:808:808::1]",  # 6to4 to 8.8.8.8
    "[64:ff9b::808:808]",  # NAT64 to 8.8.8.8
]

# Both places the rule applies: when a merchant gives a URL (the API calls check_callback_url)
# and at each delivery (resolve_callback_address picks the address post_callback connects to).
URL_CHECKS = [
    pytest.param(check_callback_url, id="given"),
    pytest.param(resolve_callback_address, id="delivery"),
]


@pytest.mark.parametrize("check", URL_CHECKS)
@pytest.mark.parametrize("host", NON_PUBLIC_HOSTS)
def test_non_public_addresses_are_refused(settings, check, host):
    settings.CALLBACK_ALLOW_PRIVATE = False

    with pytest.raises(UnsafeCallbackUrl, match="non-public address"):
        check(f"http://{host}/hooks")


@pytest.mark.parametrize("check", URL_CHECKS)
@pytest.mark.parametrize("host", PUBLIC_HOSTS)
def test_public_addresses_are_accepted(settings, check, host):
    settings.CALLBACK_ALLOW_PRIVATE = False

    check(f"http://{host}/hooks")


@pytest.mark.parametrize("host", NON_PUBLIC_IPV6_FORMS)
def test_non_public_ipv6_forms_are_never_connected_to_at_delivery(
    org, settings, monkeypatch, django_capture_on_commit_callbacks, host
):
    connected_to = []
    monkeypatch.setattr(
        socket, "create_connection", lambda address, *args, **kwargs: connected_to.append(address)
    )
    # Accepted when the URL was given (as in development), refused when production delivers.
    session = make_session(org=org, callback_url=f"http://{host}/hooks")
    settings.CALLBACK_ALLOW_PRIVATE = False

    delivery = deliver_now(session, django_capture_on_commit_callbacks)

    assert connected_to == []
    delivery.refresh_from_db()
    assert delivery.status == CallbackDelivery.Status.FAILED
    assert "non-public address" in session.events.get(kind=EventKind.CALLBACK_FAILED).data["error"]


def _edges(block):
    """The first, a middle and the last address of a registry block."""
    network = block.network
    return {network[0], network[network.num_addresses // 2], network[-1]}


@pytest.mark.parametrize(
    "block",
    [block for block in IPV4_BLOCKS + IPV6_BLOCKS if block.reach is Reach.NOT_GLOBAL],
    ids=lambda block: f"{block.network} {block.source}",
)
def test_every_block_that_is_not_globally_reachable_is_refused(block):
    assert [str(ip) for ip in _edges(block) if is_public_address(str(ip))] == []


@pytest.mark.django_db(transaction=True)
def test_an_unexpected_error_while_connecting_is_a_recorded_failed_attempt(
    org, receiver, monkeypatch
):
    def broken_network(*args, **kwargs):
        raise RuntimeError("the network stack broke")

    monkeypatch.setattr(socket, "create_connection", broken_network)
    session = make_session(org=org, callback_url=receiver.url)

    delivery = enqueue_in_transaction(session)

    delivery.refresh_from_db()
    assert delivery.status == CallbackDelivery.Status.FAILED
    assert delivery.attempts == 1
    event = session.events.get(kind=EventKind.CALLBACK_FAILED)
    assert "RuntimeError: the network stack broke" in event.data["error"]


@pytest.mark.django_db(transaction=True)
def test_an_unexpected_error_is_retried_by_the_database_backend(
    org, receiver, database_tasks, monkeypatch
):
    def broken_network(*args, **kwargs):
        raise RuntimeError("the network stack broke")

    monkeypatch.setattr(socket, "create_connection", broken_network)
    session = make_session(org=org, callback_url=receiver.url)
    delivery = enqueue_in_transaction(session)

    run_worker()

    delivery.refresh_from_db()
    assert delivery.status == CallbackDelivery.Status.FAILED
    assert delivery.attempts == 4  # the first try and the three retries of the schedule
    assert session.events.filter(kind=EventKind.CALLBACK_FAILED).count() == 4


@pytest.mark.django_db(transaction=True)
def test_a_receiver_dripping_its_answer_is_cut_off_at_the_total_timeout(org, settings):
    settings.CALLBACK_TIMEOUT_SECONDS = 1
    with SlowDripReceiver(interval=0.3) as slow:
        session = make_session(org=org, callback_url=slow.url)
        started = time.monotonic()

        delivery = enqueue_in_transaction(session)

        elapsed = time.monotonic() - started
    # Generous bound: the point is that the attempt does not last as long as the receiver drips.
    assert elapsed < 5
    delivery.refresh_from_db()
    assert delivery.status == CallbackDelivery.Status.FAILED
    event = session.events.get(kind=EventKind.CALLBACK_FAILED)
    assert "Timed out" in event.data["error"]
    assert 900 <= event.data["duration_ms"] < 5000


@pytest.mark.django_db(transaction=True)
def test_a_callback_url_with_non_ascii_in_its_path_is_delivered(org, receiver):
    session = make_session(org=org, callback_url=receiver.url + "/bücher?q=ä")

    delivery = enqueue_in_transaction(session)

    delivery.refresh_from_db()
    assert delivery.status == CallbackDelivery.Status.DELIVERED
    assert len(receiver.received) == 1
