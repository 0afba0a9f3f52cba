"""The dashboard's callback tools: a test callback sent in the request (signed like a real one,
its answer or error returned), redelivering a delivery (same webhook-id, one attempt counted),
and a rotated-out secret that keeps verifying for 24 h, against real receivers on 127.0.0.1
verified with the `standardwebhooks` package."""

import json
from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from checkout.callbacks import (
    TEST_CALLBACK_TYPE,
    NoCallbackUrl,
    RedeliveryRefused,
    enqueue_session_callback,
    redeliver_callback,
    send_test_callback,
)
from checkout.choices import CallbackEvent, EventKind
from checkout.models import CallbackDelivery
from orgs.models import AuditEntry, Mode, Organization
from orgs.services import rotate_callback_secret
from tests.checkout.callback_receiver import CallbackReceiver, unused_local_url
from tests.concurrency import at_once
from tests.factories import OrganizationFactory, UserFactory, make_session, signing_secret

pytestmark = pytest.mark.django_db

DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


@pytest.fixture
def receiver():
    with CallbackReceiver() as receiver:
        yield receiver


@pytest.fixture
def jenny(org):
    return UserFactory(username="jenny")


def point_callbacks_at(org: Organization, url: str) -> Organization:
    # update(): the URL is the test's to choose (the SSRF validator is tested on its own).
    Organization.objects.filter(pk=org.pk).update(callback_url=url)
    org.refresh_from_db()
    return org


def verifies(secret: str, callback) -> bool:
    try:
        Webhook(secret).verify(callback.body, callback.headers)
    except WebhookVerificationError:
        return False
    return True


# --- Test callback --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", Mode.values)
def test_a_test_callback_is_signed_with_the_modes_secret_and_answered(org, jenny, receiver, mode):
    point_callbacks_at(org, receiver.url)

    sent = send_test_callback(org=org, mode=mode, user=jenny)

    [callback] = receiver.received
    other = Mode.LIVE if mode == Mode.TEST else Mode.TEST
    payload = Webhook(signing_secret(org, mode)).verify(callback.body, callback.headers)
    assert not verifies(signing_secret(org, other), callback)
    assert payload["type"] == TEST_CALLBACK_TYPE == "callback.test"
    assert payload["data"]["object"] == "checkout.session"
    assert payload["data"]["mode"] == mode
    assert payload["data"]["id"].startswith(f"cs_{mode}_Example")
    assert payload["data"]["metadata"] == {"test_callback": "true"}
    assert callback.headers["webhook-id"] == sent.webhook_id
    assert (sent.status_code, sent.body_excerpt, sent.error) == (200, "ok", "")
    assert sent.delivered
    assert sent.url == receiver.url
    assert 0 <= sent.duration_ms < 5000


def test_a_test_callback_is_audited_without_any_secret(org, jenny, receiver):
    point_callbacks_at(org, receiver.url)

    sent = send_test_callback(org=org, mode=Mode.TEST, user=jenny)

    entry = AuditEntry.objects.for_org(org).get()
    assert (entry.action, entry.actor, entry.mode, entry.target) == (
        AuditEntry.Action.TEST_CALLBACK_SENT,
        "jenny",
        Mode.TEST,
        receiver.url,
    )
    assert entry.changes["webhook_id"] == sent.webhook_id
    assert entry.changes["status_code"] == 200
    assert "whsec_" not in json.dumps(entry.changes)


def test_a_receivers_500_comes_back_with_its_body(org, jenny):
    with CallbackReceiver(statuses=[500], body=b'{"error": "handler <crashed>"}') as receiver:
        point_callbacks_at(org, receiver.url)

        sent = send_test_callback(org=org, mode=Mode.TEST, user=jenny)

    assert (sent.status_code, sent.delivered, sent.error) == (500, False, "HTTP 500")
    assert sent.body_excerpt == '{"error": "handler <crashed>"}'


def test_only_the_first_500_characters_of_the_body_come_back(org, jenny):
    with CallbackReceiver(body=("é" * 300 + "x" * 5000).encode()) as receiver:
        point_callbacks_at(org, receiver.url)

        sent = send_test_callback(org=org, mode=Mode.TEST, user=jenny)

    assert sent.body_excerpt == "é" * 300 + "x" * 200


def test_a_refused_connection_is_returned_as_the_error(org, jenny):
    point_callbacks_at(org, unused_local_url())

    sent = send_test_callback(org=org, mode=Mode.TEST, user=jenny)

    assert sent.status_code is None
    assert "Connection refused" in sent.error
    assert AuditEntry.objects.for_org(org).get().changes["error"] == sent.error


def test_a_receiver_slower_than_the_timeout_is_a_timeout(org, jenny, settings):
    settings.CALLBACK_TIMEOUT_SECONDS = 0.5  # the test callback waits min(5 s, this)
    with CallbackReceiver(delays=[3]) as receiver:
        point_callbacks_at(org, receiver.url)

        sent = send_test_callback(org=org, mode=Mode.TEST, user=jenny)

    assert sent.status_code is None
    assert sent.error == "Timed out: no response within 0.5 s."
    assert sent.duration_ms < 2000


def test_a_private_address_is_refused_without_a_request_when_private_is_not_allowed(
    org, jenny, receiver, settings
):
    point_callbacks_at(org, receiver.url)
    settings.CALLBACK_ALLOW_PRIVATE = False

    sent = send_test_callback(org=org, mode=Mode.TEST, user=jenny)

    assert receiver.received == []
    assert sent.status_code is None
    assert "non-public address" in sent.error


def test_no_callback_url_means_no_test_callback_and_no_audit_entry(org, jenny):
    with pytest.raises(NoCallbackUrl):
        send_test_callback(org=org, mode=Mode.TEST, user=jenny)

    assert not AuditEntry.objects.for_org(org).exists()


# --- Secret rotation: the old secret verifies for 24 h --------------------------------------


def test_after_a_rotation_callbacks_verify_with_the_old_secret_for_24_hours_then_not(
    org, jenny, receiver
):
    point_callbacks_at(org, receiver.url)
    old_secret = signing_secret(org, Mode.TEST)
    rotated_at = timezone.now()
    with time_machine.travel(rotated_at, tick=False):
        new_secret = rotate_callback_secret(org=org, mode=Mode.TEST, user=jenny).secret

    with time_machine.travel(rotated_at + timedelta(hours=23, minutes=59)):
        send_test_callback(org=org, mode=Mode.TEST, user=jenny)
        within_grace = receiver.received[-1]
        assert verifies(old_secret, within_grace)
        assert verifies(new_secret, within_grace)

    with time_machine.travel(rotated_at + timedelta(hours=24, minutes=1)):
        send_test_callback(org=org, mode=Mode.TEST, user=jenny)
        after_grace = receiver.received[-1]
        assert verifies(new_secret, after_grace)
        assert not verifies(old_secret, after_grace)
    assert old_secret != new_secret


# --- Redelivery -----------------------------------------------------------------------------


def first_delivery(session, django_capture_on_commit_callbacks) -> CallbackDelivery:
    """The session's completed callback, with its first attempt made (immediate backend)."""
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        delivery = enqueue_session_callback(session=session, event_type=CallbackEvent.COMPLETED)
    delivery.refresh_from_db()
    return delivery


def redeliver(delivery, user, django_capture_on_commit_callbacks) -> CallbackDelivery:
    with django_capture_on_commit_callbacks(execute=True):
        redeliver_callback(delivery=delivery, user=user)
    delivery.refresh_from_db()
    return delivery


def test_a_delivery_stores_its_sessions_org_and_mode(org, receiver):
    session = make_session(org=org, mode=Mode.LIVE, callback_url=receiver.url)

    with transaction.atomic():
        delivery = enqueue_session_callback(session=session, event_type=CallbackEvent.COMPLETED)

    assert (delivery.org, delivery.mode) == (org, Mode.LIVE)


def test_a_failed_delivery_redelivered_reaches_the_receiver_with_the_same_webhook_id(
    org, jenny, django_capture_on_commit_callbacks
):
    with CallbackReceiver(statuses=[500]) as receiver:
        session = make_session(org=org, callback_url=receiver.url)
        delivery = first_delivery(session, django_capture_on_commit_callbacks)
        assert (delivery.status, delivery.attempts) == (CallbackDelivery.Status.FAILED, 1)

        delivery = redeliver(delivery, jenny, django_capture_on_commit_callbacks)

    first, again = receiver.received
    assert again.headers["webhook-id"] == first.headers["webhook-id"] == delivery.public_id
    assert again.body == first.body == delivery.payload
    assert verifies(signing_secret(org), again)
    assert (delivery.status, delivery.attempts) == (CallbackDelivery.Status.DELIVERED, 2)
    assert list(session.events.filter(kind__startswith="callback_").values_list("kind", flat=True))[
        -1
    ] == (EventKind.CALLBACK_DELIVERED)


def test_a_redelivery_is_audited(org, jenny, receiver, django_capture_on_commit_callbacks):
    receiver.statuses = [500]
    session = make_session(org=org, callback_url=receiver.url)
    delivery = first_delivery(session, django_capture_on_commit_callbacks)

    redeliver(delivery, jenny, django_capture_on_commit_callbacks)

    entry = AuditEntry.objects.for_org(org).get()
    assert (entry.action, entry.actor, entry.target, entry.mode) == (
        AuditEntry.Action.CALLBACK_REDELIVERED,
        "jenny",
        delivery.public_id,
        Mode.TEST,
    )
    assert entry.changes["status"] == ["failed", "pending"]


def test_a_redelivery_that_fails_again_counts_one_attempt_and_stays_failed(
    org, jenny, django_capture_on_commit_callbacks
):
    with CallbackReceiver(statuses=[500, 503]) as receiver:
        session = make_session(org=org, callback_url=receiver.url)
        delivery = first_delivery(session, django_capture_on_commit_callbacks)

        delivery = redeliver(delivery, jenny, django_capture_on_commit_callbacks)

    assert len(receiver.received) == 2
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
        CallbackDelivery.Status.FAILED,
        2,
        503,
    )


def test_a_delivered_callback_is_not_redelivered(
    org, jenny, receiver, django_capture_on_commit_callbacks
):
    session = make_session(org=org, callback_url=receiver.url)
    delivery = first_delivery(session, django_capture_on_commit_callbacks)

    with pytest.raises(RedeliveryRefused):
        redeliver(delivery, jenny, django_capture_on_commit_callbacks)

    assert len(receiver.received) == 1
    assert delivery.attempts == 1
    assert not AuditEntry.objects.for_org(org).exists()


def run_worker():
    call_command(
        "db_worker", batch=True, reload=False, startup_delay=False, interval=0, verbosity=0
    )


@pytest.mark.django_db(transaction=True)
def test_redelivering_a_pending_delivery_makes_one_attempt_now_and_its_old_retry_adds_none(
    settings,
):
    settings.TASKS = DATABASE_TASKS
    settings.CALLBACK_RETRY_SCHEDULE = [3600, 3600]  # the scheduled retry is an hour away
    org, jenny = OrganizationFactory(), UserFactory(username="jenny")
    with CallbackReceiver(statuses=[500]) as receiver:
        # Open for a day: its expiry (and expired callback) stays beyond the time travelled.
        session = make_session(org=org, callback_url=receiver.url, expires_in_minutes=1440)
        with transaction.atomic():
            delivery = enqueue_session_callback(session=session, event_type=CallbackEvent.COMPLETED)
        run_worker()
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts) == (CallbackDelivery.Status.PENDING, 1)

        redeliver_callback(delivery=delivery, user=jenny)
        run_worker()  # runs the redelivery, not the retry an hour away
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts) == (CallbackDelivery.Status.DELIVERED, 2)

        with time_machine.travel(timezone.now() + timedelta(hours=2)):
            run_worker()  # the old retry: delivered already, nothing sent

    delivery.refresh_from_db()
    assert [callback.headers["webhook-id"] for callback in receiver.received] == [
        delivery.public_id
    ] * 2
    assert delivery.attempts == 2
    assert session.events.filter(kind__startswith="callback_").count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_redeliveries_clicked_at_once_make_one_attempt_each_counted_once(settings):
    settings.TASKS = DATABASE_TASKS
    settings.CALLBACK_RETRY_SCHEDULE = [3600]
    org, jenny = OrganizationFactory(), UserFactory(username="jenny")
    with CallbackReceiver(statuses=[500]) as receiver:
        session = make_session(org=org, callback_url=receiver.url, expires_in_minutes=1440)
        with transaction.atomic():
            delivery = enqueue_session_callback(session=session, event_type=CallbackEvent.COMPLETED)
        run_worker()

        at_once(lambda: redeliver_callback(delivery=delivery, user=jenny), threads=4)
        run_worker()

    delivery.refresh_from_db()
    # Four clicks queue four tasks; the first delivers, the others find it delivered.
    assert (delivery.status, delivery.attempts) == (CallbackDelivery.Status.DELIVERED, 2)
    assert len(receiver.received) == 2
    assert session.events.filter(kind__startswith="callback_").count() == 2
    assert AuditEntry.objects.filter(action=AuditEntry.Action.CALLBACK_REDELIVERED).count() == 4


# --- The migration that copies a delivery's org and mode ------------------------------------

ORG_MODE_MIGRATION = ("checkout", "0013_callback_delivery_org_mode")


@pytest.mark.django_db(transaction=True)
def test_migration_copies_each_existing_deliverys_org_and_mode_from_its_session(receiver):
    org = OrganizationFactory()
    session = make_session(org=org, mode=Mode.LIVE, callback_url=receiver.url)
    with transaction.atomic():
        delivery = enqueue_session_callback(session=session, event_type=CallbackEvent.COMPLETED)
    executor = MigrationExecutor(connection)
    before = [
        parent.key
        for parent in executor.loader.graph.node_map[ORG_MODE_MIGRATION].parents
        if parent.key[0] == "checkout"
    ]
    try:
        executor.migrate(before)
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

    delivery = CallbackDelivery.objects.get(pk=delivery.pk)
    assert (delivery.org_id, delivery.mode) == (org.pk, Mode.LIVE)
