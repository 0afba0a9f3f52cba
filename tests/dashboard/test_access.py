"""Who sees which dashboard page: members of the org in the URL only; the mode is in the URL."""

import pytest

from tests.dashboard.conftest import dashboard_urls
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory, make_session

pytestmark = pytest.mark.django_db


def test_anonymous_visitor_is_sent_to_log_in_from_every_page(client, org, test_session):
    for url in dashboard_urls(org.slug, test_session.public_id, test_session.order.public_id):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/?next="), url


def test_member_of_another_org_gets_404_on_every_page(client, org, test_session):
    client.force_login(MembershipFactory(org=OrganizationFactory(slug="rival")).user)
    for url in dashboard_urls(org.slug, test_session.public_id, test_session.order.public_id):
        assert client.get(url).status_code == 404, url


def test_unknown_org_slug_is_404(client, member):
    client.force_login(member)
    assert client.get("/dashboard/no-such-org/test/sessions/").status_code == 404


def test_member_opens_every_page(client, org, member, test_session):
    client.force_login(member)
    for url in dashboard_urls(org.slug, test_session.public_id, test_session.order.public_id):
        response = client.get(url, follow=True)
        assert response.status_code == 200, url


def test_session_of_another_org_is_404_even_for_a_member(client, org, member):
    other = make_session(org=OrganizationFactory(slug="rival"))
    client.force_login(member)
    assert client.get(f"/dashboard/{org.slug}/test/sessions/{other.public_id}").status_code == 404


def test_test_session_is_404_in_live_mode(client, org, member, test_session):
    client.force_login(member)
    assert client.get(f"/dashboard/{org.slug}/sessions/{test_session.public_id}").status_code == 404


@pytest.mark.parametrize("session_id", ["cs_test_%00", "%00", "cs_test_" + "a" * 300, "cs_test_é"])
def test_junk_session_id_is_404_never_500(client, org, member, session_id):
    client.force_login(member)
    assert client.get(f"/dashboard/{org.slug}/test/sessions/{session_id}").status_code == 404


def test_dashboard_sends_a_member_to_their_first_orgs_test_sessions(client, member):
    MembershipFactory(user=member, org=OrganizationFactory(slug="zeta", name="Zeta"))
    client.force_login(member)
    response = client.get("/dashboard/")
    assert response.status_code == 302
    assert response["Location"] == "/dashboard/acme-test/test/sessions/"


def test_logging_in_lands_on_the_test_mode_sessions_list(client, org, member):
    response = client.post(
        "/accounts/login/",
        {"username": member.username, "password": "correct horse battery staple"},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == f"/dashboard/{org.slug}/test/sessions/"
    assert "Checkout sessions" in response.text


def test_user_of_no_org_is_told_so(client):
    client.force_login(UserFactory())
    response = client.get("/dashboard/")
    assert response.status_code == 200
    assert "not in an organization" in response.text


def test_mode_switch_keeps_the_kind_of_page(client, org, member, test_session):
    client.force_login(member)
    listing = client.get(f"/dashboard/{org.slug}/test/sessions/")
    assert listing.context["request"].dashboard.other_mode_url == f"/dashboard/{org.slug}/sessions/"
    assert "Test mode" in listing.text
    live = client.get(f"/dashboard/{org.slug}/team/")
    assert live.context["request"].dashboard.other_mode_url == f"/dashboard/{org.slug}/test/team/"
    assert 'class="test-band"' not in live.text
    # A session exists in one mode: its page switches to the other mode's list.
    detail = client.get(f"/dashboard/{org.slug}/test/sessions/{test_session.public_id}")
    assert detail.context["request"].dashboard.other_mode_url == f"/dashboard/{org.slug}/sessions/"


def test_test_mode_pages_show_the_band(client, org, member):
    client.force_login(member)
    assert 'class="test-band"' in client.get(f"/dashboard/{org.slug}/test/sessions/").text


def test_log_out_is_a_post(client, org, member):
    client.force_login(member)
    page = client.get(f"/dashboard/{org.slug}/test/sessions/").text
    assert 'method="post" action="/accounts/logout/"' in page
    assert client.get("/accounts/logout/").status_code == 405
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get(f"/dashboard/{org.slug}/test/sessions/").status_code == 302


def test_wrong_password_shows_an_error_and_logs_nobody_in(client, member):
    response = client.post("/accounts/login/", {"username": member.username, "password": "nope"})
    assert response.status_code == 200
    assert "correct username and password" in response.text
    assert client.get("/dashboard/").status_code == 302


def test_session_page_shows_its_id_status_and_timeline(client, org, member):
    session = make_session(org=org, failed_attempts=1, customer_email="jenny@example.com")
    client.force_login(member)
    response = client.get(f"/dashboard/{org.slug}/test/sessions/{session.public_id}")
    assert session.public_id in response.text
    assert '<span class="badge badge--failed">Failed</span>' in response.text
    assert "Session created" in response.text
    assert "jenny@example.com" in response.text


def test_member_of_several_orgs_switches_between_them(client, org, member):
    MembershipFactory(user=member, org=OrganizationFactory(slug="zeta", name="Zeta Tea"))
    client.force_login(member)
    response = client.get(f"/dashboard/{org.slug}/test/sessions/")
    assert 'class="org-switcher"' in response.text
    assert 'href="/dashboard/zeta/test/sessions/"' in response.text
    assert client.get("/dashboard/zeta/test/sessions/").status_code == 200


def test_owner_only_page_is_403_for_a_member_and_runs_for_an_owner(rf, org, member, owner):
    from django.http import HttpResponse
    from django.urls import resolve

    from dashboard.access import dashboard_view

    ran = []

    @dashboard_view(owner_only=True)
    def manage(request):
        ran.append(request.user)
        return HttpResponse("managed")

    path = f"/dashboard/{org.slug}/test/sessions/"
    request = rf.get(path)
    request.resolver_match = resolve(path)
    request.user = member
    response = manage(request, org_slug=org.slug, mode="test")
    assert response.status_code == 403
    assert b"Only owners can do this" in response.content
    assert ran == []

    request.user = owner
    response = manage(request, org_slug=org.slug, mode="test")
    assert (response.status_code, ran) == (200, [owner])
