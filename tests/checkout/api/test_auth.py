"""Bearer API keys: 401 without a usable key; the key decides org and mode."""

import pytest
from django.utils import timezone

from orgs.models import ApiKey
from orgs.services import create_api_key, revoke_api_key
from tests.checkout.api.client import ApiClient, error_of


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer sk_test_wrong",
        "Basic dXNlcjpwYXNz",
        "sk_test_missingscheme",
        "Bearer pk_test_notasecretkey",
        "Bearer " + "sk_test_" + "x" * 5000,
    ],
)
def test_requests_without_a_valid_key_are_401(db, authorization):
    headers = {"Authorization": authorization} if authorization is not None else {}

    response = ApiClient(None).get("/v0/checkout/sessions", **headers)

    assert response.status_code == 401
    assert error_of(response)["type"] == "authentication_error"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_revoked_key_is_401(org):
    api_key, plain_key = create_api_key(org=org, mode="test")
    client = ApiClient(plain_key)
    assert client.get("/v0/checkout/sessions").status_code == 200

    revoke_api_key(api_key=api_key)

    assert client.get("/v0/checkout/sessions").status_code == 401
    assert client.create().status_code == 401


def test_using_a_key_records_when_it_was_last_used(org):
    api_key, plain_key = create_api_key(org=org, mode="test")
    before = timezone.now()

    ApiClient(plain_key).get("/v0/checkout/sessions")

    api_key.refresh_from_db()
    assert api_key.last_used_at >= before


def test_key_mode_decides_the_session_mode(org, settings):
    settings.LIVE_PAYMENT_PROCESSOR = "checkout.processors.TestProcessor"
    live = ApiClient(create_api_key(org=org, mode="live")[1])

    session = live.create().json()

    assert session["mode"] == "live"
    assert session["id"].startswith("cs_live_")


def test_auth_is_checked_before_the_body(db):
    response = ApiClient(None).post("/v0/checkout/sessions", raw="{broken")

    assert response.status_code == 401
    assert ApiKey.objects.count() == 0
