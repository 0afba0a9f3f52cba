"""Every failure under /v0/ is the JSON error object: wrong methods and paths, bodies that are
too big or not JSON. Plus the published schema and its docs page."""

import json
import re

import pytest
from django.test import Client

from checkout.models import CheckoutSession
from tests.checkout.api.client import SEED_BODY, error_of


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
