"""The dashboard's front door: a member lands on their first org's test-mode sessions."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from dashboard.access import dashboard_view
from orgs.models import Membership, Mode


@login_required
def home(request):
    """``/dashboard/`` (where logging in lands): the first org's test-mode sessions list, as a
    new merchant starts in test mode; a user of no org is told so."""
    membership = (
        Membership.objects.filter(user=request.user)
        .select_related("org")
        .order_by("org__name")
        .first()
    )
    if membership is None:
        return render(request, "dashboard/no_organization.html")
    return redirect("dashboard:sessions", org_slug=membership.org.slug, mode=Mode.TEST)


@dashboard_view
def org_home(request):
    return redirect("dashboard:sessions", org_slug=request.org.slug, mode=request.mode)
