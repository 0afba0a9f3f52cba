"""The account pages: log in, password change and password reset by email share one look, the
reset email has the project's email look with a link on SITE_URL, and a reset round trip works."""

import re

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client

from tests.factories import UserFactory
from tests.logins import login_request

pytestmark = pytest.mark.django_db

OLD_PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "violet-harbour-lantern-77"


@pytest.fixture
def jenny(org):
    return UserFactory(username="jenny", email="jenny@example.com")


def reset_link(message) -> str:
    """The path of the reset link in the email's text part."""
    return re.search(rf"{re.escape(settings.SITE_URL)}(/accounts/reset/\S+)", message.body)[1]


def test_password_reset_round_trip(client, jenny):
    page = client.get("/accounts/password_reset/")
    assert "Reset your password" in page.text
    response = client.post("/accounts/password_reset/", {"email": "Jenny@Example.com"}, follow=True)
    assert response.redirect_chain[-1][0] == "/accounts/password_reset/done/"
    assert "Check your email" in response.text
    assert "It works once, for 3 days." in response.text

    [message] = mail.outbox
    assert message.to == ["jenny@example.com"]
    assert message.subject == "Reset your Checkout dashboard password"
    link = reset_link(message)
    html = message.alternatives[0].content
    assert f'href="{settings.SITE_URL}{link}"' in html
    assert "Choose a new password" in html and "<style>" in html  # the receipts' email look

    form = client.get(link, follow=True)
    assert "Choose a new password" in form.text and "jenny" in form.text
    set_password_url = form.redirect_chain[-1][0]  # Django moves the token into the session
    response = client.post(
        set_password_url,
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        follow=True,
    )
    assert "Your new password is set" in response.text
    fresh = Client()
    assert not fresh.login(request=login_request(), username="jenny", password=OLD_PASSWORD)
    response = fresh.post(
        "/accounts/login/", {"username": "jenny", "password": NEW_PASSWORD}, follow=True
    )
    assert response.redirect_chain[0][0] == "/dashboard/"
    assert "_auth_user_id" in fresh.session

    # The link worked once.
    again = Client().get(link, follow=True)
    assert "This link does not work" in again.text


def test_a_reset_link_with_a_wrong_token_is_a_clear_page(client, jenny):
    client.post("/accounts/password_reset/", {"email": "jenny@example.com"})
    link = reset_link(mail.outbox[0])
    for bad in [link[:-3] + "abc/", link.replace("/accounts/reset/", "/accounts/reset/x")]:
        response = Client().get(bad, follow=True)
        assert response.status_code == 200, bad
        assert "This link does not work" in response.text, bad


def test_an_unknown_address_gets_the_same_page_and_no_email(client, jenny):
    response = client.post(
        "/accounts/password_reset/", {"email": "nobody@example.com"}, follow=True
    )
    assert "Check your email" in response.text
    assert mail.outbox == []


def test_a_weak_new_password_is_refused_next_to_its_field(client, jenny):
    client.post("/accounts/password_reset/", {"email": "jenny@example.com"})
    form = client.get(reset_link(mail.outbox[0]), follow=True)
    response = client.post(
        form.redirect_chain[-1][0], {"new_password1": "12345678", "new_password2": "12345678"}
    )
    assert 'id="id_new_password2_error"' in response.text
    assert "entirely numeric" in response.text
    assert Client().login(request=login_request(), username="jenny", password=OLD_PASSWORD)


def test_password_change_needs_the_old_password_and_keeps_you_logged_in(client, org, owner):
    client.force_login(owner)
    page = client.get("/accounts/password_change/")
    assert "Change your password" in page.text
    wrong = client.post(
        "/accounts/password_change/",
        {"old_password": "nope", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert 'id="id_old_password_error"' in wrong.text
    response = client.post(
        "/accounts/password_change/",
        {
            "old_password": OLD_PASSWORD,
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
        follow=True,
    )
    assert "Password changed" in response.text
    assert client.get(f"/dashboard/{org.slug}/test/team/").status_code == 200
    assert Client().login(request=login_request(), username=owner.username, password=NEW_PASSWORD)


def test_password_change_is_for_logged_in_users_only(client):
    response = client.get("/accounts/password_change/")
    assert response["Location"].startswith("/accounts/login/?next=/accounts/password_change/")


def test_login_links_to_the_reset_and_the_sidebar_to_password_change(client, org, member):
    login = client.get("/accounts/login/")
    assert 'href="/accounts/password_reset/">Forgot password?' in login.text
    client.force_login(member)
    page = client.get(f"/dashboard/{org.slug}/test/sessions/")
    assert 'href="/accounts/password_change/"' in page.text


@pytest.mark.parametrize(
    "url",
    [
        "/accounts/login/",
        "/accounts/password_reset/",
        "/accounts/password_reset/done/",
        "/accounts/reset/MQ/set-password/",
        "/accounts/reset/done/",
    ],
)
def test_every_account_page_shares_one_look(client, url):
    page = client.get(url)
    assert page.status_code == 200
    assert 'class="account-card"' in page.text
    assert "css/account.css" in page.text
