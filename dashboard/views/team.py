"""Settings → Team: members and their roles, pending invitations and the team's activity, the
owners' actions on them, and the page an emailed invitation link opens.

Every change goes through ``orgs.team`` (its rules: owners only, never the last owner, a link
works once). Members see the page; every action is owners-only (the 403 page, nothing changes).
With HTMX an action answers with the page's ``team`` partial; without JavaScript it redirects
(303) to the page with a flash message, or re-renders the page with the errors in place.
"""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from dashboard.access import dashboard_view
from dashboard.team_forms import InviteForm, NewAccountForm, add_service_errors
from orgs import team as team_service
from orgs.models import Invitation, Membership, Mode
from orgs.team import InvitationProblem, InvitationUnavailable, NewAccount

PAGE = "dashboard/team.html"
INVITATION_PAGE = "dashboard/invitation.html"
OWNER_ACTION = {"owner_only": True, "switch_to": "dashboard:team"}


def _team_url(request) -> str:
    return reverse("dashboard:team", kwargs={"org_slug": request.org.slug, "mode": request.mode})


def _render_team(request, *, invite_form=None, row_errors=None) -> HttpResponse:
    now = timezone.now()
    members = list(team_service.team_members(request.org))
    for membership in members:
        membership.errors = (row_errors or {}).get(membership.pk, [])
    context = {
        "section": "team",
        "now": now,
        "members": members,
        "owner_count": sum(membership.is_owner for membership in members),
        "invitations": list(team_service.pending_invitations(request.org, now)),
        "invitation_days": settings.INVITATION_MAX_AGE_DAYS,
        "activity": list(team_service.team_activity(request.org)),
        "invite_form": invite_form or InviteForm(),
    }
    # Back after an HTMX navigation may ask for the page with HX-Request set: it needs it whole.
    partial = request.htmx and not request.htmx.history_restore_request
    response = render(request, f"{PAGE}#team" if partial else PAGE, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _see_other(url: str) -> HttpResponseRedirect:
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


def _go_to(request, url: str) -> HttpResponse:
    """A full navigation: HX-Redirect for HTMX requests, a 303 otherwise."""
    return HttpResponseClientRedirect(url) if request.htmx else _see_other(url)


def _done(request, message: str) -> HttpResponse:
    messages.success(request, message)
    return _render_team(request) if request.htmx else _go_to(request, _team_url(request))


def _forbidden(request) -> HttpResponse:
    # An owner demoted by another owner a moment ago: the service refused under its lock.
    return render(request, "dashboard/forbidden.html", status=403)


@dashboard_view
def team_page(request):
    """Members with their roles, pending invitations and recent activity; owners manage."""
    return _render_team(request)


@dashboard_view(**OWNER_ACTION)
@require_POST
def invite(request):
    form = InviteForm(request.POST)
    if form.is_valid():
        try:
            invitation = team_service.invite_member(
                org=request.org,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                by=request.user,
            )
        except PermissionDenied:
            return _forbidden(request)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            return _done(request, f"Invitation sent to {invitation.email}.")
    return _render_team(request, invite_form=form)


@dashboard_view(**OWNER_ACTION)
@require_POST
def change_role(request, membership_id: int):
    try:
        changed = team_service.change_role(
            org=request.org,
            membership_id=membership_id,
            role=request.POST.get("role", ""),
            by=request.user,
        )
    except Membership.DoesNotExist:
        raise Http404("No such member.") from None
    except PermissionDenied:
        return _forbidden(request)
    except ValidationError as error:
        return _render_team(request, row_errors={membership_id: error.messages})
    name, role = changed.user.get_username(), changed.get_role_display().lower()
    if changed.user == request.user:
        # No longer an owner: the page must be drawn again without the owners' controls.
        messages.success(request, f"You are now a {role}.")
        return _go_to(request, _team_url(request))
    return _done(request, f"{name} is now {'an' if role == 'owner' else 'a'} {role}.")


@dashboard_view(**OWNER_ACTION)
@require_POST
def remove(request, membership_id: int):
    try:
        removed = team_service.remove_member(
            org=request.org, membership_id=membership_id, by=request.user
        )
    except Membership.DoesNotExist:
        raise Http404("No such member.") from None
    except PermissionDenied:
        return _forbidden(request)
    except ValidationError as error:
        return _render_team(request, row_errors={membership_id: error.messages})
    if removed.user == request.user:
        messages.success(request, f"You left {request.org.name}.")
        return _go_to(request, reverse("dashboard:home"))
    return _done(request, f"{removed.user.get_username()} was removed from the team.")


@dashboard_view(**OWNER_ACTION)
@require_POST
def revoke(request, invitation_id: int):
    try:
        revoked = team_service.revoke_invitation(
            org=request.org, invitation_id=invitation_id, by=request.user
        )
    except Invitation.DoesNotExist:
        raise Http404("No such invitation.") from None
    except PermissionDenied:
        return _forbidden(request)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return _render_team(request) if request.htmx else _go_to(request, _team_url(request))
    return _done(request, f"Invitation of {revoked.email} revoked: its link no longer works.")


# --- The invitation link -------------------------------------------------------------------------

UNAVAILABLE_STATUS = {InvitationProblem.INVALID: 404}


def _unavailable(request, problem: InvitationProblem) -> HttpResponse:
    context = {"problem": problem, "max_age_days": settings.INVITATION_MAX_AGE_DAYS}
    status = UNAVAILABLE_STATUS.get(problem, 410)
    return render(request, "dashboard/invitation_unavailable.html", context, status=status)


def _welcome(request, membership: Membership) -> HttpResponse:
    messages.success(request, f"Welcome to {membership.org.name}.")
    url = reverse("dashboard:sessions", kwargs={"org_slug": membership.org.slug, "mode": Mode.TEST})
    return _see_other(url)


@never_cache
@require_http_methods(["GET", "POST"])
def invitation(request, token: str):
    """An invitation link: a logged-in account with the invited address accepts with one
    click; without an account, a form creates one (and joins); with one, log in first. A
    tampered, expired, revoked or used link is a page saying so (404 / 410)."""
    try:
        invited = team_service.read_invitation(token)
    except InvitationUnavailable as unavailable:
        return _unavailable(request, unavailable.problem)
    context = {"invitation": invited, "org": invited.org}
    if request.user.is_authenticated:
        if request.method == "POST":
            try:
                membership = team_service.accept_invitation(invitation=invited, user=request.user)
            except InvitationUnavailable as unavailable:
                if unavailable.problem != InvitationProblem.OTHER_ACCOUNT:
                    return _unavailable(request, unavailable.problem)
            else:
                return _welcome(request, membership)
        matches = team_service.accounts_with_email(invited.email)
        step = "accept" if request.user in matches else "other_account"
        return render(request, INVITATION_PAGE, {**context, "step": step})
    if team_service.accounts_with_email(invited.email):
        context["login_url"] = f"{reverse('login')}?{urlencode({'next': request.path})}"
        return render(request, INVITATION_PAGE, {**context, "step": "log_in"})
    form = NewAccountForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        account = NewAccount(form.cleaned_data["username"], form.cleaned_data["password"])
        try:
            membership = team_service.accept_invitation_with_new_account(
                invitation=invited, account=account
            )
        except InvitationUnavailable as unavailable:
            return _unavailable(request, unavailable.problem)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            # A new account, just given its password: the model backend is the one that
            # authenticates it (axes' backend, listed first, only refuses or counts).
            login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
            return _welcome(request, membership)
    return render(request, INVITATION_PAGE, {**context, "step": "create_account", "form": form})
