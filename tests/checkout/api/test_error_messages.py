"""An API error message that wraps an inner message ends its sentence once."""

import pytest

from tests.checkout.api.client import error_of

pytestmark = pytest.mark.django_db


def test_api_error_wrapping_a_message_that_ends_a_sentence_ends_once(api):
    items = [{"name": "Bad\x07name", "quantity": 1, "unitPrice": 100}]

    error = error_of(api.create({"items": items}))

    assert error["message"] == "Invalid items[0].name: Must not contain control characters."
