"""API error messages are ours, never pydantic's: each names its parameter as the client sent it
(``items[0].quantity``, ``Idempotency-Key``) and says what is allowed there, with the schema's
own bounds filled in."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkout.services import MAX_ITEMS, MAX_QUANTITY
from tests.checkout.api.client import error_of
from tests.factories import make_session

pytestmark = pytest.mark.django_db

ITEM = {"name": "Espresso beans", "quantity": 1, "unitPrice": 2400}
VALID_BODY = {
    "items": [ITEM],
    "currency": "USD",
    "customerEmail": "jenny.rosen@example.com",
    "successUrl": "https://example.com/thanks",
    "expiresInMinutes": 60,
    "requiredFields": {"phone": True, "location": False, "shippingAddress": False},
    "metadata": {"orderRef": "A-1001"},
}
# What pydantic says and we must not: its phrases, its types, its regular expressions.
PYDANTIC_PHRASES = (
    "should be",
    "Input should",
    "after validation",
    "String should",
    "pattern",
    "Value error,",
    "Field required",
    "type=",
    "^",
)


def assert_in_our_words(error: dict) -> None:
    # The parameter's own name is the client's text (an unknown key may well be "^").
    ours = error["message"].replace(error["param"] or "", "")
    for phrase in PYDANTIC_PHRASES:
        assert phrase not in ours, error
    if error["param"] is not None:
        assert error["param"] in error["message"], error


def with_items(**fields):
    return {"items": [ITEM], **fields}


@pytest.mark.parametrize(
    ("body", "param", "message"),
    [
        ({"items": []}, "items", f"Give between 1 and {MAX_ITEMS} items."),
        ({"items": [ITEM] * 101}, "items", "Give between 1 and 100 items."),
        ({"items": "two widgets"}, "items", "items must be an array of 1 to 100 objects."),
        (
            {"items": [None]},
            "items[0]",
            "items[0] must be an object with name, quantity and unitPrice.",
        ),
        (
            {"items": [ITEM, {**ITEM, "quantity": 0}]},
            "items[1].quantity",
            f"items[1].quantity must be a whole number from 1 to {MAX_QUANTITY}.",
        ),
        (
            {"items": [{**ITEM, "quantity": "3"}]},
            "items[0].quantity",
            "items[0].quantity must be a whole number from 1 to 10000.",
        ),
        (
            {"items": [{**ITEM, "quantity": 10**30}]},
            "items[0].quantity",
            "items[0].quantity must be a whole number from 1 to 10000.",
        ),
        (
            {"items": [{**ITEM, "unitPrice": 25.5}]},
            "items[0].unitPrice",
            "items[0].unitPrice must be a whole number from 0 to 10000000000.",
        ),
        (
            {"items": [{**ITEM, "name": ""}]},
            "items[0].name",
            "items[0].name must be a string of 1 to 250 characters.",
        ),
        (
            {"items": [{"name": "No price", "quantity": 1}]},
            "items[0].unitPrice",
            "Missing required parameter: items[0].unitPrice.",
        ),
        (
            with_items(currency="dollars"),
            "currency",
            "currency must be a three-letter ISO 4217 currency code, like USD.",
        ),
        (
            with_items(expiresInMinutes=14),
            "expiresInMinutes",
            "expiresInMinutes must be a whole number from 15 to 1440.",
        ),
        (
            with_items(metadata={f"k{n}": "v" for n in range(21)}),
            "metadata",
            "Give at most 20 keys in metadata.",
        ),
        (
            with_items(metadata={"count": 3}),
            "metadata.count",
            "metadata.count must be a string of at most 500 characters.",
        ),
        (
            with_items(metadata={"k" * 41: "v"}),
            "metadata",
            "Each key of metadata must be a string of 1 to 40 characters.",
        ),
        (
            with_items(requiredFields={"phone": "yes"}),
            "requiredFields.phone",
            "requiredFields.phone must be true or false.",
        ),
        (
            with_items(requiredFields=[]),
            "requiredFields",
            "requiredFields must be an object with phone, location and shippingAddress.",
        ),
        (with_items(unknownField=1), "unknownField", "Unknown parameter: unknownField."),
        (
            {"paymentLinkId": 7},
            "paymentLinkId",
            "paymentLinkId must be a string of at most 64 characters.",
        ),
        (
            with_items(currency="ZZZ"),
            "currency",
            "'ZZZ' is not an ISO 4217 currency code.",
        ),
        (
            {"items": [{**ITEM, "unitPrice": 0}]},
            "items",
            "Invalid items: The total is $0.00; a checkout charges at least $0.01.",
        ),
    ],
)
def test_a_refused_body_is_explained_in_our_words_naming_the_param(api, body, param, message):
    error = error_of(response := api.create(body))

    assert response.status_code == 400
    assert (error["param"], error["message"]) == (param, message)
    assert_in_our_words(error)


def test_a_body_that_is_not_an_object_says_so(api):
    error = error_of(api.post("/v0/checkout/sessions", raw="[]"))

    assert (error["param"], error["message"]) == (None, "The request body must be a JSON object.")


def test_an_own_validators_message_names_the_param_and_ends_its_sentence_once(api):
    items = [{"name": "Bad\x07name", "quantity": 1, "unitPrice": 100}]

    error = error_of(api.create({"items": items}))

    assert error["message"] == "Invalid items[0].name: Must not contain control characters."


@pytest.mark.parametrize("key", ["", "é", "x" * 256, "tab\tin it"])
def test_a_bad_idempotency_key_is_explained_naming_the_header(api, key):
    error = error_of(response := api.create(None, **{"Idempotency-Key": key}))

    assert response.status_code == 400
    assert error["param"] == "Idempotency-Key"
    assert error["message"] == "Idempotency-Key must be 1–255 printable ASCII characters."


@pytest.mark.parametrize(
    ("query", "param", "message"),
    [
        ({"limit": "ten"}, "limit", "limit must be a whole number from 1 to 100."),
        ({"limit": 101}, "limit", "limit must be a whole number from 1 to 100."),
        (
            {"status": "paid"},
            "status",
            "status must be one of open, succeeded, failed or expired.",
        ),
        (
            {"startingAfter": "ord_123"},
            "startingAfter",
            "startingAfter must be a checkout session id (cs_test_… or cs_live_…).",
        ),
    ],
)
def test_a_refused_list_query_is_explained_naming_the_param(api, query, param, message):
    error = error_of(response := api.get("/v0/checkout/sessions", query))

    assert response.status_code == 400
    assert (error["param"], error["message"]) == (param, message)


@pytest.mark.parametrize("minutes", [0, 1441, "30", 7.5, None, [30]])
def test_a_refused_extension_is_explained_with_its_bounds(api, org, minutes):
    session = make_session(org=org)

    error = error_of(
        api.patch(f"/v0/checkout/sessions/{session.public_id}", {"extendExpiry": minutes})
    )

    assert (error["param"], error["message"]) == (
        "extendExpiry",
        "extendExpiry must be a whole number from 1 to 1440.",
    )


# --- Any junk, anywhere: never pydantic's words -----------------------------------------------

JUNK = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=300),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=45), children, max_size=3)
    ),
    max_leaves=6,
)
# Each place in a valid body where a client can put something wrong.
PLACES = [
    ("items",),
    ("items", 0),
    ("items", 0, "name"),
    ("items", 0, "quantity"),
    ("items", 0, "unitPrice"),
    ("currency",),
    ("customerEmail",),
    ("successUrl",),
    ("callbackUrl",),
    ("expiresInMinutes",),
    ("requiredFields",),
    ("requiredFields", "shippingAddress"),
    ("metadata",),
    ("metadata", "orderRef"),
    ("paymentLinkId",),
    ("unknownField",),
]


def replaced(body, place, value):
    body = json.loads(json.dumps(body))
    *parents, last = place
    target = body
    for part in parents:
        target = target[part]
    target[last] = value
    return body


@pytest.mark.parametrize("place", PLACES, ids=lambda place: ".".join(map(str, place)))
@given(value=JUNK)
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_junk_in_any_field_is_refused_in_our_words_naming_the_param(api, place, value):
    response = api.create(replaced(VALID_BODY, place, value))

    if response.status_code != 201:
        error = error_of(response)
        assert response.status_code == 400
        assert error["param"] is not None
        assert_in_our_words(error)


@given(value=JUNK)
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_junk_extensions_are_refused_in_our_words(api, org, value):
    session = make_session(org=org)

    response = api.patch(f"/v0/checkout/sessions/{session.public_id}", {"extendExpiry": value})

    if response.status_code != 200:
        error = error_of(response)
        assert error["param"] == "extendExpiry"
        assert_in_our_words(error)
