"""The live list: a poll that finds nothing new is a 204 costing one query on sessions; new
sessions, payments, declines and expiries make it answer with the tabs and rows as they are."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from checkout.models import CheckoutSession
from tests.factories import expired_session, make_session

pytestmark = pytest.mark.django_db

LIST = "/dashboard/acme-test/test/sessions/"
HTMX = {"HX-Request": "true"}


@pytest.fixture
def merchant(client, member):
    client.force_login(member)
    return client


def poll_url(client, **params) -> str:
    """The poll URL the list page carries, as the browser's script reads it."""
    url = client.get(LIST, params, headers=HTMX).context["poll_url"]
    assert url
    return url


def test_nothing_new_is_204_with_no_body_and_one_sessions_query(
    merchant, org, django_assert_num_queries
):
    for _ in range(3):
        make_session(org=org)
    url = poll_url(merchant)
    # The login session, the user, the membership, then one query on checkout sessions.
    with django_assert_num_queries(4) as queries:
        response = merchant.get(url, headers=HTMX)
    assert response.status_code == 204
    assert response.content == b""
    on_sessions = [
        q["sql"] for q in queries.captured_queries if "checkout_checkoutsession" in q["sql"]
    ]
    assert len(on_sessions) == 1
    assert '"expires_at" >' in on_sessions[0]


def test_a_new_session_is_sent_with_the_counts(merchant, org):
    make_session(org=org, customer_email="first@example.com")
    url = poll_url(merchant)
    make_session(org=org, customer_email="newcomer@example.com")
    response = merchant.get(url, headers=HTMX)
    assert response.status_code == 200
    assert "newcomer@example.com" in response.text
    assert '<div id="results"' in response.text and "<html" not in response.text
    assert {tab["label"]: tab["count"] for tab in response.context["tabs"]}["All"] == 2
    # The answer carries the next poll, which finds nothing new.
    assert merchant.get(response.context["poll_url"], headers=HTMX).status_code == 204


def test_a_payment_changes_the_list(merchant, org):
    session = make_session(org=org)
    url = poll_url(merchant, status="succeeded")
    CheckoutSession.objects.filter(pk=session.pk).update(is_paid=True)
    response = merchant.get(url, headers=HTMX)
    assert response.status_code == 200
    assert [row.pk for row in response.context["page"].rows] == [session.pk]


def test_a_decline_changes_the_list(merchant, org):
    session = make_session(org=org)
    url = poll_url(merchant)
    CheckoutSession.objects.filter(pk=session.pk).update(failed_attempts=1)
    response = merchant.get(url, headers=HTMX)
    assert response.status_code == 200
    assert response.context["page"].rows[0].status == "failed"


def test_a_session_running_out_changes_the_list(merchant, org):
    make_session(org=org, expires_in_minutes=15)
    url = poll_url(merchant)
    assert merchant.get(url, headers=HTMX).status_code == 204
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        response = merchant.get(url, headers=HTMX)
    assert response.status_code == 200
    assert response.context["page"].rows[0].status == "expired"


def test_a_change_in_another_mode_or_org_is_not_news(merchant, org):
    url = poll_url(merchant)
    make_session(org=org, mode="live")
    make_session()
    assert merchant.get(url, headers=HTMX).status_code == 204


def test_only_the_first_page_polls(merchant, org):
    for _ in range(26):
        make_session(org=org)
    first = merchant.get(LIST)
    assert "data-poll-url=" in first.text
    older = merchant.get(first.context["older_url"])
    assert "data-poll-url=" not in older.text


def test_opened_without_htmx_the_poll_url_is_the_full_page(merchant, org):
    url = poll_url(merchant)
    response = merchant.get(url)
    assert response.status_code == 200
    assert "<html" in response.text


def test_a_poll_with_a_broken_marker_gets_the_list(merchant, org):
    make_session(org=org)
    response = merchant.get(f"{LIST}poll?since=nonsense&v=x", headers=HTMX)
    assert response.status_code == 200
    assert '<div id="results"' in response.text


def test_a_list_drawn_over_a_day_ago_is_redrawn_without_reading_history(merchant, org):
    expired_session(org=org)  # nothing that can change: the marker alone would say 204
    url = poll_url(merchant)
    assert merchant.get(url, headers=HTMX).status_code == 204
    with time_machine.travel(timezone.now() + timedelta(days=1, minutes=1)):
        response = merchant.get(url, headers=HTMX)
    assert response.status_code == 200
    assert '<div id="results"' in response.text
