"""Team changes at the same instant, on PostgreSQL with real row locks: an org never ends up
without an owner, and an invitation link makes one account and one membership."""

import itertools
import threading
import time

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError

from orgs import team
from orgs.models import Invitation, Membership
from orgs.team import InvitationUnavailable, NewAccount
from tests.concurrency import at_once
from tests.factories import MembershipFactory, OrganizationFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def slow_last_owner_check(monkeypatch):
    """Widen the race: each change waits a moment after checking that another owner remains,
    so without the org's row lock both changes would pass the check before either writes."""
    check = team._refuse_losing_the_last_owner

    def check_then_wait(org, target):
        check(org, target)
        time.sleep(0.3)

    monkeypatch.setattr(team, "_refuse_losing_the_last_owner", check_then_wait)


@pytest.fixture
def slow_invitation_check(monkeypatch):
    """The same for an invitation: a wait after checking that it is still unused."""
    check = team._check_usable

    def check_then_wait(invitation, now):
        check(invitation, now)
        time.sleep(0.3)

    monkeypatch.setattr(team, "_check_usable", check_then_wait)


def each_once(*calls):
    """One call per thread: the n-th thread to ask gets the n-th call."""
    lock, order = threading.Lock(), itertools.cycle(calls)

    def next_call():
        with lock:
            call = next(order)
        return call()

    return next_call


@pytest.mark.parametrize("change", ["demote", "remove"])
def test_two_owners_acting_on_each_other_at_once_leave_one_owner(slow_last_owner_check, change):
    org = OrganizationFactory()
    alice, bob = (MembershipFactory(org=org, role="owner") for _ in range(2))

    def act(actor: Membership, target: Membership):
        def call():
            try:
                if change == "demote":
                    team.change_role(org=org, membership_id=target.pk, role="member", by=actor.user)
                else:
                    team.remove_member(org=org, membership_id=target.pk, by=actor.user)
            except (ValidationError, PermissionDenied):
                return "refused"
            return "done"

        return call

    results = at_once(each_once(act(alice, bob), act(bob, alice)), threads=2)
    assert sorted(results) == ["done", "refused"]
    assert Membership.objects.filter(org=org, role="owner").count() == 1


def test_two_new_accounts_from_one_link_at_once_make_one(slow_invitation_check):
    owner = MembershipFactory(role="owner")
    invitation = team.invite_member(
        org=owner.org, email="jenny@example.com", role="member", by=owner.user
    )
    invitation = team.read_invitation(team.invitation_token(invitation))  # what the page read

    def create(username: str):
        def call():
            try:
                team.accept_invitation_with_new_account(
                    invitation=invitation,
                    account=NewAccount(username, "plum-orchard-kettle-42"),
                )
            except (InvitationUnavailable, ValidationError):
                return "refused"
            return "joined"

        return call

    results = at_once(each_once(create("jenny"), create("jenny2")), threads=2)
    assert sorted(results) == ["joined", "refused"]
    assert get_user_model().objects.filter(email="jenny@example.com").count() == 1
    assert Membership.objects.filter(org=owner.org).count() == 2
    assert Invitation.objects.get().accepted_at is not None
