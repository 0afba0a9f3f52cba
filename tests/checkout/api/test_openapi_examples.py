"""The docs page's "Try it out" starts from the request body examples in /v0/openapi.json:
sent as they are, with a test key, they succeed."""

import pytest
from django.test import Client

from checkout.choices import EventKind
from checkout.models import CheckoutSession
from tests.factories import make_session

pytestmark = pytest.mark.django_db


def operation(schema: dict, operation_id: str) -> dict:
    for path_item in schema["paths"].values():
        for candidate in path_item.values():
            if candidate.get("operationId") == operation_id:
                return candidate
    raise AssertionError(f"no operation {operation_id}")


def body_examples(schema: dict, operation_id: str) -> list[dict]:
    """Every example a client is shown for the operation's JSON body: the media type's example
    (what Swagger UI fills in) and the body schema's ``examples``."""
    content = operation(schema, operation_id)["requestBody"]["content"]["application/json"]
    body_schema = schema["components"]["schemas"][content["schema"]["$ref"].rpartition("/")[2]]
    examples = [content["example"], *body_schema.get("examples", [])]
    assert examples, f"{operation_id} publishes no body example"
    return examples


def published_schema() -> dict:
    return Client().get("/v0/openapi.json").json()


def test_the_create_example_creates_a_session(api):
    for example in body_examples(published_schema(), "createCheckoutSession"):
        assert "paymentLinkId" not in example  # items and paymentLinkId exclude each other

        response = api.create(example)

        assert response.status_code == 201, response.json()
        assert response.json()["order"]["items"][0]["name"] == example["items"][0]["name"]
        assert response.json()["currency"] == example["currency"]


def test_the_update_example_extends_an_open_session(api, org):
    session = make_session(org=org)

    for example in body_examples(published_schema(), "updateCheckoutSession"):
        response = api.patch(f"/v0/checkout/sessions/{session.public_id}", example)

        assert response.status_code == 200, response.json()
    assert (
        CheckoutSession.objects.get(pk=session.pk)
        .events.filter(kind=EventKind.EXPIRY_EXTENDED)
        .exists()
    )
