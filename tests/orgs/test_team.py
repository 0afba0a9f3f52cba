"""The team's rules (orgs.team): owners invite, change roles and remove; an org never loses its
last owner; an invitation link is signed, expires, works once and can be revoked."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import mail, signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from orgs.models import AuditEntry, Invitation, Membership
from orgs.team import (
    INVITATION_SALT,
    InvitationProblem,
    InvitationUnavailable,
    NewAccount,
    accept_invitation,
    accept_invitation_with_new_account,
    accounts_with_email,
    add_member,
    change_role,
    invitation_token,
    invite_member,
    read_invitation,
    remove_member,
    revoke_invitation,
    send_invitation_task,
)
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db

User = get_user_model()
GOOD_PASSWORD = "plum-orchard-kettle-42"


@pytest.fixture
def invite(django_capture_on_commit_callbacks):
    """``invite_member`` as a request makes it: its email task runs when it commits."""

    def invite(**kwargs) -> Invitation:
        with django_capture_on_commit_callbacks(execute=True):
            return invite_member(**kwargs)

    return invite


def membership_of(user, org) -> Membership:
    return Membership.objects.get(org=org, user=user)


def actions(org) -> list[str]:
    return list(AuditEntry.objects.for_org(org).order_by("id").values_list("action", flat=True))


# --- Roles and removal -------------------------------------------------------------------------


def test_owner_makes_a_member_an_owner_and_it_is_audited(org, owner, member):
    changed = change_role(
        org=org, membership_id=membership_of(member, org).pk, role="owner", by=owner
    )
    assert changed.role == "owner"
    assert membership_of(member, org).role == "owner"
    entry = AuditEntry.objects.for_org(org).get()
    assert (entry.action, entry.user, entry.target, entry.changes) == (
        AuditEntry.Action.ROLE_CHANGED,
        owner,
        member.username,
        {"role": ["member", "owner"]},
    )


def test_the_last_owner_cannot_be_demoted(org, owner, member):
    with pytest.raises(ValidationError) as refused:
        change_role(org=org, membership_id=membership_of(owner, org).pk, role="member", by=owner)
    assert "last owner" in refused.value.message_dict["role"][0]
    assert membership_of(owner, org).role == "owner"
    assert actions(org) == []


def test_the_last_owner_cannot_be_removed(org, owner, member):
    with pytest.raises(ValidationError):
        remove_member(org=org, membership_id=membership_of(owner, org).pk, by=owner)
    assert membership_of(owner, org).role == "owner"


def test_an_owner_can_step_down_while_another_owner_remains(org, owner):
    other = MembershipFactory(org=org, role="owner").user
    change_role(org=org, membership_id=membership_of(owner, org).pk, role="member", by=owner)
    assert membership_of(owner, org).role == "member"
    assert membership_of(other, org).role == "owner"


def test_an_owner_removes_a_member_and_it_is_audited(org, owner, member):
    remove_member(org=org, membership_id=membership_of(member, org).pk, by=owner)
    assert not Membership.objects.filter(org=org, user=member).exists()
    entry = AuditEntry.objects.for_org(org).get()
    assert (entry.action, entry.target, entry.changes) == (
        AuditEntry.Action.MEMBER_REMOVED,
        member.username,
        {"role": ["member", None]},
    )


def test_a_member_can_neither_change_roles_nor_remove_anyone(org, owner, member):
    target = membership_of(owner, org).pk
    with pytest.raises(PermissionDenied):
        change_role(org=org, membership_id=target, role="member", by=member)
    with pytest.raises(PermissionDenied):
        remove_member(org=org, membership_id=target, by=member)
    assert membership_of(owner, org).role == "owner"
    assert actions(org) == []


def test_an_owner_of_another_org_cannot_touch_this_team(org, member):
    rival_owner = MembershipFactory(org=OrganizationFactory(slug="rival"), role="owner").user
    with pytest.raises(PermissionDenied):
        remove_member(org=org, membership_id=membership_of(member, org).pk, by=rival_owner)


def test_a_membership_of_another_org_is_not_found(org, owner):
    rival_member = MembershipFactory(org=OrganizationFactory(slug="rival"), role="member")
    with pytest.raises(Membership.DoesNotExist):
        change_role(org=org, membership_id=rival_member.pk, role="owner", by=owner)
    with pytest.raises(Membership.DoesNotExist):
        remove_member(org=org, membership_id=rival_member.pk, by=owner)
    assert Membership.objects.get(pk=rival_member.pk).role == "member"


def test_an_unknown_role_is_a_field_error(org, owner, member):
    for role in ("admin", "", "OWNER", "owner\x00"):
        with pytest.raises(ValidationError) as refused:
            change_role(org=org, membership_id=membership_of(member, org).pk, role=role, by=owner)
        assert "role" in refused.value.message_dict


def test_setting_the_same_role_changes_and_audits_nothing(org, owner, member):
    change_role(org=org, membership_id=membership_of(member, org).pk, role="member", by=owner)
    assert actions(org) == []


def test_the_database_refuses_a_role_outside_owner_and_member(org, member):
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.filter(user=member).update(role="admin")


# --- Inviting ----------------------------------------------------------------------------------


def test_inviting_stores_the_canonical_address_audits_and_emails_the_link(org, owner, invite):
    invitation = invite(org=org, email="Jenny@EXAMPLE.com", role="member", by=owner)
    assert (invitation.email, invitation.role, invitation.invited_by) == (
        "jenny@example.com",
        "member",
        owner,
    )
    entry = AuditEntry.objects.for_org(org).get()
    assert (entry.action, entry.target, entry.changes) == (
        AuditEntry.Action.MEMBER_INVITED,
        "jenny@example.com",
        {"role": [None, "member"]},
    )
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["jenny@example.com"]
    assert org.name in message.subject
    link = re.search(rf"{re.escape(settings.SITE_URL)}/dashboard/invitations/(\S+)", message.body)
    assert read_invitation(link.group(1)) == invitation
    html = message.alternatives[0].content
    assert f'href="{link.group(0)}"' in html and "Accept the invitation" in html
    invitation.refresh_from_db()
    assert invitation.sent_at is not None and invitation.send_error == ""


def test_the_email_never_leaves_when_the_invitation_is_rolled_back(
    org, owner, django_capture_on_commit_callbacks
):
    run_on_commit = django_capture_on_commit_callbacks(execute=True)
    with run_on_commit, pytest.raises(RuntimeError), transaction.atomic():
        invite_member(org=org, email="jenny@example.com", role="member", by=owner)
        raise RuntimeError("the owner's request failed after the invitation")
    assert mail.outbox == []
    assert not Invitation.objects.exists()


def test_an_unreachable_mail_server_is_recorded_on_the_invitation(org, owner, settings, invite):
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": 1, "timeout": 2},
        }
    }
    invitation = invite(org=org, email="jenny@example.com", role="member", by=owner)
    invitation.refresh_from_db()
    assert invitation.sent_at is None
    assert invitation.send_error.startswith("ConnectionRefusedError")


def test_running_the_send_task_again_sends_nothing_twice(org, owner, invite):
    invitation = invite(org=org, email="jenny@example.com", role="member", by=owner)
    assert send_invitation_task.call(invitation.pk) == "skipped"
    assert len(mail.outbox) == 1


def test_inviting_an_existing_member_is_refused_on_the_email_field(org, owner, member, invite):
    member.email = "Teammate@Example.com"
    member.save()
    with pytest.raises(ValidationError) as refused:
        invite(org=org, email="teammate@example.COM", role="owner", by=owner)
    assert "already a member" in refused.value.message_dict["email"][0]
    assert not Invitation.objects.exists()
    assert mail.outbox == []


def test_a_look_alike_of_a_members_address_is_another_person(org, owner, member, invite):
    member.email = "teammate@gmail.com"
    member.save()
    invitation = invite(org=org, email="teammate@gmaıl.com", role="member", by=owner)
    assert invitation.email == "teammate@xn--gmal-nza.com"


def test_an_undeliverable_address_is_a_field_error(org, owner, invite):
    for email in (
        "",
        "not-an-email",
        "jenny\x00@example.com",
        "jénny@example.com",
        "a@" + "b" * 300,
    ):
        with pytest.raises(ValidationError) as refused:
            invite(org=org, email=email, role="member", by=owner)
        assert "email" in refused.value.message_dict, email
    assert not Invitation.objects.exists()


def test_a_member_cannot_invite(org, member, invite):
    with pytest.raises(PermissionDenied):
        invite(org=org, email="jenny@example.com", role="member", by=member)
    assert not Invitation.objects.exists()
    assert mail.outbox == []


def test_inviting_an_address_again_replaces_its_open_invitation(org, owner, invite):
    first = invite(org=org, email="jenny@example.com", role="member", by=owner)
    second = invite(org=org, email="jenny@example.com", role="owner", by=owner)
    first.refresh_from_db()
    assert first.revoked_at is not None
    assert Invitation.objects.open().get() == second
    with pytest.raises(InvitationUnavailable) as old_link:
        read_invitation(invitation_token(first))
    assert old_link.value.problem == InvitationProblem.REVOKED
    assert read_invitation(invitation_token(second)) == second
    assert len(mail.outbox) == 2


def test_owner_revokes_a_pending_invitation(org, owner, invite):
    invitation = invite(org=org, email="jenny@example.com", role="member", by=owner)
    revoke_invitation(org=org, invitation_id=invitation.pk, by=owner)
    with pytest.raises(InvitationUnavailable) as revoked:
        read_invitation(invitation_token(invitation))
    assert revoked.value.problem == InvitationProblem.REVOKED
    assert actions(org)[-1] == AuditEntry.Action.INVITATION_REVOKED


def test_a_member_cannot_revoke_and_another_orgs_invitation_is_not_found(
    org, owner, member, invite
):
    invitation = invite(org=org, email="jenny@example.com", role="member", by=owner)
    with pytest.raises(PermissionDenied):
        revoke_invitation(org=org, invitation_id=invitation.pk, by=member)
    rival = MembershipFactory(org=OrganizationFactory(slug="rival"), role="owner")
    with pytest.raises(Invitation.DoesNotExist):
        revoke_invitation(org=rival.org, invitation_id=invitation.pk, by=rival.user)
    invitation.refresh_from_db()
    assert invitation.revoked_at is None


# --- The link --------------------------------------------------------------------------------


@pytest.fixture
def invitation(org, owner, invite):
    return invite(org=org, email="jenny@example.com", role="member", by=owner)


def test_a_new_person_creates_an_account_and_joins_once(org, invitation):
    membership = accept_invitation_with_new_account(
        invitation=read_invitation(invitation_token(invitation)),
        account=NewAccount("jenny", GOOD_PASSWORD),
    )
    user = membership.user
    assert (user.username, user.email, membership.role) == ("jenny", "jenny@example.com", "member")
    assert user.check_password(GOOD_PASSWORD)
    assert actions(org)[-1] == AuditEntry.Action.MEMBER_JOINED
    with pytest.raises(InvitationUnavailable) as reused:
        read_invitation(invitation_token(invitation))
    assert reused.value.problem == InvitationProblem.USED


def test_an_existing_account_with_the_address_accepts(org, invitation):
    jenny = UserFactory(username="jenny", email="Jenny@Example.com")
    membership = accept_invitation(invitation=invitation, user=jenny)
    assert (membership.org, membership.user, membership.role) == (org, jenny, "member")


def test_an_account_with_another_address_cannot_accept(org, invitation):
    with pytest.raises(InvitationUnavailable) as refused:
        accept_invitation(invitation=invitation, user=UserFactory(email="mallory@example.com"))
    assert refused.value.problem == InvitationProblem.OTHER_ACCOUNT
    assert Membership.objects.filter(org=org).count() == 1  # the owner


def test_accepting_twice_adds_one_membership(org, invitation):
    jenny = UserFactory(email="jenny@example.com")
    accept_invitation(invitation=invitation, user=jenny)
    with pytest.raises(InvitationUnavailable) as again:
        accept_invitation(invitation=invitation, user=jenny)
    assert again.value.problem == InvitationProblem.USED
    assert Membership.objects.filter(org=org, user=jenny).count() == 1


def test_an_owner_invitation_makes_an_owner(org, owner, invite):
    invitation = invite(org=org, email="co@example.com", role="owner", by=owner)
    co = UserFactory(email="co@example.com")
    assert accept_invitation(invitation=invitation, user=co).role == "owner"


def test_the_new_account_must_pass_djangos_password_validators(invitation):
    for password, words in [("short", "too short"), ("password123", "too common"), ("jenny", None)]:
        with pytest.raises(ValidationError) as refused:
            accept_invitation_with_new_account(
                invitation=invitation, account=NewAccount("jenny", password)
            )
        assert "password" in refused.value.message_dict
        if words:
            assert words in " ".join(refused.value.message_dict["password"])
    assert not User.objects.filter(username="jenny").exists()
    invitation.refresh_from_db()
    assert invitation.accepted_at is None


def test_a_taken_or_look_alike_username_is_refused(invitation):
    UserFactory(username="demo")
    for username in ("demo", "DEMO", "dеmo", "de mo", "", "x" * 151, "jen\x00ny"):
        with pytest.raises(ValidationError) as refused:
            accept_invitation_with_new_account(
                invitation=invitation, account=NewAccount(username, GOOD_PASSWORD)
            )
        assert "username" in refused.value.message_dict, username


def test_no_second_account_is_made_for_an_address_that_has_one(invitation):
    UserFactory(username="jenny-old", email="jenny@example.com")
    with pytest.raises(ValidationError) as refused:
        accept_invitation_with_new_account(
            invitation=invitation, account=NewAccount("jenny", GOOD_PASSWORD)
        )
    assert "log in" in refused.value.messages[0]
    assert len(accounts_with_email("jenny@example.com")) == 1


def test_a_link_expires_after_the_configured_days(invitation, settings):
    settings.INVITATION_MAX_AGE_DAYS = 7
    token = invitation_token(invitation)
    with time_machine.travel(timezone.now() + timedelta(days=6, hours=23)):
        assert read_invitation(token) == invitation
    with time_machine.travel(timezone.now() + timedelta(days=7, minutes=1)):
        with pytest.raises(InvitationUnavailable) as expired:
            read_invitation(token)
        assert expired.value.problem == InvitationProblem.EXPIRED
        with pytest.raises(InvitationUnavailable):
            accept_invitation(invitation=invitation, user=UserFactory(email="jenny@example.com"))


def test_a_tampered_or_forged_link_is_invalid(invitation):
    token = invitation_token(invitation)
    forged_nonce = signing.dumps([invitation.pk, "guessed"], salt=INVITATION_SALT)
    other_salt = signing.dumps([invitation.pk, invitation.nonce], salt="checkout.portal")
    wrong_shape = signing.dumps({"id": invitation.pk}, salt=INVITATION_SALT)
    unknown = signing.dumps([invitation.pk + 1000, invitation.nonce], salt=INVITATION_SALT)
    for bad in [
        token[:-1] + ("A" if token[-1] != "A" else "B"),
        token + "x",
        forged_nonce,
        other_salt,
        wrong_shape,
        unknown,
        "",
        "\x00",
        "x" * 5000,
        "ı" * 50,
        signing.dumps([2**80, "n"], salt=INVITATION_SALT),
    ]:
        with pytest.raises(InvitationUnavailable) as invalid:
            read_invitation(bad)
        assert invalid.value.problem == InvitationProblem.INVALID, bad


# --- Django admin --------------------------------------------------------------------------------


def test_an_operator_adds_the_first_owner_in_the_admin_and_it_is_audited(admin_client, org):
    jenny = UserFactory(username="jenny")
    response = admin_client.post(
        "/admin/orgs/membership/add/", {"org": org.pk, "user": jenny.pk, "role": "owner"}
    )
    assert response.status_code == 302
    assert membership_of(jenny, org).role == "owner"
    entry = AuditEntry.objects.for_org(org).get()
    assert (entry.action, entry.actor, entry.target) == (
        AuditEntry.Action.MEMBER_JOINED,
        "admin",
        "jenny",
    )


def test_the_admin_cannot_demote_or_remove_so_the_last_owner_stays(admin_client, org, owner):
    mine = membership_of(owner, org)
    admin_client.post(f"/admin/orgs/membership/{mine.pk}/change/", {"role": "member"})
    assert admin_client.post(f"/admin/orgs/membership/{mine.pk}/delete/").status_code == 403
    page = admin_client.get(f"/admin/orgs/organization/{org.pk}/change/")
    assert 'name="memberships-0-role"' not in page.text
    assert membership_of(owner, org).role == "owner"


def test_only_operators_add_members_directly(org, owner):
    with pytest.raises(PermissionDenied):
        add_member(org=org, user=UserFactory(), role="owner", by=owner)


def test_the_admin_lists_invitations_without_their_nonce(admin_client, org, owner, invite):
    invitation = invite(org=org, email="jenny@example.com", role="member", by=owner)
    page = admin_client.get(f"/admin/orgs/invitation/{invitation.pk}/change/")
    assert page.status_code == 200 and "jenny@example.com" in page.text
    assert invitation.nonce not in page.text
    assert admin_client.get("/admin/orgs/invitation/").status_code == 200
