"""Bad input never breaks the hosted page: empty, huge, unicode (right-to-left, emoji), control
character and script-tag values in every field end as a form error or escaped output, never a
500. Hypothesis drives the forms, and the views through the test client for each set of
required fields, with and without HTMX."""

import re

import pytest
from django.test import Client
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from checkout.effective_settings import RequiredFieldSet
from checkout.forms import CardForm, DetailsForm
from checkout.models import CheckoutSession
from checkout.request_context import CustomerContext
from checkout.services import save_customer_details
from tests.factories import make_session, session_ready_to_pay

EVERYTHING_REQUIRED = RequiredFieldSet(phone=True, location=True, shipping_address=True)
DETAIL_FIELDS = list(DetailsForm(required_fields=EVERYTHING_REQUIRED).fields)
CARD_FIELDS = list(CardForm().fields)
SCRIPT = "<script>alert('pwned')</script>"
BAD_VALUES = ["", " ", "x" * 10_240, "Zoë 🙂 東京 مرحبا", SCRIPT, "\x00", "4242\x00"]

any_text = st.one_of(st.text(max_size=300), st.sampled_from(BAD_VALUES))
# Values that may well be valid, so the "accepted" branch is exercised too.
PLAUSIBLE_DETAILS = {
    "email": st.emails(),
    "phone": st.from_regex(r"\A\+?[0-9 ()\-]{4,45}\Z"),
    "country": st.sampled_from(["US", "GB", "JP", "XK", "ZZ", "EU", "us"]),
    "postal_code": st.from_regex(r"\A[A-Za-z0-9 \-]{1,25}\Z"),
    "shipping_name": st.text(min_size=1, max_size=250),
    "shipping_line1": st.text(min_size=1, max_size=250),
    "shipping_line2": st.text(max_size=250),
    "shipping_city": st.text(min_size=1, max_size=120),
    "shipping_state": st.text(max_size=120),
    "shipping_postal_code": st.from_regex(r"\A[A-Za-z0-9 \-]{1,25}\Z"),
    "shipping_country": st.sampled_from(["US", "DE", "ZZ"]),
}
PLAUSIBLE_CARD = {
    "number": st.sampled_from(["4242 4242 4242 4242", "378282246310005", "4000-0000-0000-0002"]),
    "expiry": st.from_regex(r"\A(0?[1-9]|1[0-2]) ?/ ?(3[0-9]|20[3-4][0-9])\Z"),
    "cvc": st.from_regex(r"\A[0-9]{3,4}\Z"),
}


def inputs(plausible: dict, anything: st.SearchStrategy[str] = any_text) -> st.SearchStrategy[dict]:
    """Every field plausible; or one field replaced by anything; or anything everywhere."""
    all_plausible = st.fixed_dictionaries(plausible)
    return st.one_of(
        all_plausible,
        st.tuples(all_plausible, st.sampled_from(list(plausible)), anything).map(
            lambda case: {**case[0], case[1]: case[2]}
        ),
        st.fixed_dictionaries({name: anything for name in plausible}),
    )


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(inputs(PLAUSIBLE_DETAILS))
def test_details_form_rejects_or_accepts_anything_and_valid_values_fit_the_columns(data):
    form = DetailsForm(data, required_fields=EVERYTHING_REQUIRED)

    event("accepted" if form.is_valid() else "rejected")
    if form.is_valid():
        for name, value in form.customer_details().items():
            column = CheckoutSession._meta.get_field(name)
            assert len(value) <= column.max_length
            assert "\x00" not in value
    else:
        assert form.errors


@settings(max_examples=300)
@given(inputs(PLAUSIBLE_CARD))
def test_card_form_rejects_or_accepts_anything_and_valid_cards_are_well_formed(data):
    form = CardForm(data)

    event("accepted" if form.is_valid() else "rejected")
    if form.is_valid():
        card = form.card_details()
        assert card.number.isdigit() and 12 <= len(card.number) <= 19
        assert 1 <= card.exp_month <= 12
        assert card.cvc.isdigit() and len(card.cvc) in (3, 4)
    else:
        assert form.errors


@pytest.mark.django_db
@pytest.mark.parametrize(
    "value", BAD_VALUES, ids=["empty", "blank", "10kB", "unicode", "script", "nul", "nul-digits"]
)
@pytest.mark.parametrize("field", DETAIL_FIELDS)
def test_bad_value_in_any_details_field_is_a_form_error_never_a_500(client, field, value):
    session = make_session(required_fields=EVERYTHING_REQUIRED)
    data = {
        "email": "zoe@example.com",
        "phone": "+1 415 555 0100",
        "country": "US",
        "postal_code": "94107",
        "shipping_name": "Zoë",
        "shipping_line1": "1 Main St",
        "shipping_city": "Springfield",
        "shipping_postal_code": "94107",
        "shipping_country": "US",
        field: value,
    }

    response = client.post(f"/checkout/{session.public_id}/details", data)

    assert response.status_code in (200, 303)
    assert SCRIPT not in response.content.decode()
    if response.status_code == 303:  # accepted: shown back escaped on the card step
        page = client.get(response["Location"]).content.decode()
        assert SCRIPT not in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    "value", BAD_VALUES, ids=["empty", "blank", "10kB", "unicode", "script", "nul", "nul-digits"]
)
@pytest.mark.parametrize("field", CARD_FIELDS)
def test_bad_value_in_any_card_field_is_a_form_error_and_not_an_attempt(client, field, value):
    session = session_ready_to_pay()
    data = {"number": "4242 4242 4242 4242", "expiry": "12 / 40", "cvc": "123", field: value}

    response = client.post(f"/checkout/{session.public_id}/pay", data)

    session.refresh_from_db()
    assert response.status_code == 200
    assert SCRIPT not in response.content.decode()
    assert session.failed_attempts == 0
    assert not session.order.is_paid


@pytest.mark.django_db
@pytest.mark.parametrize(
    "field", ["shipping_name", "shipping_line1", "shipping_line2", "shipping_city"]
)
def test_script_tag_in_an_accepted_field_is_shown_escaped(client, field):
    session = make_session(required_fields=RequiredFieldSet(shipping_address=True))
    details = {
        "email": "zoe@example.com",
        "shipping_name": "Zoë",
        "shipping_line1": "1 Main St",
        "shipping_city": "Springfield",
        "shipping_postal_code": "94107",
        "shipping_country": "US",
    }

    client.post(f"/checkout/{session.public_id}/details", details | {field: SCRIPT})
    html = client.get(f"/checkout/{session.public_id}").content.decode()

    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in html
    assert SCRIPT not in html


# --- Through the views: every step, every set of required fields, with and without HTMX ------

REQUIREMENTS = {
    "nothing": RequiredFieldSet(),
    "location": RequiredFieldSet(location=True),
    "shipping_address": RequiredFieldSet(shipping_address=True),
    "phone": RequiredFieldSet(phone=True),
}
# Details that satisfy every requirement above, keyed by session field (for the card step).
COMPLETE_DETAILS = {
    "customer_email": "zoe@example.com",
    "customer_phone": "+1 415 555 0100",
    "customer_country": "US",
    "customer_postal_code": "94107",
    "shipping_name": "Zoë",
    "shipping_line1": "1 Main St",
    "shipping_city": "Springfield",
    "shipping_postal_code": "94107",
    "shipping_country": "US",
}
HOSTILE_VALUES = [
    "",
    "x" * 10_240,
    "שלום עולם",  # right-to-left
    "\u202egnp.exe",  # right-to-left override
    "🙂👩‍👩‍👧🇯🇵",
    "\x00",
    "94\x00107",
    "\x01\x08\x1b[31m\x7f\r\n\t",
    SCRIPT,
    '"><script>alert(1)</script>',
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
]
hostile_text = st.one_of(
    st.sampled_from(HOSTILE_VALUES),
    st.text(max_size=200),
    st.lists(st.sampled_from(HOSTILE_VALUES[2:]), min_size=2, max_size=4).map("".join),
)
# Our only script tag is htmx, loaded from our static files; anything else was injected.
INJECTED_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=\"/static/)[^>]*>", re.IGNORECASE)


def hostile_inputs(plausible: dict) -> st.SearchStrategy[dict]:
    """``inputs`` with hostile text, sometimes plus fields the form does not know."""
    unknown = st.fixed_dictionaries({}, optional={"amount": hostile_text, "\x00": hostile_text})
    return st.tuples(inputs(plausible, hostile_text), unknown).map(lambda pair: pair[0] | pair[1])


def assert_safe(response, browser: Client) -> None:
    """No server error and no script of the customer's making, here or where it redirects."""
    assert response.status_code < 500
    assert not INJECTED_SCRIPT.search(response.content.decode())
    location = response.get("HX-Redirect") or response.get("Location")
    if location and location.startswith("/"):
        page = browser.get(location)
        assert page.status_code < 500
        assert not INJECTED_SCRIPT.search(page.content.decode())


@pytest.mark.django_db
@pytest.mark.parametrize("htmx", [False, True], ids=["no-js", "htmx"])
@pytest.mark.parametrize("requirement", REQUIREMENTS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=hostile_inputs(PLAUSIBLE_DETAILS))
def test_details_step_survives_hostile_input(requirement, htmx, data):
    browser = Client(headers={"HX-Request": "true"} if htmx else {})
    session = make_session(customer_email="", required_fields=REQUIREMENTS[requirement])

    response = browser.post(f"/checkout/{session.public_id}/details", data)

    session.refresh_from_db()
    event("accepted" if session.details_provided_at else "rejected")
    assert_safe(response, browser)


@pytest.mark.django_db
@pytest.mark.parametrize("htmx", [False, True], ids=["no-js", "htmx"])
@pytest.mark.parametrize("requirement", REQUIREMENTS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=hostile_inputs(PLAUSIBLE_CARD))
def test_card_step_survives_hostile_input(requirement, htmx, data):
    browser = Client(headers={"HX-Request": "true"} if htmx else {})
    session = make_session(customer_email="", required_fields=REQUIREMENTS[requirement])
    save_customer_details(session=session, details=COMPLETE_DETAILS, context=CustomerContext())

    response = browser.post(f"/checkout/{session.public_id}/pay", data)

    session.refresh_from_db()
    session.order.refresh_from_db()
    event("paid" if session.order.is_paid else "declined" if session.failed_attempts else "form")
    assert_safe(response, browser)


@pytest.mark.parametrize(
    "value", ["Eve\r\nBcc: x@evil.example", "1 Main\u202eSt", "\x1b[31mred", "\x7fCity"]
)
def test_details_form_refuses_control_and_bidi_characters_in_any_text_field(value):
    for field in ("shipping_name", "shipping_line1", "shipping_city", "shipping_state"):
        data = {
            "email": "jenny@example.com",
            "phone": "+1 415 555 0100",
            "country": "US",
            "postal_code": "94107",
            "shipping_name": "Jenny Rosen",
            "shipping_line1": "1 Market Street",
            "shipping_city": "San Francisco",
            "shipping_postal_code": "94107",
            "shipping_country": "US",
            field: value,
        }
        form = DetailsForm(data, required_fields=EVERYTHING_REQUIRED)

        assert not form.is_valid()
        assert list(form.errors) == [field]


@pytest.mark.django_db
@pytest.mark.parametrize("number", ["4242 4242 4242 4242 4242", "42424242424242424242"])
def test_a_card_number_longer_than_19_digits_is_refused_though_its_check_digit_fits(client, number):
    session = session_ready_to_pay()

    response = client.post(
        f"/checkout/{session.public_id}/pay", {"number": number, "expiry": "12 / 40", "cvc": "123"}
    )

    session.refresh_from_db()
    assert response.status_code == 200
    assert "Your card number is invalid." in response.content.decode()
    assert (session.failed_attempts, session.order.is_paid) == (0, False)
