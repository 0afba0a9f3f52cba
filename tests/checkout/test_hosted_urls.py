"""Ids in hosted URLs have their own shape (session, payment link, portal token): anything else
is the 404 page before a view or a query sees it, so no path answers a server error. On
PostgreSQL a NUL byte in a query parameter is a DataError: these paths used to be 500s there, so
run this file on PostgreSQL (it runs on SQLite too)."""

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkout.models import TimelineEvent
from checkout.portal import PortalScope, portal_path
from tests.factories import PaymentLinkFactory, card_form_data, make_session

NOT_FOUND = "We can't find this page"
HOSTED_PATHS = [
    "/pay/{}",
    "/checkout/{}",
    "/checkout/{}/details",
    "/checkout/{}/pay",
    "/checkout/{}/thank-you",
    "/portal/{}",
]
FORM = {"email": "zoe@example.com", "phone": "+1 415 555 0100", **card_form_data()}


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize(
    "path",
    [
        "/pay/%00",
        "/pay/plink_%00",
        "/checkout/%00",
        "/checkout/cs_test_a%00",
        "/checkout/cs_test_%00/details",
        "/checkout/%00/pay",
        "/checkout/%00/thank-you",
        "/checkout/cs_prod_abcdefghijklmnopqrstuvwxyz",
        "/checkout/cs_test_" + "a" * 5000,
        "/checkout/cs_test_ab%C3%A9cdefghijklmnopqrstuvwxyz",
        "/portal/%00",
        "/portal/abc%00:1:sig",
    ],
)
def test_malformed_id_in_a_hosted_url_is_the_404_page(client, path, method):
    response = getattr(client, method)(path, FORM)

    assert response.status_code == 404
    assert NOT_FOUND in response.content.decode()


@pytest.mark.django_db
def test_real_ids_still_open_their_pages(client):
    session = make_session(paid=True)
    link = PaymentLinkFactory()

    assert client.get(f"/checkout/{session.public_id}").status_code == 200
    assert client.get(f"/checkout/{session.public_id}/thank-you").status_code == 200
    assert client.get(f"/pay/{link.public_id}").status_code == 303
    assert client.get(portal_path(session.order, scope=PortalScope.ORDER)).status_code == 200


@pytest.mark.django_db
def test_link_checkers_head_requests_get_the_pages_headers_and_change_nothing(client):
    """Mail scanners and link checkers send HEAD to the links in receipts and recovery emails:
    answered like GET, without a body, and nothing recorded."""
    session = make_session(paid=True)
    open_session = make_session()
    paths = [
        f"/checkout/{session.public_id}",
        f"/checkout/{session.public_id}/thank-you",
        f"/checkout/{open_session.public_id}",
        portal_path(session.order, scope=PortalScope.CUSTOMER),
    ]
    events_before = TimelineEvent.objects.count()

    for path in paths:
        response = client.head(path)
        assert (path, response.status_code, response.content) == (path, 200, b"")

    assert TimelineEvent.objects.count() == events_before
    # The POST-only steps send any other method back to the page, HEAD included.
    step = client.head(f"/checkout/{open_session.public_id}/pay")
    assert (step.status_code, step["Location"]) == (303, f"/checkout/{open_session.public_id}")


junk = st.one_of(
    st.text(max_size=60),  # any unicode, NUL and other control characters included
    st.sampled_from(["%00", "\x00", "%C0%80", "%FF%FE", "%2F..%2F", "é", "🙂", ":", "::", "."]),
    # Percent-encoded bytes that need not be UTF-8.
    st.binary(max_size=30).map(lambda raw: "".join(f"%{byte:02X}" for byte in raw)),
    st.integers(min_value=1, max_value=20_000).map(lambda n: "a" * n),  # very long
)
# A segment: junk alone, or a real id (session, link, portal token) with junk around it.
segments = st.tuples(st.sampled_from(["", "session", "link", "token"]), junk, st.booleans())


@pytest.mark.django_db
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    template=st.sampled_from(HOSTED_PATHS),
    segment=segments,
    method=st.sampled_from(["get", "post"]),
    htmx=st.booleans(),
)
def test_no_hosted_url_answers_a_server_error(template, segment, method, htmx):
    session = make_session()
    real_ids = {
        "": "",
        "session": session.public_id,
        "link": PaymentLinkFactory(org=session.org).public_id,
        "token": portal_path(make_session(paid=True).order, scope=PortalScope.ORDER).removeprefix(
            "/portal/"
        ),
    }
    real, extra, junk_first = segment
    value = extra + real_ids[real] if junk_first else real_ids[real] + extra
    browser = Client(headers={"HX-Request": "true"} if htmx else {})

    response = getattr(browser, method)(template.format(value), FORM)

    assert response.status_code < 500
