"""Our own 400/403/404/500 and CSRF failure pages: clear words, our styles, no inline style or
script (CSP would block them), nothing leaked."""

import re

import pytest
from django.test import Client
from django.views import defaults

from tests.factories import make_session

INLINE = re.compile(r"<style|\sstyle=|<script(?![^>]*\bsrc=)", re.IGNORECASE)


def assert_clean(html: str) -> None:
    assert not INLINE.search(html)
    assert "/static/css/checkout" in html
    assert "Traceback" not in html


@pytest.mark.django_db
def test_unknown_url_is_our_404(client):
    response = client.get("/no-such-page/")

    html = response.content.decode()
    assert response.status_code == 404
    assert "We can't find this page" in html
    assert_clean(html)


@pytest.mark.django_db
def test_post_without_csrf_token_is_our_403_page_and_saves_nothing():
    browser = Client(enforce_csrf_checks=True)
    session = make_session(customer_email="")

    response = browser.post(f"/checkout/{session.public_id}/details", {"email": "zoe@example.com"})

    html = response.content.decode()
    session.refresh_from_db()
    assert response.status_code == 403
    assert "This form has expired" in html
    assert_clean(html)
    assert session.customer_email == ""


def test_server_error_page_renders_without_a_request_context(rf):
    response = defaults.server_error(rf.get("/"))

    html = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong on our side" in html
    assert_clean(html)


@pytest.mark.parametrize(
    ("handler", "status", "text"),
    [
        (defaults.bad_request, 400, "couldn't understand"),
        (defaults.permission_denied, 403, "can't open this page"),
    ],
)
def test_bad_request_and_forbidden_pages(rf, handler, status, text):
    response = handler(rf.get("/"), exception=Exception("internal detail"))

    html = response.content.decode()
    assert response.status_code == status
    assert text in html
    assert "internal detail" not in html
    assert_clean(html)
