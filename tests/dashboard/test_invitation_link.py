"""An invitation from the owner's click to the new teammate's dashboard, in Django's test client:
the email, the link, the new or existing account; and every broken link is a clear page."""

import re
from datetime import timedelta
from urllib.parse import quote

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.test import Client
from django.utils import timezone

from orgs.models import AuditEntry, Invitation, Membership
from tests.factories import UserFactory
from tests.logins import login_request

pytestmark = pytest.mark.django_db

PASSWORD = "plum-orchard-kettle-42"


@pytest.fixture
def invite(client, org, owner, django_capture_on_commit_callbacks):
    """The owner invites ``email`` on the team page; returns the link path from the email."""

    def invite(email: str = "jenny@example.com", role: str = "member") -> str:
        client.force_login(owner)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                f"/dashboard/{org.slug}/test/team/invite", {"email": email, "role": role}
            )
        assert response.status_code == 303
        client.logout()
        body = mail.outbox[-1].body
        return re.search(rf"{re.escape(settings.SITE_URL)}(/dashboard/invitations/\S+)", body)[1]

    return invite


def test_a_new_person_creates_an_account_from_the_email_and_lands_on_the_dashboard(
    client, org, invite
):
    link = invite()
    page = client.get(link)
    assert page.status_code == 200
    assert "Join Acme Test Co." in page.text
    assert "Create account and join" in page.text
    assert 'value="jenny@example.com" readonly' in page.text
    assert "no-store" in page["Cache-Control"]

    response = client.post(
        link,
        {"username": "jenny", "password": PASSWORD, "password_again": PASSWORD},
        follow=True,
    )
    assert response.redirect_chain[-1] == (f"/dashboard/{org.slug}/test/sessions/", 303)
    assert "Welcome to Acme Test Co." in response.text
    membership = Membership.objects.get(org=org, user__username="jenny")
    assert (membership.role, membership.user.email) == ("member", "jenny@example.com")
    assert client.get(f"/dashboard/{org.slug}/test/team/").status_code == 200
    # They can log in with the password they chose.
    fresh = Client()
    assert fresh.login(request=login_request(), username="jenny", password=PASSWORD)
    joined = AuditEntry.objects.for_org(org).filter(action=AuditEntry.Action.MEMBER_JOINED).get()
    assert (joined.actor, joined.changes) == ("jenny", {"role": [None, "member"]})


def test_a_weak_password_or_a_taken_username_is_shown_next_to_its_field(client, org, invite):
    UserFactory(username="taken")
    link = invite()
    response = client.post(
        link, {"username": "taken", "password": "password", "password_again": "password"}
    )
    assert response.status_code == 200
    assert 'id="id_username_error"' in response.text
    assert "That username is taken." in response.text
    assert 'id="id_password_error"' in response.text
    assert "too common" in response.text
    response = client.post(
        link, {"username": "jenny", "password": PASSWORD, "password_again": PASSWORD + "x"}
    )
    assert "The two passwords differ." in response.text
    assert not Membership.objects.filter(org=org, user__username="jenny").exists()


def test_someone_with_an_account_logs_in_then_accepts(client, org, invite):
    jenny = UserFactory(username="jenny", email="Jenny@Example.com")
    link = invite()
    page = client.get(link)
    assert "An account with jenny@example.com exists already" in page.text
    login_url = re.search(r'href="(/accounts/login/\?next=[^"]+)"', page.text)[1]
    assert "Log in to join" in page.text
    assert client.get(login_url).context["next"] == link

    response = client.post(
        "/accounts/login/",
        {"username": "jenny", "password": "correct horse battery staple", "next": link},
    )
    assert response["Location"] == link
    page = client.get(link)
    assert "Join Acme Test Co." in page.text and "You are logged in as" in page.text
    response = client.post(link)
    assert response.status_code == 303
    assert Membership.objects.get(org=org, user=jenny).role == "member"


def test_an_account_with_another_address_is_asked_to_log_out_and_joins_nothing(client, org, invite):
    link = invite()
    mallory = UserFactory(username="mallory", email="mallory@example.com")
    client.force_login(mallory)
    page = client.get(link)
    assert "This invitation is for jenny@example.com" in page.text
    assert client.post(link).status_code == 200
    assert not Membership.objects.filter(org=org, user=mallory).exists()
    assert Invitation.objects.get().accepted_at is None


def test_a_used_link_is_a_clear_page_not_a_second_membership(client, org, invite):
    link = invite()
    client.post(link, {"username": "jenny", "password": PASSWORD, "password_again": PASSWORD})
    other = Client()
    for response in (other.get(link), other.post(link, {"username": "jenny2"})):
        assert response.status_code == 410
        assert "This invitation was already used" in response.text
    assert Membership.objects.filter(org=org).count() == 2


def test_an_expired_link_is_a_clear_page(client, invite):
    link = invite()
    with time_machine.travel(timezone.now() + timedelta(days=7, minutes=1)):
        response = client.get(link)
        assert response.status_code == 410
        assert "This invitation has expired" in response.text
        response = client.post(
            link, {"username": "jenny", "password": PASSWORD, "password_again": PASSWORD}
        )
        assert response.status_code == 410
    assert not Membership.objects.filter(user__username="jenny").exists()


def test_a_revoked_link_is_a_clear_page(client, org, owner, invite):
    link = invite()
    client.force_login(owner)
    client.post(f"/dashboard/{org.slug}/test/team/invitations/{Invitation.objects.get().pk}/revoke")
    client.logout()
    response = client.get(link)
    assert response.status_code == 410
    assert "This invitation was withdrawn" in response.text


def test_a_tampered_or_junk_link_is_a_404_page_never_a_500(client, invite):
    link = invite()
    token = link.rsplit("/", 1)[1]
    for bad in [
        token[:-2],
        token.replace(":", ";"),
        "x" * 5000,
        "%00",
        quote("ı" * 40),
        "..",
        "%F0%9F%92%A9",
    ]:
        for response in (client.get(f"/dashboard/invitations/{bad}"),):
            assert response.status_code == 404, bad
            assert "This invitation link does not work" in response.text, bad
        assert client.post(f"/dashboard/invitations/{bad}").status_code == 404, bad


def test_the_invitation_page_takes_gets_and_posts_only(client, invite):
    link = invite()
    assert client.put(link).status_code == 405
    assert client.delete(link).status_code == 405
