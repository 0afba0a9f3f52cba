"""GET /v0/checkout/sessions/{id} and the keyset-paginated list."""

from datetime import timedelta

import pytest
from django.utils import timezone

from checkout.models import CheckoutSession
from checkout.session_json import session_object
from tests.checkout.api.client import error_of
from tests.factories import expired_session, make_session


def test_retrieve_returns_the_session_object(api, org):
    created = api.create().json()

    response = api.get(f"/v0/checkout/sessions/{created['id']}")

    assert response.status_code == 200
    assert response.json() == created


def test_retrieve_shows_the_derived_status(api, org):
    paid = make_session(org=org, paid=True)
    failed = make_session(org=org, failed_attempts=2)
    expired = expired_session(org=org)

    statuses = {
        session.public_id: api.get(f"/v0/checkout/sessions/{session.public_id}").json()
        for session in (paid, failed, expired)
    }

    assert statuses[paid.public_id]["status"] == "succeeded"
    assert statuses[paid.public_id]["order"]["paidAt"].endswith("Z")
    assert statuses[failed.public_id]["status"] == "failed"
    assert statuses[failed.public_id]["failedAttempts"] == 2
    assert statuses[expired.public_id]["status"] == "expired"
    assert statuses[expired.public_id]["active"] is False


def test_session_of_another_org_is_404(api, other_org_api):
    other_id = other_org_api.create().json()["id"]

    response = api.get(f"/v0/checkout/sessions/{other_id}")

    assert response.status_code == 404
    assert error_of(response)["code"] == "resource_missing"


def test_session_of_another_mode_is_404(api, org):
    live = make_session(org=org, mode="live")

    response = api.get(f"/v0/checkout/sessions/{live.public_id}")

    assert response.status_code == 404


@pytest.mark.parametrize("session_id", ["cs_test_doesnotexist", "nope", "cs_test_%00", "ünï"])
def test_unknown_ids_are_404(api, session_id):
    response = api.get(f"/v0/checkout/sessions/{session_id}")

    assert response.status_code == 404
    assert error_of(response)["type"] == "invalid_request_error"


def _sessions_created_minutes_apart(org, count):
    start = timezone.now() - timedelta(hours=2)
    return [
        make_session(org=org, created_at=start + timedelta(minutes=minute))
        for minute in range(count)
    ]


def test_list_is_newest_first_and_paginates_with_starting_after(api, org):
    sessions = _sessions_created_minutes_apart(org, 5)
    newest_first = [session.public_id for session in reversed(sessions)]

    first = api.get("/v0/checkout/sessions", {"limit": 2}).json()
    second = api.get(
        "/v0/checkout/sessions", {"limit": 2, "startingAfter": first["data"][-1]["id"]}
    ).json()
    third = api.get(
        "/v0/checkout/sessions", {"limit": 2, "startingAfter": second["data"][-1]["id"]}
    ).json()

    assert first["object"] == "list"
    assert [s["id"] for s in first["data"] + second["data"] + third["data"]] == newest_first
    assert (first["hasMore"], second["hasMore"], third["hasMore"]) == (True, True, False)


def test_keyset_pagination_breaks_ties_on_equal_creation_times(api, org):
    moment = timezone.now() - timedelta(minutes=5)
    sessions = [make_session(org=org, created_at=moment) for _ in range(3)]

    pages, after = [], None
    for _ in range(3):
        params = {"limit": 1} | ({"startingAfter": after} if after else {})
        page = api.get("/v0/checkout/sessions", params).json()
        pages += [s["id"] for s in page["data"]]
        after = pages[-1]

    assert sorted(pages) == sorted(s.public_id for s in sessions)
    assert len(set(pages)) == 3


def test_list_defaults_to_ten(api, org):
    _sessions_created_minutes_apart(org, 12)

    body = api.get("/v0/checkout/sessions").json()

    assert len(body["data"]) == 10
    assert body["hasMore"] is True


def test_list_filters_by_derived_status(api, org):
    make_session(org=org, paid=True)
    failed = make_session(org=org, failed_attempts=1)
    expired_session(org=org)
    make_session(org=org)

    body = api.get("/v0/checkout/sessions", {"status": "failed"}).json()

    assert [s["id"] for s in body["data"]] == [failed.public_id]
    assert body["data"][0]["status"] == "failed"


def test_list_only_shows_the_keys_org_and_mode(api, org, other_org_api):
    mine = make_session(org=org)
    make_session(org=org, mode="live")
    other_org_api.create()

    body = api.get("/v0/checkout/sessions").json()

    assert [s["id"] for s in body["data"]] == [mine.public_id]


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"status": "paid"}, "status"),
        ({"startingAfter": "not-an-id"}, "startingAfter"),
        ({"startingAfter": "cs_test_unknown"}, "startingAfter"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_invalid_list_parameters_are_400(api, params, param):
    response = api.get("/v0/checkout/sessions", params)

    assert response.status_code == 400
    assert error_of(response)["param"] == param


def test_starting_after_a_session_of_another_org_is_400(api, other_org_api):
    other_id = other_org_api.create().json()["id"]

    response = api.get("/v0/checkout/sessions", {"startingAfter": other_id})

    assert response.status_code == 400


@pytest.mark.parametrize("limit", [1, 100])
def test_list_takes_a_fixed_number_of_queries(api, org, limit, django_assert_max_num_queries):
    sessions = _sessions_created_minutes_apart(org, 12)

    # key lookup, last-used update, the key's request count, cursor, sessions, their items
    with django_assert_max_num_queries(6):
        response = api.get(
            "/v0/checkout/sessions", {"limit": limit, "startingAfter": sessions[-1].public_id}
        )

    assert response.status_code == 200
    assert len(response.json()["data"]) == min(limit, 11)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("offset", "status", "active"), [(-1, "open", True), (0, "expired", False)]
)
def test_status_and_active_are_derived_from_one_now(org, offset, status, active):
    session = make_session(org=org)
    # "now" of the request: a second before expiry, or the very moment it expires.
    now = session.expires_at + timedelta(seconds=offset)
    annotated = CheckoutSession.objects.with_status(now).with_details().get(pk=session.pk)

    shown = session_object(annotated)

    assert (shown.status, shown.active) == (status, active)
