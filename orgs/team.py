"""An org's team: invitations by email, owner / member roles, and removal (SPEC "Team").

Every rule lives here, whichever door a change comes through:

- Only owners invite, revoke invitations, change roles and remove members. The check runs under
  the org's row lock, so an owner demoted a moment ago can no longer act.
- An org always keeps an owner. Demoting or removing an owner locks the org's row first and
  counts the other owners under that lock: two owners demoting each other at once queue on the
  row, and the second is refused (it would leave none).
- An invitation is a row (``Invitation``); its link signs the row's id and nonce (salt
  ``orgs.invitation``), expires after ``INVITATION_MAX_AGE_DAYS`` and works once: accepting
  locks the row, so two clicks at once add one membership. Inviting an address again replaces
  its open invitation (a fresh link, the old one stops working): that is how an owner resends.
- Addresses are compared in their canonical form (``orgs.emails``), never with ``iexact``.

Each change is audited (``orgs.audit.record``) in its own transaction. The invitation email is
sent by a task (``send_invitation_task``) enqueued when the invitation commits, so a slow or
failing mail server never fails the owner's request; the task records ``sent_at`` or
``send_error`` on the invitation, which the team page shows.
"""

import logging
import smtplib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import partial

from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.validators import ASCIIUsernameValidator
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Case, QuerySet, Value, When
from django.tasks import task
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from orgs.audit import record
from orgs.emails import canonical_email
from orgs.models import AuditEntry, Invitation, Membership, Organization, invitation_max_age

logger = logging.getLogger(__name__)

INVITATION_SALT = "orgs.invitation"
# A genuine token is ~60 characters; anything far longer is junk, refused before any work.
MAX_TOKEN_LENGTH = 200
ACTIVITY_LIMIT = 20

LAST_OWNER = "{name} is the last owner of {org}. Make someone else an owner first."
NOT_AN_OWNER = "Only owners manage the team."


# --- Reads --------------------------------------------------------------------------------------


def team_members(org: Organization) -> QuerySet[Membership]:
    """The org's memberships with their users: owners first, then by username."""
    owners_first = Case(When(role=Membership.Role.OWNER, then=Value(0)), default=Value(1))
    return (
        Membership.objects.filter(org=org)
        .select_related("user")
        .order_by(owners_first, "user__username", "pk")
    )


def pending_invitations(org: Organization, now: datetime) -> QuerySet[Invitation]:
    """Invitations whose link still works, newest first, with who sent them."""
    return (
        Invitation.objects.filter(org=org)
        .pending(now, invitation_max_age())
        .select_related("invited_by")
        .order_by("-created_at", "-pk")
    )


def team_activity(org: Organization, limit: int = ACTIVITY_LIMIT) -> QuerySet[AuditEntry]:
    """The org's latest team changes (invitations, joins, roles, removals), newest first."""
    return AuditEntry.objects.for_org(org).filter(action__startswith="team.").newest_first()[:limit]


def accounts_with_email(email: str) -> list[AbstractBaseUser]:
    """Active accounts whose address is ``email`` (canonical) once canonicalized.

    User addresses are not stored canonical (the admin takes them as typed), so candidates are
    found case-insensitively and then compared canonically: a look-alike address (``gmaıl``)
    never matches.
    """
    candidates = get_user_model().objects.filter(email__iexact=email, is_active=True)
    return [user for user in candidates if _canonical_or_none(user.email) == email]


def _canonical_or_none(address: str) -> str | None:
    try:
        return canonical_email(address)
    except ValidationError:
        return None


# --- Roles and removal ----------------------------------------------------------------------------


def _lock_team(org: Organization, by: AbstractBaseUser) -> None:
    """Lock the org's row (every team change of one org queues here); PermissionDenied unless
    ``by`` is an owner of the org right now."""
    Organization.objects.select_for_update().get(pk=org.pk)
    if not Membership.objects.filter(org=org, user=by, role=Membership.Role.OWNER).exists():
        raise PermissionDenied(NOT_AN_OWNER)


def _valid_role(role: str) -> str:
    if role not in Membership.Role.values:
        raise ValidationError({"role": "Choose owner or member."})
    return role


def _refuse_losing_the_last_owner(org: Organization, target: Membership) -> None:
    """Under the org's lock: refuse to demote or remove the org's only owner."""
    others = Membership.objects.filter(org=org, role=Membership.Role.OWNER).exclude(pk=target.pk)
    if target.is_owner and not others.exists():
        raise ValidationError(
            {"role": LAST_OWNER.format(name=target.user.get_username(), org=org.name)}
        )


def change_role(
    *, org: Organization, membership_id: int, role: str, by: AbstractBaseUser
) -> Membership:
    """Make a member an owner or an owner a member (never the org's last owner).

    Membership.DoesNotExist for a membership of another org; PermissionDenied unless ``by`` is
    an owner; ValidationError keyed ``role``."""
    with transaction.atomic():
        _lock_team(org, by)
        target = Membership.objects.select_related("user").get(org=org, pk=membership_id)
        role = _valid_role(role)  # after the lookup: another org's id is "not found" first
        if target.role == role:
            return target
        if role != Membership.Role.OWNER:
            _refuse_losing_the_last_owner(org, target)
        old_role, target.role = target.role, role
        target.save(update_fields=["role"])
        record(
            org=org,
            user=by,
            action=AuditEntry.Action.ROLE_CHANGED,
            target=target.user.get_username(),
            changes={"role": [old_role, role]},
        )
    return target


def remove_member(*, org: Organization, membership_id: int, by: AbstractBaseUser) -> Membership:
    """Remove a member from the org (never its last owner); their next request is a 404.

    Raises as ``change_role`` does. Returns the deleted membership (its user, its role)."""
    with transaction.atomic():
        _lock_team(org, by)
        target = Membership.objects.select_related("user").get(org=org, pk=membership_id)
        _refuse_losing_the_last_owner(org, target)
        target.delete()
        record(
            org=org,
            user=by,
            action=AuditEntry.Action.MEMBER_REMOVED,
            target=target.user.get_username(),
            changes={"role": [target.role, None]},
        )
    return target


def add_member(
    *, org: Organization, user: AbstractBaseUser, role: str, by: AbstractBaseUser
) -> Membership:
    """An operator (a superuser, through Django admin) adds ``user`` to ``org`` directly, e.g.
    the first owner of a new org. ValidationError when they are a member already."""
    if not by.is_superuser:
        raise PermissionDenied("Only operators add members directly; owners invite them.")
    role = _valid_role(role)
    with transaction.atomic():
        Organization.objects.select_for_update().get(pk=org.pk)
        if Membership.objects.filter(org=org, user=user).exists():
            raise ValidationError({"user": f"{user.get_username()} is already a member."})
        membership = Membership.objects.create(org=org, user=user, role=role)
        record(
            org=org,
            user=by,
            action=AuditEntry.Action.MEMBER_JOINED,
            target=user.get_username(),
            changes={"role": [None, role]},
        )
    return membership


# --- Invitations ----------------------------------------------------------------------------------


def invite_member(
    *,
    org: Organization,
    email: str,
    role: str,
    by: AbstractBaseUser,
    now: datetime | None = None,
) -> Invitation:
    """Invite ``email`` to join ``org`` as ``role`` and email them a link (after the commit).

    An open invitation of the same address is replaced (its link stops working). Raises
    ValidationError keyed ``email`` / ``role`` (an undeliverable address, an existing member),
    PermissionDenied unless ``by`` is an owner."""
    now = now or timezone.now()
    errors = {}
    try:
        email = canonical_email(email)
    except ValidationError as error:
        errors["email"] = error.messages
    if role not in Membership.Role.values:
        errors["role"] = ["Choose owner or member."]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        _lock_team(org, by)
        members = Membership.objects.filter(org=org, user__in=accounts_with_email(email))
        if members.exists():
            raise ValidationError({"email": f"{email} is already a member of {org.name}."})
        Invitation.objects.filter(org=org, email=email).open().update(revoked_at=now)
        invitation = Invitation.objects.create(
            org=org, email=email, role=role, invited_by=by, created_at=now
        )
        record(
            org=org,
            user=by,
            action=AuditEntry.Action.MEMBER_INVITED,
            target=email,
            changes={"role": [None, role]},
        )
        transaction.on_commit(partial(send_invitation_task.enqueue, invitation.pk), robust=True)
    return invitation


def revoke_invitation(
    *, org: Organization, invitation_id: int, by: AbstractBaseUser, now: datetime | None = None
) -> Invitation:
    """Revoke a pending invitation: its link stops working. Invitation.DoesNotExist for
    another org's; ValidationError once it was accepted; PermissionDenied unless an owner."""
    now = now or timezone.now()
    with transaction.atomic():
        _lock_team(org, by)
        invitation = Invitation.objects.select_for_update().get(org=org, pk=invitation_id)
        if invitation.accepted_at is not None:
            raise ValidationError(f"{invitation.email} already accepted this invitation.")
        if invitation.revoked_at is None:
            invitation.revoked_at = now
            invitation.save(update_fields=["revoked_at"])
            record(
                org=org,
                user=by,
                action=AuditEntry.Action.INVITATION_REVOKED,
                target=invitation.email,
            )
    return invitation


class InvitationProblem(StrEnum):
    """Why an invitation link does not work (each has its own page text)."""

    INVALID = "invalid"  # tampered, malformed, or no such invitation
    EXPIRED = "expired"
    USED = "used"
    REVOKED = "revoked"
    OTHER_ACCOUNT = "other_account"  # accepted by an account with another address


class InvitationUnavailable(Exception):
    def __init__(self, problem: InvitationProblem):
        super().__init__(problem)
        self.problem = problem


def invitation_token(invitation: Invitation) -> str:
    """The signed, timestamped token of ``invitation``'s link (its id and nonce)."""
    return signing.dumps([invitation.pk, invitation.nonce], salt=INVITATION_SALT)


def invitation_url(invitation: Invitation) -> str:
    """The absolute link emailed to the invited address."""
    path = reverse("dashboard:invitation", kwargs={"token": invitation_token(invitation)})
    return settings.SITE_URL + path


def _check_usable(invitation: Invitation, now: datetime) -> None:
    if invitation.accepted_at is not None:
        raise InvitationUnavailable(InvitationProblem.USED)
    if invitation.revoked_at is not None:
        raise InvitationUnavailable(InvitationProblem.REVOKED)
    if invitation.expires_at <= now:
        raise InvitationUnavailable(InvitationProblem.EXPIRED)


def read_invitation(token: str, *, now: datetime | None = None) -> Invitation:
    """The pending invitation a link opens, with its org; InvitationUnavailable says why not."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvitationUnavailable(InvitationProblem.INVALID)
    try:
        claims = signing.loads(token, salt=INVITATION_SALT, max_age=invitation_max_age())
    except signing.SignatureExpired:
        raise InvitationUnavailable(InvitationProblem.EXPIRED) from None
    except signing.BadSignature:
        raise InvitationUnavailable(InvitationProblem.INVALID) from None
    match claims:
        case [int(invitation_id), str(nonce)]:
            pass
        case _:
            raise InvitationUnavailable(InvitationProblem.INVALID)
    invitation = (
        Invitation.objects.select_related("org", "invited_by").filter(pk=invitation_id).first()
    )
    if invitation is None or not constant_time_compare(nonce, invitation.nonce):
        raise InvitationUnavailable(InvitationProblem.INVALID)
    _check_usable(invitation, now or timezone.now())
    return invitation


def _join(invitation: Invitation, user: AbstractBaseUser, now: datetime) -> Membership:
    """Under the invitation's row lock: add ``user`` with its role, once."""
    membership, created = Membership.objects.get_or_create(
        org=invitation.org, user=user, defaults={"role": invitation.role, "created_at": now}
    )
    invitation.accepted_at = now
    invitation.save(update_fields=["accepted_at"])
    if created:
        record(
            org=invitation.org,
            user=user,
            action=AuditEntry.Action.MEMBER_JOINED,
            target=user.get_username(),
            changes={"role": [None, invitation.role]},
        )
    return membership


def _lock_usable(invitation: Invitation, now: datetime) -> Invitation:
    locked = Invitation.objects.select_for_update().select_related("org").get(pk=invitation.pk)
    _check_usable(locked, now)
    return locked


def accept_invitation(
    *, invitation: Invitation, user: AbstractBaseUser, now: datetime | None = None
) -> Membership:
    """``user`` (an account with the invited address) joins the org with the invited role.

    The link works once: a second acceptance (another tab, a double click) raises
    InvitationUnavailable(USED), as do a revoked or expired one; an account with another
    address raises OTHER_ACCOUNT. A user already in the org keeps their role."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = _lock_usable(invitation, now)
        if _canonical_or_none(user.email or "") != locked.email:
            raise InvitationUnavailable(InvitationProblem.OTHER_ACCOUNT)
        return _join(locked, user, now)


@dataclass(frozen=True)
class NewAccount:
    username: str
    password: str


def accept_invitation_with_new_account(
    *, invitation: Invitation, account: NewAccount, now: datetime | None = None
) -> Membership:
    """Create the invited person's account (the invited address, ``account``'s username and
    password) and add it to the org, in one transaction.

    ValidationError keyed ``username`` (taken, invalid) or ``password`` (Django's password
    validators), or without a field when an account with that address exists by now (log in
    instead); InvitationUnavailable as ``accept_invitation``."""
    now = now or timezone.now()
    User = get_user_model()  # noqa: N806 - Django's name for the user model
    with transaction.atomic():
        locked = _lock_usable(invitation, now)
        if accounts_with_email(locked.email):
            raise ValidationError(
                f"An account with {locked.email} exists already: log in to accept the invitation."
            )
        user = User(username=account.username, email=locked.email)
        errors = {}
        try:
            user.clean_fields(exclude=["password", "first_name", "last_name", "email"])
        except ValidationError as error:
            errors.update(error.message_dict)
        if "username" not in errors:
            errors.update(_username_errors(User, user.get_username()))
        try:
            password_validation.validate_password(account.password, user)
        except ValidationError as error:
            errors["password"] = error.messages
        if errors:
            raise ValidationError(errors)
        user.set_password(account.password)
        user.save()
        return _join(locked, user, now)


def _username_errors(User, username: str) -> dict[str, list[str]]:  # noqa: N803
    try:
        # ASCII only: a look-alike of a teammate's name (Cyrillic "е" in "dеmo") would read as
        # them on the team page and in the audit log.
        ASCIIUsernameValidator()(username)
    except ValidationError as error:
        return {"username": error.messages}
    if User.objects.filter(username__iexact=username).exists():
        return {"username": ["That username is taken. Choose another one."]}
    return {}


# --- The invitation email -------------------------------------------------------------------------


def invitation_message(invitation: Invitation) -> EmailMultiAlternatives:
    """The invitation email (text + HTML, in the receipts' look) with the link."""
    context = {
        "invitation": invitation,
        "org": invitation.org,
        "inviter": invitation.invited_by.get_username() if invitation.invited_by else None,
        "invitation_url": invitation_url(invitation),
        "expires_at": invitation.expires_at,
    }
    message = EmailMultiAlternatives(
        subject=f"Join {invitation.org.name} on the Checkout dashboard",
        body=render_to_string("orgs/email/invitation.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[invitation.email],
    )
    message.attach_alternative(render_to_string("orgs/email/invitation.html", context), "text/html")
    return message


@task()
def send_invitation_task(invitation_id: int) -> str:
    """Email an invitation's link; record ``sent_at``, or ``send_error`` for the team page.

    Run again (a worker died), it sends nothing twice once ``sent_at`` is recorded, and nothing
    for an invitation accepted or revoked (or replaced) meanwhile."""
    invitation = (
        Invitation.objects.open().select_related("org", "invited_by").filter(pk=invitation_id)
    ).first()
    if invitation is None or invitation.sent_at is not None:
        return "skipped"
    sent = Invitation.objects.filter(pk=invitation.pk)
    try:
        invitation_message(invitation).send()
    except (smtplib.SMTPException, OSError, ValueError) as error:
        # ValueError: the mail library refused the message (a header it cannot encode).
        logger.warning("Invitation %s not sent: %s", invitation.pk, error)
        sent.update(send_error=f"{type(error).__name__}: {error}"[:300])
        return "failed"
    sent.update(sent_at=timezone.now(), send_error="")
    return "sent"
