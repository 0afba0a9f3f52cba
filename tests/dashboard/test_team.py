"""Settings → Team in the browser's terms: who may see and do what, the owners' actions with
and without HTMX, errors next to their field, and query counts that don't grow with the team."""

import pytest
from django.core import mail
from django.test import Client

from orgs.models import AuditEntry, Invitation, Membership
from orgs.team import invite_member
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def teammate(org):
    return MembershipFactory(org=org, role="member", user=UserFactory(username="teammate"))


@pytest.fixture
def pending(org, owner):
    return invite_member(org=org, email="jenny@example.com", role="member", by=owner)


def team_url(org, mode="test/"):
    return f"/dashboard/{org.slug}/{mode}team/"


def actions(org, teammate, pending) -> list[tuple[str, dict]]:
    """Every owner action of the team page: its URL and a valid body."""
    base = team_url(org)
    return [
        (f"{base}invite", {"email": "new@example.com", "role": "member"}),
        (f"{base}members/{teammate.pk}/role", {"role": "owner"}),
        (f"{base}members/{teammate.pk}/remove", {}),
        (f"{base}invitations/{pending.pk}/revoke", {}),
    ]


def team_state(org) -> tuple:
    """Everything an action could change."""
    return (
        sorted(Membership.objects.filter(org=org).values_list("user__username", "role")),
        sorted(Invitation.objects.filter(org=org).values_list("email", "revoked_at")),
        AuditEntry.objects.for_org(org).count(),
    )


# --- Who may do what ---------------------------------------------------------------------------


def test_anonymous_visitor_is_sent_to_log_in_and_nothing_changes(client, org, teammate, pending):
    before = team_state(org)
    for url, body in [(team_url(org), None), *actions(org, teammate, pending)]:
        response = client.post(url, body) if body is not None else client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/?next="), url
    assert team_state(org) == before


def test_member_of_another_org_gets_404_everywhere_and_nothing_changes(
    client, org, teammate, pending
):
    client.force_login(MembershipFactory(org=OrganizationFactory(slug="rival")).user)
    before = team_state(org)
    assert client.get(team_url(org)).status_code == 404
    for url, body in actions(org, teammate, pending):
        assert client.post(url, body).status_code == 404, url
    assert team_state(org) == before


def test_owner_of_another_org_cannot_reach_this_orgs_rows_through_their_own_org(
    client, org, teammate, pending
):
    rival = MembershipFactory(org=OrganizationFactory(slug="rival"), role="owner")
    client.force_login(rival.user)
    before = team_state(org)
    base = team_url(rival.org)
    for url in [
        f"{base}members/{teammate.pk}/role",
        f"{base}members/{teammate.pk}/remove",
        f"{base}invitations/{pending.pk}/revoke",
    ]:
        assert client.post(url, {"role": "owner"}).status_code == 404, url
    assert team_state(org) == before


def test_member_sees_the_team_without_any_control(client, org, member, teammate, pending):
    client.force_login(member)
    response = client.get(team_url(org))
    assert response.status_code == 200
    assert "teammate" in response.text and "jenny@example.com" in response.text
    assert "Invite someone" not in response.text
    assert "Make owner" not in response.text and "Revoke" not in response.text


def test_member_gets_the_403_page_on_every_action_and_nothing_changes(
    client, org, member, teammate, pending
):
    client.force_login(member)
    before = team_state(org)
    for url, body in actions(org, teammate, pending):
        response = client.post(url, body)
        assert response.status_code == 403, url
        assert "Only owners can do this" in response.text
        assert client.post(url, body, **HTMX).status_code == 403, url
    assert team_state(org) == before


def test_actions_are_posts_only(client, org, owner, teammate, pending):
    client.force_login(owner)
    before = team_state(org)
    for url, _body in actions(org, teammate, pending):
        assert client.get(url).status_code == 405, url
    assert team_state(org) == before


def test_every_post_needs_the_csrf_token(org, owner, teammate, pending):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    before = team_state(org)
    for url, body in actions(org, teammate, pending):
        assert client.post(url, body).status_code == 403, url
    assert team_state(org) == before


def test_junk_ids_are_404_never_500(client, org, owner):
    client.force_login(owner)
    base = team_url(org)
    for junk in ["0", "99999999", "9" * 40, "-1", "abc", "1%00", "１"]:
        for path in [
            f"members/{junk}/role",
            f"members/{junk}/remove",
            f"invitations/{junk}/revoke",
        ]:
            for role in ("owner", "junk"):
                response = client.post(f"{base}{path}", {"role": role})
                assert response.status_code == 404, (junk, path, role)


def test_the_page_exists_in_both_modes(client, org, member):
    client.force_login(member)
    assert client.get(team_url(org, mode="")).status_code == 200
    assert client.get(team_url(org)).status_code == 200


# --- Owners' actions ------------------------------------------------------------------------------


def test_owner_invites_without_javascript_and_sees_it_pending(
    client, org, owner, django_capture_on_commit_callbacks
):
    client.force_login(owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"{team_url(org)}invite", {"email": "Jenny@Example.com", "role": "owner"}
        )
    assert (response.status_code, response["Location"]) == (303, team_url(org))
    page = client.get(team_url(org)).text
    assert "Invitation sent to jenny@example.com." in page
    assert "Pending invitations" in page and "jenny@example.com" in page
    assert "invited jenny@example.com as owner" in page  # the activity list
    assert [message.to for message in mail.outbox] == [["jenny@example.com"]]


def test_owner_invites_with_htmx_and_gets_the_team_partial(client, org, owner):
    client.force_login(owner)
    response = client.post(
        f"{team_url(org)}invite", {"email": "jenny@example.com", "role": "member"}, **HTMX
    )
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<div id="team"')
    assert "<html" not in response.text
    assert "Invitation sent to jenny@example.com." in response.text
    assert "HX-Request" in response["Vary"]


def test_inviting_a_member_again_is_refused_next_to_the_email_field(client, org, owner, member):
    member.email = "teammate@example.com"
    member.save()
    client.force_login(owner)
    for extra in ({}, HTMX):
        response = client.post(
            f"{team_url(org)}invite", {"email": "TEAMMATE@example.com", "role": "member"}, **extra
        )
        assert response.status_code == 200
        assert 'id="id_email_error"' in response.text
        assert "teammate@example.com is already a member of Acme Test Co." in response.text
        assert 'aria-invalid="true"' in response.text
    assert not Invitation.objects.exists()


def test_junk_in_the_invite_form_is_a_field_error(client, org, owner):
    client.force_login(owner)
    for body in [
        {"email": "jenny\x00@example.com", "role": "member"},
        {"email": "x" * 10_000, "role": "member"},
        {"email": "jénny@example.com", "role": "member"},
        {"email": "jenny@example.com", "role": "admin"},
        {"email": "jenny@example.com"},
        {},
    ]:
        response = client.post(f"{team_url(org)}invite", body)
        assert response.status_code == 200, body
        assert 'class="field-error"' in response.text, body
    assert not Invitation.objects.exists()


def test_owner_makes_a_member_an_owner(client, org, owner, teammate):
    client.force_login(owner)
    response = client.post(f"{team_url(org)}members/{teammate.pk}/role", {"role": "owner"})
    assert response.status_code == 303
    teammate.refresh_from_db()
    assert teammate.role == "owner"
    page = client.get(team_url(org)).text
    assert "teammate is now an owner." in page
    assert "made teammate owner (was member)" in page


def test_demoting_the_last_owner_shows_why_in_its_row(client, org, owner, teammate):
    client.force_login(owner)
    mine = Membership.objects.get(org=org, user=owner)
    for extra in ({}, HTMX):
        response = client.post(
            f"{team_url(org)}members/{mine.pk}/role", {"role": "member"}, **extra
        )
        assert response.status_code == 200
        assert "is the last owner of Acme Test Co." in response.text
        response = client.post(f"{team_url(org)}members/{mine.pk}/remove", **extra)
        assert "is the last owner of Acme Test Co." in response.text
    mine.refresh_from_db()
    assert mine.role == "owner"
    # The page doesn't offer what would be refused.
    assert "The only owner" in client.get(team_url(org)).text


def test_a_removed_member_loses_access_at_once(client, org, owner, teammate):
    theirs = Client()
    theirs.force_login(teammate.user)
    assert theirs.get(team_url(org)).status_code == 200
    client.force_login(owner)
    response = client.post(f"{team_url(org)}members/{teammate.pk}/remove", **HTMX)
    assert "teammate was removed from the team." in response.text
    assert "teammate</span>" not in response.text
    assert theirs.get(team_url(org)).status_code == 404
    assert theirs.get(f"/dashboard/{org.slug}/test/sessions/").status_code == 404


def test_an_owner_who_leaves_is_sent_out_of_the_org(client, org, owner):
    MembershipFactory(org=org, role="owner")
    mine = Membership.objects.get(org=org, user=owner)
    client.force_login(owner)
    response = client.post(f"{team_url(org)}members/{mine.pk}/remove", **HTMX)
    assert response["HX-Redirect"] == "/dashboard/"
    assert client.get(team_url(org)).status_code == 404


def test_an_owner_who_steps_down_sees_the_members_page(client, org, owner):
    MembershipFactory(org=org, role="owner")
    mine = Membership.objects.get(org=org, user=owner)
    client.force_login(owner)
    response = client.post(f"{team_url(org)}members/{mine.pk}/role", {"role": "member"}, **HTMX)
    assert response["HX-Redirect"] == team_url(org)
    page = client.get(team_url(org)).text
    assert "You are now a member." in page
    assert "Invite someone" not in page


def test_owner_revokes_an_invitation(client, org, owner, pending):
    client.force_login(owner)
    response = client.post(f"{team_url(org)}invitations/{pending.pk}/revoke", **HTMX)
    assert "Invitation of jenny@example.com revoked" in response.text
    assert "No pending invitations." in response.text
    assert "revoked the invitation of jenny@example.com" in response.text
    pending.refresh_from_db()
    assert pending.revoked_at is not None


def test_the_page_shows_when_an_invitation_email_failed(client, org, owner, pending):
    Invitation.objects.filter(pk=pending.pk).update(
        sent_at=None, send_error="ConnectionRefusedError: [Errno 111] Connection refused"
    )
    client.force_login(owner)
    page = client.get(team_url(org)).text
    assert "Email not sent: ConnectionRefusedError" in page
    assert "Invite again to retry." in page


# --- Query counts -----------------------------------------------------------------------------


@pytest.mark.parametrize("team_size", [5, 200])
def test_the_team_page_costs_the_same_queries_for_5_or_200_members(
    client, org, owner, team_size, django_assert_num_queries
):
    users = UserFactory.create_batch(team_size - 1, password=None)
    Membership.objects.bulk_create(Membership(org=org, user=user) for user in users)
    Invitation.objects.bulk_create(
        Invitation(org=org, email=f"invitee{n}@example.com", invited_by=owner)
        for n in range(team_size)
    )
    AuditEntry.objects.bulk_create(
        AuditEntry(org=org, user=owner, actor=owner.username, action="team.joined", target=f"u{n}")
        for n in range(team_size)
    )
    client.force_login(owner)
    # Session, user, the memberships (shell), members, invitations, activity.
    with django_assert_num_queries(6):
        response = client.get(team_url(org))
    assert response.text.count('class="member-name"') == 2 * team_size


def test_a_junk_role_is_an_error_in_its_row_and_changes_nothing(client, org, owner, teammate):
    client.force_login(owner)
    before = team_state(org)
    for role in ["admin", "", "owner\x00", "ówner", "x" * 10_000]:
        response = client.post(f"{team_url(org)}members/{teammate.pk}/role", {"role": role}, **HTMX)
        assert response.status_code == 200, role
        assert 'class="field-error" role="alert"' in response.text, role
    assert team_state(org) == before
