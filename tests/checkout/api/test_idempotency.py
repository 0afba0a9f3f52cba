"""Idempotency-Key on POST and PATCH: replay, mismatch, in flight, scope, retention."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection
from django.utils import timezone

from checkout.api.idempotency import (
    CLAIM_LEASE,
    RETENTION,
    purge_expired_keys,
    request_fingerprint,
)
from checkout.models import CheckoutSession, IdempotencyRecord
from orgs.services import create_api_key
from tests.checkout.api.client import SEED_BODY, ApiClient, error_of
from tests.factories import OrganizationFactory, make_session


def test_same_key_and_body_replays_the_first_response_exactly(api):
    first = api.create(SEED_BODY, **{"Idempotency-Key": "order-1001"})

    again = api.create(SEED_BODY, **{"Idempotency-Key": "order-1001"})

    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")
    assert CheckoutSession.objects.count() == 1


def test_same_key_with_another_body_is_400_idempotency_error(api):
    api.create(SEED_BODY, **{"Idempotency-Key": "order-1001"})

    response = api.create({**SEED_BODY, "currency": "EUR"}, **{"Idempotency-Key": "order-1001"})

    assert response.status_code == 400
    assert error_of(response)["type"] == "idempotency_error"
    assert CheckoutSession.objects.count() == 1


def test_in_flight_claim_of_the_same_request_is_409(api, org, rf):
    request = rf.post("/v0/checkout/sessions", SEED_BODY, content_type="application/json")
    IdempotencyRecord.objects.create(
        org=org, mode="test", key="busy", request_fingerprint=request_fingerprint(request)
    )

    response = api.create(SEED_BODY, **{"Idempotency-Key": "busy"})

    assert response.status_code == 409
    assert error_of(response)["code"] == "idempotency_key_in_use"
    assert not CheckoutSession.objects.exists()


def test_claim_abandoned_by_a_dead_request_is_released_after_the_lease(api, org, rf):
    request = rf.post("/v0/checkout/sessions", SEED_BODY, content_type="application/json")
    IdempotencyRecord.objects.create(
        org=org,
        mode="test",
        key="orphan",
        request_fingerprint=request_fingerprint(request),
        created_at=timezone.now() - CLAIM_LEASE - timedelta(seconds=1),
    )

    response = api.create(SEED_BODY, **{"Idempotency-Key": "orphan"})

    assert response.status_code == 201
    assert CheckoutSession.objects.count() == 1


def test_a_keyed_request_finds_only_its_own_key_and_leaves_the_others_to_the_purge(api, org):
    day_old = timezone.now() - RETENTION - timedelta(seconds=1)
    for key in ("new", "someone-elses-old-key"):
        IdempotencyRecord.objects.create(
            org=org, mode="test", key=key, request_fingerprint="f", created_at=day_old
        )

    response = api.create(SEED_BODY, **{"Idempotency-Key": "new"})

    # Its own day-old record is treated as absent: the request runs, not a 400 "reused".
    assert response.status_code == 201
    assert IdempotencyRecord.objects.get(key="new").response_status == 201
    # The request's cost never depends on other keys: they wait for the worker's purge.
    assert IdempotencyRecord.objects.filter(key="someone-elses-old-key").exists()


def test_the_purge_deletes_every_org_and_modes_expired_keys_in_batches(org):
    other_org = OrganizationFactory(slug="globex")
    day_old = timezone.now() - RETENTION - timedelta(seconds=1)
    for owner, mode, key in [
        (org, "test", "old-a"),
        (org, "test", "old-b"),
        (org, "live", "old"),
        (other_org, "test", "old"),
    ]:
        IdempotencyRecord.objects.create(
            org=owner, mode=mode, key=key, request_fingerprint="f", created_at=day_old
        )
    IdempotencyRecord.objects.create(
        org=org, mode="test", key="fresh", request_fingerprint="f", response_status=201
    )

    assert purge_expired_keys(batch_size=3) == 4

    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["fresh"]


class VanishingHolder:
    """A database hook: whenever claiming the key fails because a holder row exists, that row
    is deleted before the claimer reads it (its request ended, or it expired and was purged,
    in between). With ``reappear``, a new holder is inserted before each claim as well."""

    def __init__(self, org, key, fingerprint, *, reappear=False):
        self.scope = {"org": org, "mode": "test", "key": key}
        self.fingerprint = fingerprint
        self.reappear = reappear
        self.insert_failed = False
        self.busy = False
        self.table = IdempotencyRecord._meta.db_table

    def _on_the_side(self, change):
        self.busy = True
        try:
            change()
        finally:
            self.busy = False

    def __call__(self, execute, sql, params, many, context):
        if self.busy or self.table not in sql:
            return execute(sql, params, many, context)
        if sql.startswith("INSERT") and self.reappear:
            self._on_the_side(
                lambda: IdempotencyRecord.objects.get_or_create(
                    **self.scope, defaults={"request_fingerprint": self.fingerprint}
                )
            )
        if sql.startswith("SELECT") and self.insert_failed:
            self.insert_failed = False
            self._on_the_side(lambda: IdempotencyRecord.objects.filter(**self.scope).delete())
        try:
            return execute(sql, params, many, context)
        except IntegrityError:
            self.insert_failed = sql.startswith("INSERT")
            raise


def _holder_of(org, key, rf):
    request = rf.post("/v0/checkout/sessions", SEED_BODY, content_type="application/json")
    fingerprint = request_fingerprint(request)
    IdempotencyRecord.objects.create(org=org, mode="test", key=key, request_fingerprint=fingerprint)
    return fingerprint


def test_a_holder_gone_before_it_is_read_lets_the_request_claim_the_key(api, org, rf):
    fingerprint = _holder_of(org, "vanishing", rf)

    with connection.execute_wrapper(VanishingHolder(org, "vanishing", fingerprint)):
        response = api.create(SEED_BODY, **{"Idempotency-Key": "vanishing"})

    assert response.status_code == 201
    assert CheckoutSession.objects.count() == 1
    assert IdempotencyRecord.objects.get(key="vanishing").response_status == 201


def test_a_key_whose_holder_keeps_vanishing_is_409_not_500(api, org, rf):
    fingerprint = _holder_of(org, "flapping", rf)

    with connection.execute_wrapper(VanishingHolder(org, "flapping", fingerprint, reappear=True)):
        response = api.create(SEED_BODY, **{"Idempotency-Key": "flapping"})

    assert response.status_code == 409
    assert error_of(response)["code"] == "idempotency_key_in_use"
    assert not CheckoutSession.objects.exists()


def test_keys_are_scoped_to_org_and_mode(api, other_org_api, org, settings):
    settings.LIVE_PAYMENT_PROCESSOR = "checkout.processors.TestProcessor"
    live_api = ApiClient(create_api_key(org=org, mode="live")[1])

    ids = {
        client.create(SEED_BODY, **{"Idempotency-Key": "same"}).json()["id"]
        for client in (api, other_org_api, live_api)
    }

    assert len(ids) == 3


def test_failed_requests_are_not_kept(api):
    bad = api.create({"items": []}, **{"Idempotency-Key": "retry-me"})

    good = api.create(SEED_BODY, **{"Idempotency-Key": "retry-me"})

    assert bad.status_code == 400
    assert good.status_code == 201
    assert not good.has_header("Idempotent-Replayed")


def test_keys_expire_after_24_hours(api):
    api.create(SEED_BODY, **{"Idempotency-Key": "yesterday"})
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=24, seconds=1))

    response = api.create(SEED_BODY, **{"Idempotency-Key": "yesterday"})

    assert response.status_code == 201
    assert not response.has_header("Idempotent-Replayed")
    assert CheckoutSession.objects.count() == 2


def test_patch_replays_too(api, org):
    session = make_session(org=org)
    path = f"/v0/checkout/sessions/{session.public_id}"

    first = api.patch(path, {"extendExpiry": 10}, **{"Idempotency-Key": "extend-1"})
    again = api.patch(path, {"extendExpiry": 10}, **{"Idempotency-Key": "extend-1"})

    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert session.events.filter(kind="expiry_extended").count() == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "ключ"])
def test_invalid_keys_are_400(api, key):
    response = api.create(SEED_BODY, **{"Idempotency-Key": key})

    assert response.status_code == 400
    assert error_of(response)["param"] == "Idempotency-Key"
    assert not CheckoutSession.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_create_one_session(org):
    plain_key = create_api_key(org=org, mode="test")[1]
    barrier = threading.Barrier(4)
    responses = []

    def create():
        try:
            barrier.wait()
            responses.append(
                ApiClient(plain_key).create(SEED_BODY, **{"Idempotency-Key": "double-click"})
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert CheckoutSession.objects.count() == 1
    statuses = sorted(response.status_code for response in responses)
    assert statuses.count(201) >= 1
    assert set(statuses) <= {201, 409}
    created = {r.json()["id"] for r in responses if r.status_code == 201}
    assert len(created) == 1


class WorkerKilled(BaseException):
    """Stands for the process dying (not an error the API could answer)."""


def test_a_crash_before_the_response_is_stored_leaves_no_session_and_the_retry_creates_one(
    api, monkeypatch
):
    def killed(unanswered_claim, response):
        assert CheckoutSession.objects.count() == 1  # the session was written already
        raise WorkerKilled

    monkeypatch.setattr("checkout.api.idempotency._store_response", killed)
    with pytest.raises(WorkerKilled):
        api.create(SEED_BODY, **{"Idempotency-Key": "order-1001"})
    assert not CheckoutSession.objects.exists()
    monkeypatch.undo()

    retry = api.create(SEED_BODY, **{"Idempotency-Key": "order-1001"})
    again = api.create(SEED_BODY, **{"Idempotency-Key": "order-1001"})

    assert retry.status_code == 201
    assert again.content == retry.content
    assert CheckoutSession.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_request_that_outlived_its_lease_undoes_its_session_for_the_retry_that_took_over(
    org, monkeypatch
):
    from checkout.api import views

    plain_key = create_api_key(org=org, mode="test")[1]
    create = views.create_checkout_session
    first_created, first_may_finish = threading.Event(), threading.Event()

    def slow_create(**kwargs):
        session = create(**kwargs)
        if threading.current_thread().name == "first":
            first_created.set()
            first_may_finish.wait(timeout=10)
        return session

    monkeypatch.setattr(views, "create_checkout_session", slow_create)
    responses = {}

    def send(name):
        try:
            responses[name] = ApiClient(plain_key).create(
                SEED_BODY, **{"Idempotency-Key": "order-1001"}
            )
        finally:
            connection.close()

    first = threading.Thread(target=send, args=("first",), name="first")
    first.start()
    assert first_created.wait(timeout=10)
    # The first request is still running when its lease ends: a retry takes the key over.
    first_claim = IdempotencyRecord.objects.get(key="order-1001")
    IdempotencyRecord.objects.update(created_at=timezone.now() - CLAIM_LEASE)
    retry = threading.Thread(target=send, args=("retry",), name="retry")
    retry.start()
    while not IdempotencyRecord.objects.exclude(pk=first_claim.pk).exists():
        assert retry.is_alive()
        time.sleep(0.01)
    first_may_finish.set()
    first.join()
    retry.join()

    assert responses["first"].status_code == 409
    assert error_of(responses["first"])["code"] == "idempotency_key_in_use"
    assert responses["retry"].status_code == 201
    [session] = CheckoutSession.objects.all()
    assert session.public_id == responses["retry"].json()["id"]
