"""PATCH /v0/checkout/sessions/{id} with extendExpiry."""

from datetime import datetime, timedelta

import pytest

from checkout.choices import EventKind
from checkout.models import CheckoutSession
from tests.checkout.api.client import error_of
from tests.factories import expired_session, make_session


def _expires_at(session_object) -> datetime:
    return datetime.fromisoformat(session_object["expiresAt"])


def test_extend_expiry_adds_minutes_to_the_current_expiry(api):
    created = api.create().json()

    response = api.patch(f"/v0/checkout/sessions/{created['id']}", {"extendExpiry": 30})

    assert response.status_code == 200
    assert _expires_at(response.json()) - _expires_at(created) == timedelta(minutes=30)


def test_extend_expiry_records_an_event(api, org):
    session = make_session(org=org)

    api.patch(f"/v0/checkout/sessions/{session.public_id}", {"extendExpiry": 15})

    event = session.events.get(kind=EventKind.EXPIRY_EXTENDED)
    assert event.data["minutes"] == 15
    session.refresh_from_db()
    assert event.data["expires_at"] == session.expires_at.isoformat()


def test_extending_a_paid_session_is_409(api, org):
    session = make_session(org=org, paid=True)
    before = session.expires_at

    response = api.patch(f"/v0/checkout/sessions/{session.public_id}", {"extendExpiry": 30})

    assert response.status_code == 409
    assert error_of(response)["code"] == "session_already_paid"
    session.refresh_from_db()
    assert session.expires_at == before


def test_extending_an_expired_session_is_409(api, org):
    session = expired_session(org=org)

    response = api.patch(f"/v0/checkout/sessions/{session.public_id}", {"extendExpiry": 30})

    assert response.status_code == 409
    assert error_of(response)["code"] == "session_expired"


@pytest.mark.parametrize(
    "body", [{"extendExpiry": 0}, {"extendExpiry": 1441}, {"extendExpiry": 1.5}, {}, []]
)
def test_invalid_extensions_are_400(api, org, body):
    session = make_session(org=org)

    response = api.patch(f"/v0/checkout/sessions/{session.public_id}", body)

    assert response.status_code == 400
    assert not session.events.filter(kind=EventKind.EXPIRY_EXTENDED).exists()


@pytest.mark.parametrize("minutes", [1, 1440])
def test_extension_bounds_are_accepted(api, org, minutes):
    session = make_session(org=org)

    response = api.patch(f"/v0/checkout/sessions/{session.public_id}", {"extendExpiry": minutes})

    assert response.status_code == 200


def test_extending_another_orgs_session_is_404(api, other_org_api):
    other_id = other_org_api.create().json()["id"]

    response = api.patch(f"/v0/checkout/sessions/{other_id}", {"extendExpiry": 30})

    assert response.status_code == 404
    assert CheckoutSession.objects.get(public_id=other_id).events.count() == 1
