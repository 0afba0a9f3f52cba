"""A JSON API test client and the helpers the API tests share."""

import json

from django.test import Client

SEED_BODY = {
    "items": [{"name": "Custom Widget", "quantity": 3, "unitPrice": 2500}],
    "currency": "USD",
    "customerEmail": "jenny.rosen@example.com",
    "successUrl": "https://example.com/success",
}


class ApiClient:
    """A Django test client sending ``Authorization: Bearer <key>`` and JSON bodies."""

    def __init__(self, key: str | None):
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = Client(headers=headers)

    def get(self, path: str, params=None, **headers):
        return self.client.get(path, params or {}, headers=headers)

    def post(self, path: str, body=None, *, raw: str | bytes | None = None, **headers):
        data = raw if raw is not None else json.dumps(body)
        return self.client.post(path, data, content_type="application/json", headers=headers)

    def patch(self, path: str, body=None, **headers):
        return self.client.patch(
            path, json.dumps(body), content_type="application/json", headers=headers
        )

    def create(self, body=None, **headers):
        return self.post("/v0/checkout/sessions", SEED_BODY if body is None else body, **headers)


def error_of(response) -> dict:
    """The error object of a response, after checking the SPEC's shape."""
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"type", "code", "param", "message"}
    return body["error"]
