"""Who may see which dashboard page: one decorator for every merchant view.

``/dashboard/<org slug>/test/…`` is test mode and ``/dashboard/<org slug>/…`` live (Stripe's
``/test/`` paths), so a shared link opens the same view. The org is resolved through the user's
own memberships: an org they do not belong to, or no org at all, is a 404, never a 403 (which
would confirm that the slug exists).
"""

from dataclasses import dataclass
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.http import Http404
from django.shortcuts import render
from django.urls import ResolverMatch, reverse

from orgs.models import Membership, Mode, Organization

# The page the test / live switch opens when the current page shows one object (a session id
# exists in one mode only): the list of the same kind.
SWITCH_TO_LIST = "dashboard:sessions"


class ModeConverter:
    """The mode part of a dashboard URL: ``test/`` for test mode, nothing for live."""

    regex = "(?:test/)?"

    def to_python(self, value: str) -> str:
        return Mode.TEST if value else Mode.LIVE

    def to_url(self, value: str) -> str:
        return "test/" if value == Mode.TEST else ""


class PublicIdConverter:
    """A public id in a dashboard URL (``cs_test_…``, ``ord_…``): letters, digits and ``_``, at
    most 64 characters (the column's size). Anything else is no page (404) and never reaches
    the database: a NUL byte would make PostgreSQL raise instead of finding nothing."""

    regex = "[A-Za-z0-9_]{1,64}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


@dataclass(frozen=True)
class OrgLink:
    """One entry of the org switcher: the page to open in that org."""

    org: Organization
    url: str
    is_current: bool


@dataclass(frozen=True)
class Dashboard:
    """What the shell shows around every page: the org, the mode, the user's other orgs and
    the same page in the other mode."""

    org: Organization
    mode: str
    membership: Membership
    memberships: list[Membership]
    other_mode_url: str
    org_links: tuple[OrgLink, ...] = ()

    @property
    def is_test(self) -> bool:
        return self.mode == Mode.TEST

    @property
    def other_mode(self) -> str:
        return Mode.LIVE if self.is_test else Mode.TEST

    @property
    def is_owner(self) -> bool:
        """Owners manage keys, secrets, settings and the team; members see everything."""
        return self.membership.role == Membership.Role.OWNER


def dashboard_view(
    view=None,
    *,
    switch_to: str | None = None,
    log_in_to: str | None = None,
    owner_only: bool = False,
):
    """Resolve ``org_slug`` and ``mode`` from the URL through the user's membership into
    ``request.org``, ``request.mode`` and ``request.dashboard``; anonymous → log in, any org
    the user is not a member of → 404. ``switch_to`` names the page the mode switch opens
    when the same page cannot exist in the other mode (a detail page). ``log_in_to`` names the
    page (same URL arguments) to open after logging in, for URLs that only take POSTs (an
    action): coming back to the action's URL itself would be a GET, refused. ``owner_only``: a
    member who is not an owner gets the 403 page and the view never runs."""
    if view is None:
        return lambda view: dashboard_view(
            view, switch_to=switch_to, log_in_to=log_in_to, owner_only=owner_only
        )

    @wraps(view)
    def wrapper(request, org_slug: str, mode: str, **kwargs):
        if not request.user.is_authenticated:
            if log_in_to:
                match = request.resolver_match
                return redirect_to_login(reverse(log_in_to, kwargs=match.kwargs))
            return redirect_to_login(request.get_full_path())
        # One query: the user's memberships with their orgs (the shell's org switcher too).
        memberships = list(
            Membership.objects.filter(user=request.user).select_related("org").order_by("org__name")
        )
        membership = next((m for m in memberships if m.org.slug == org_slug), None)
        if membership is None:
            raise Http404("No such organization.")
        other_mode = Mode.LIVE if mode == Mode.TEST else Mode.TEST
        match = request.resolver_match
        if switch_to:
            other_mode_url = reverse(switch_to, kwargs={"org_slug": org_slug, "mode": other_mode})
        else:
            other_mode_url = reverse(match.view_name, kwargs={**match.kwargs, "mode": other_mode})
        request.org = membership.org
        request.mode = mode
        request.dashboard = Dashboard(
            org=membership.org,
            mode=mode,
            membership=membership,
            memberships=memberships,
            other_mode_url=other_mode_url,
            org_links=org_switcher_links(
                memberships, membership, match, mode, switch_to=switch_to, owner_only=owner_only
            ),
        )
        if owner_only and not request.dashboard.is_owner:
            return render(request, "dashboard/forbidden.html", status=403)
        return view(request, **kwargs)

    return wrapper


def org_switcher_links(
    memberships: list[Membership],
    current: Membership,
    match: ResolverMatch,
    mode: str,
    *,
    switch_to: str | None,
    owner_only: bool,
) -> tuple[OrgLink, ...]:
    """The org switcher keeps the section: this page in each other org (Orders → their
    Orders); a page of one object (``switch_to``, which can't exist in another org) → that
    section's list; an owners-only page, in an org where the user is a member → its sessions.
    Built from the memberships already loaded: no query."""
    links = []
    for membership in memberships:
        kwargs = {"org_slug": membership.org.slug, "mode": mode}
        if owner_only and not membership.is_owner:
            url = reverse(SWITCH_TO_LIST, kwargs=kwargs)
        elif switch_to:
            url = reverse(switch_to, kwargs=kwargs)
        else:
            url = reverse(match.view_name, kwargs={**match.kwargs, **kwargs})
        links.append(OrgLink(org=membership.org, url=url, is_current=membership == current))
    return tuple(links)
