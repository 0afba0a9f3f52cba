"""Per-key request limits: the request after the window's last allowed one is a 429
``rate_limit_error`` in the API's error shape with ``Retry-After``; other keys are unaffected;
the next window passes again. PostgreSQL: concurrent requests never get past the limit."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from orgs.services import create_api_key
from tests.checkout.api.client import ApiClient, error_of
from tests.concurrency import at_once
from tests.factories import OrganizationFactory

LIST = "/v0/checkout/sessions"


def window_start(seconds: int = 10) -> datetime:
    """The start of a fresh rate-limit window, a little ahead (so a test runs inside one)."""
    now = timezone.now().timestamp()
    return datetime.fromtimestamp((now // seconds + 1) * seconds, tz=UTC)


@pytest.mark.django_db
def test_the_request_after_the_limit_is_429_with_retry_after_and_the_error_object(api):
    start = window_start()
    with time_machine.travel(start, tick=False):
        allowed = [api.get(LIST).status_code for _ in range(100)]
    with time_machine.travel(start + timedelta(seconds=3.5), tick=False):
        refused = api.get(LIST)

    assert allowed == [200] * 100
    assert refused.status_code == 429
    assert refused["Retry-After"] == "7"  # seconds left in the 10-second window, rounded up
    assert refused["Cache-Control"] == "no-store"
    assert error_of(refused) == {
        "type": "rate_limit_error",
        "code": "rate_limit_exceeded",
        "param": None,
        "message": "Too many requests with this API key: at most 100 every 10 seconds. "
        "Retry after 7 seconds.",
    }


@pytest.mark.django_db
def test_every_endpoint_counts_against_the_key(api, settings):
    settings.API_RATE_LIMIT_REQUESTS = 3
    with time_machine.travel(window_start(), tick=False):
        created = api.create()
        api.get(f"{LIST}/{created.json()['id']}")
        api.patch(f"{LIST}/{created.json()['id']}", {"extendExpiry": 5})

        refused = api.create()

    assert refused.status_code == 429
    assert error_of(refused)["type"] == "rate_limit_error"


@pytest.mark.django_db
def test_another_key_is_unaffected(api, org, settings):
    settings.API_RATE_LIMIT_REQUESTS = 2
    same_org = ApiClient(create_api_key(org=org, mode="test")[1])
    other_org = ApiClient(create_api_key(org=OrganizationFactory(), mode="test")[1])
    with time_machine.travel(window_start(), tick=False):
        for _ in range(3):
            api.get(LIST)

        assert api.get(LIST).status_code == 429
        assert same_org.get(LIST).status_code == 200
        assert other_org.get(LIST).status_code == 200


@pytest.mark.django_db
def test_the_next_window_passes_again(api, settings):
    settings.API_RATE_LIMIT_REQUESTS = 2
    start = window_start()
    with time_machine.travel(start, tick=False):
        for _ in range(5):
            api.get(LIST)
        assert api.get(LIST).status_code == 429

    with time_machine.travel(start + timedelta(seconds=10), tick=False):
        assert api.get(LIST).status_code == 200


@pytest.mark.django_db
def test_the_window_is_a_setting(api, settings):
    settings.API_RATE_LIMIT_REQUESTS = 1
    settings.API_RATE_LIMIT_WINDOW_SECONDS = 60
    start = window_start(60)
    with time_machine.travel(start, tick=False):
        api.get(LIST)
    with time_machine.travel(start + timedelta(seconds=45), tick=False):
        refused = api.get(LIST)

    assert refused.status_code == 429
    assert refused["Retry-After"] == "15"


@pytest.mark.django_db
def test_a_limit_of_zero_turns_it_off(api, settings):
    settings.API_RATE_LIMIT_REQUESTS = 0

    statuses = {api.get(LIST).status_code for _ in range(5)}

    assert statuses == {200}


@pytest.mark.django_db
def test_requests_without_a_valid_key_are_401_not_counted_against_anyone(api, settings):
    settings.API_RATE_LIMIT_REQUESTS = 1
    with time_machine.travel(window_start(), tick=False):
        for _ in range(5):
            assert ApiClient("sk_test_wrong").get(LIST).status_code == 401

        assert api.get(LIST).status_code == 200


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_never_pass_the_limit(org, settings):
    settings.API_RATE_LIMIT_REQUESTS = 25
    settings.API_RATE_LIMIT_WINDOW_SECONDS = 3600  # one window for the whole test
    key = create_api_key(org=org, mode="test")[1]
    lock = threading.Lock()
    statuses: list[int] = []

    def burst():
        client = ApiClient(key)
        for _ in range(5):
            status = client.get(LIST).status_code
            with lock:
                statuses.append(status)

    with time_machine.travel(window_start(3600)):  # ticking, from a window's start
        at_once(burst, threads=10)

    assert sorted(set(statuses)) == [200, 429]
    assert statuses.count(200) == 25
