"""Every failure under /v0/ is the JSON error object: wrong methods and paths, bodies that are
too big or not JSON. Plus the published schema and its docs page."""

import json
import re

import pytest
from django.test import Client

from checkout.models import CheckoutSession
from tests.checkout.api.client import SEED_BODY, error_of
from tests.factories import make_session


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_non_json_bodies_are_415(api, content_type):
    response = api.client.post(
        "/v0/checkout/sessions", json.dumps(SEED_BODY), content_type=content_type
    )

    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"


def test_non_json_patch_is_415(api):
    response = api.client.patch(
        "/v0/checkout/sessions/cs_test_x", "extendExpiry=5", content_type="text/plain"
    )

    assert response.status_code == 415


def test_bodies_over_1_mb_are_413(api):
    body = {**SEED_BODY, "metadata": {"padding": "x" * (1024 * 1024)}}

    response = api.create(body)

    assert response.status_code == 413
    assert error_of(response)["code"] == "request_too_large"
    assert not CheckoutSession.objects.exists()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("delete", "/v0/checkout/sessions"),
        ("put", "/v0/checkout/sessions"),
        ("post", "/v0/checkout/sessions/cs_test_abc"),
        ("delete", "/v0/checkout/sessions/cs_test_abc"),
        ("post", "/v0/openapi.json"),
        ("patch", "/v0/openapi.json"),
    ],
)
def test_wrong_methods_are_405_json(api, method, path):
    response = getattr(api.client, method)(path)

    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"
    assert response["Allow"]


@pytest.mark.parametrize(
    "path", ["/v0/", "/v0/nope", "/v0/checkout/sessions/", "/v0/checkout/sessions/a/b", "/v0/é"]
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_unknown_paths_are_404_json(api, path, method):
    response = getattr(api.client, method)(path)

    assert response.status_code == 404
    assert error_of(response)["code"] == "resource_missing"


def test_openapi_schema_is_published_with_the_error_object(db):
    schema = Client().get("/v0/openapi.json").json()

    assert set(schema["paths"]) == {
        "/v0/checkout/sessions",
        "/v0/checkout/sessions/{session_id}",
    }
    error = schema["components"]["schemas"]["ErrorDetail"]
    assert set(error["properties"]) == {"type", "code", "param", "message"}
    created = schema["paths"]["/v0/checkout/sessions"]["post"]["responses"]
    assert {"201", "400", "401", "409", "413", "415"} <= set(created)
    assert "hasMore" in schema["components"]["schemas"]["CheckoutSessionList"]["properties"]


def test_docs_page_has_no_inline_script_and_keeps_the_csp(db):
    response = Client().get("/v0/docs")

    html = response.content.decode()
    assert response.status_code == 200
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    for attributes in re.findall(r"<script([^>]*)>", html):
        assert "src=" in attributes or 'type="application/json"' in attributes
    assert "cdn." not in html


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_disallowed_host_is_the_json_error_object_not_an_html_page(api, method):
    response = getattr(api.client, method)(
        "/v0/checkout/sessions", headers={"Host": "evil.example"}
    )

    error = error_of(response)
    assert response.status_code == 400
    assert (error["code"], error["param"]) == ("bad_host", "Host")
    assert response["Cache-Control"] == "no-store"
    assert not CheckoutSession.objects.exists()


def test_a_disallowed_host_outside_the_api_keeps_the_html_page_with_its_csp(db):
    response = Client().get("/dashboard/", headers={"Host": "evil.example"})

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert "couldn't understand" in response.content.decode()
    assert "default-src 'self'" in response["Content-Security-Policy"]


def test_a_crash_in_a_middleware_is_a_json_500_under_the_api(api, monkeypatch):
    def crash(self, request):
        raise RuntimeError("session store down")

    monkeypatch.setattr(
        "django.contrib.sessions.middleware.SessionMiddleware.process_request", crash
    )
    api.client.raise_request_exception = False

    response = api.get("/v0/checkout/sessions")

    error = error_of(response)
    assert response.status_code == 500
    assert error["code"] == "internal_error"
    assert "session store down" not in response.content.decode()


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/v0/checkout/sessions", "", 200),
        ("POST", "/v0/checkout/sessions", json.dumps(SEED_BODY), 201),
        ("POST", "/v0/checkout/sessions", "{}", 400),
        ("GET", "/v0/checkout/sessions/cs_test_nope", "", 404),
        ("DELETE", "/v0/checkout/sessions", "", 405),
        ("GET", "/v0/nope", "", 404),
        ("GET", "/v0/openapi.json", "", 200),
    ],
)
def test_every_api_response_is_cache_control_no_store(api, method, path, body, status):
    response = api.client.generic(method, path, body, content_type="application/json")

    assert response.status_code == status
    assert response["Cache-Control"] == "no-store"


def test_unauthenticated_api_responses_are_no_store_too(db):
    response = Client().get("/v0/checkout/sessions")

    assert response.status_code == 401
    assert response["Cache-Control"] == "no-store"


@pytest.mark.parametrize("body", ["", "{}"])
def test_a_create_without_items_or_a_payment_link_names_items(api, body):
    response = api.post("/v0/checkout/sessions", raw=body)

    error = error_of(response)
    assert response.status_code == 400
    assert (error["code"], error["param"]) == ("parameter_missing", "items")
    assert error["message"] == "Missing required parameter: items or paymentLinkId."
    assert not CheckoutSession.objects.exists()


@pytest.mark.parametrize("body", ["", "{}"])
def test_an_update_without_extend_expiry_names_it(api, org, body):
    session = make_session(org=org)

    response = api.client.patch(
        f"/v0/checkout/sessions/{session.public_id}", body, content_type="application/json"
    )

    error = error_of(response)
    assert response.status_code == 400
    assert (error["code"], error["param"]) == ("parameter_missing", "extendExpiry")
    assert error["message"] == "Missing required parameter: extendExpiry."


def test_a_chunked_body_the_server_did_not_read_is_411_not_a_missing_parameter(api):
    # As runserver passes a chunked request: no Content-Length, the chunks left unread.
    response = api.client.generic(
        "POST",
        "/v0/checkout/sessions",
        json.dumps(SEED_BODY),
        content_type="application/json",
        HTTP_TRANSFER_ENCODING="chunked",
        CONTENT_LENGTH="",
    )

    error = error_of(response)
    assert response.status_code == 411
    assert error["code"] == "length_required"
    assert "Content-Length" in error["message"]
    assert not CheckoutSession.objects.exists()
