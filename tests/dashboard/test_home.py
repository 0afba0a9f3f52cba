"""The dashboard shell: members see their organizations' session counts; others log in first."""

import pytest

from tests.factories import MembershipFactory, OrganizationFactory, make_session

pytestmark = pytest.mark.django_db


def test_anonymous_visitor_is_sent_to_log_in(client):
    response = client.get("/dashboard/")
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_member_sees_only_their_orgs_with_status_counts(client, org, member):
    make_session(org=org, failed_attempts=1)
    other = OrganizationFactory(name="Someone Else Ltd")
    make_session(org=other)
    client.force_login(member)

    response = client.get("/dashboard/")

    assert response.status_code == 200
    assert org.name in response.text
    assert "Someone Else Ltd" not in response.text
    assert response.context["overview"][0][1]["failed"] == 1


def test_query_count_does_not_grow_with_sessions_or_orgs(
    client, org, member, django_assert_max_num_queries
):
    client.force_login(member)
    make_session(org=org)
    with django_assert_max_num_queries(8) as few:
        client.get("/dashboard/")
    for _ in range(3):
        make_session(org=MembershipFactory(user=member).org)
    for _ in range(20):
        make_session(org=org)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get("/dashboard/")


def test_merchant_logs_in_with_the_login_page_and_lands_on_the_dashboard(client, org, member):
    response = client.post(
        "/accounts/login/",
        {"username": member.username, "password": "correct horse battery staple"},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == "/dashboard/"
    assert org.name in response.text


def test_wrong_password_shows_an_error_and_logs_nobody_in(client, member):
    response = client.post("/accounts/login/", {"username": member.username, "password": "nope"})
    assert response.status_code == 200
    assert "correct username and password" in response.text
    assert client.get("/dashboard/").status_code == 302


def test_log_out_is_a_post(client, member):
    client.force_login(member)
    assert client.get("/accounts/logout/").status_code == 405
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/dashboard/").status_code == 302
