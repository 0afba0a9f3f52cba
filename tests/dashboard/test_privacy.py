"""Settings → Customer data: owners erase one customer's personal data (both modes) through
``checkout.erasure``; members, other orgs and anonymous visitors can't."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from checkout.choices import EventKind
from checkout.models import CheckoutSession, Order
from checkout.rollup import advance_rollup, status_counts
from orgs.models import AuditEntry, Mode
from tests.factories import MembershipFactory, OrganizationFactory, make_session

pytestmark = pytest.mark.django_db

ANN = "ann@example.com"


def page_url(org, mode="test/"):
    return f"/dashboard/{org.slug}/{mode}privacy/"


def erase_url(org, mode="test/"):
    return f"{page_url(org, mode)}erase"


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_owner_erases_a_customer_after_typing_the_address_twice(org, owner):
    paid = make_session(org=org, customer_email=ANN, paid=True)
    live = make_session(org=org, mode=Mode.LIVE, customer_email=ANN)
    client = logged_in(owner)

    response = client.post(erase_url(org), {"email": "Ann@Example.com", "email_again": ANN})

    assert response.status_code == 303
    assert response["Location"] == page_url(org)
    page = client.get(response["Location"]).content.decode()
    assert "from 2 checkout session(s) and 2 order(s)" in page
    assert ANN not in page
    assert not CheckoutSession.objects.filter(customer_email=ANN).exists()
    assert not Order.objects.filter(customer_email=ANN).exists()
    event = paid.events.get(kind=EventKind.CUSTOMER_ERASED)
    assert event.actor_user == owner
    assert live.events.filter(kind=EventKind.CUSTOMER_ERASED).exists()
    assert AuditEntry.objects.filter(org=org, action=AuditEntry.Action.CUSTOMER_ERASED).exists()


def test_the_page_has_the_form_and_is_in_the_sidebar_for_owners(org, owner):
    html = logged_in(owner).get(page_url(org)).content.decode()

    assert 'name="email_again"' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert f'href="{page_url(org)}" aria-current="page">Customer data' in html


def test_a_different_confirmation_erases_nothing(org, owner):
    make_session(org=org, customer_email=ANN)

    response = logged_in(owner).post(
        erase_url(org), {"email": ANN, "email_again": "ann@examp1e.com"}
    )

    assert response.status_code == 400
    assert "The two addresses differ" in response.content.decode()
    assert CheckoutSession.objects.filter(customer_email=ANN).count() == 1


@pytest.mark.parametrize("junk", ["ann\x00@example.com", "nobody", "ann@exa mple.com"])
def test_junk_email_is_a_field_error(org, owner, junk):
    make_session(org=org, customer_email=ANN)

    response = logged_in(owner).post(erase_url(org), {"email": junk, "email_again": junk})

    assert response.status_code == 400
    assert 'id="id_email_error"' in response.content.decode()
    assert CheckoutSession.objects.filter(customer_email=ANN).count() == 1


def test_an_unknown_customer_is_said_so(org, owner):
    client = logged_in(owner)
    response = client.post(erase_url(org), {"email": ANN, "email_again": ANN}, follow=True)

    assert "nothing to erase" in response.content.decode()
    assert not AuditEntry.objects.filter(action=AuditEntry.Action.CUSTOMER_ERASED).exists()


def test_a_member_gets_403_and_nothing_changes(org, member):
    make_session(org=org, customer_email=ANN)
    client = logged_in(member)

    assert client.get(page_url(org)).status_code == 403
    response = client.post(erase_url(org), {"email": ANN, "email_again": ANN})

    assert response.status_code == 403
    assert CheckoutSession.objects.filter(customer_email=ANN).count() == 1
    assert (
        "Customer data</a>" not in client.get(f"/dashboard/{org.slug}/test/team/").content.decode()
    )


def test_an_owner_of_another_org_gets_404(org):
    make_session(org=org, customer_email=ANN)
    stranger = MembershipFactory(org=OrganizationFactory()).user

    response = logged_in(stranger).post(erase_url(org), {"email": ANN, "email_again": ANN})

    assert response.status_code == 404
    assert CheckoutSession.objects.filter(customer_email=ANN).count() == 1


def test_anonymous_is_sent_to_log_in(org):
    response = Client().post(erase_url(org), {"email": ANN, "email_again": ANN})

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login") or "login" in response["Location"]
    assert CheckoutSession.objects.filter(customer_email=ANN).count() == 0


def test_get_of_the_erase_url_is_405(org, owner):
    assert logged_in(owner).get(erase_url(org)).status_code == 405


def test_erasure_needs_csrf(org, owner):
    make_session(org=org, customer_email=ANN)
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)

    response = client.post(erase_url(org), {"email": ANN, "email_again": ANN})

    assert response.status_code == 403
    assert CheckoutSession.objects.filter(customer_email=ANN).count() == 1


def test_session_counts_list_and_search_are_unchanged_by_erasure(org, owner):
    make_session(org=org, customer_email=ANN, paid=True)
    make_session(org=org, customer_email=ANN, failed_attempts=2)
    make_session(org=org, customer_email=ANN, created_at=timezone.now() - timedelta(days=2))
    make_session(org=org, customer_email="bob@example.com")
    advance_rollup(timezone.now())  # the expired one is counted from the rollup
    client = logged_in(owner)
    before = status_counts(org, Mode.TEST)
    listed_before = client.get(f"/dashboard/{org.slug}/test/sessions/").content.decode()

    client.post(erase_url(org), {"email": ANN, "email_again": ANN})

    assert status_counts(org, Mode.TEST) == before
    listed = client.get(f"/dashboard/{org.slug}/test/sessions/").content.decode()
    assert listed.count("<tr") == listed_before.count("<tr")
    assert ANN not in listed
    found = client.get(f"/dashboard/{org.slug}/test/sessions/?q=bob%40example.com")
    assert "bob@example.com" in found.content.decode()
    assert ANN not in client.get(f"/dashboard/{org.slug}/test/sessions/?q=ann").content.decode()
