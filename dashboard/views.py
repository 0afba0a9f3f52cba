"""Merchant dashboard (a shell this milestone): the user's organizations with status counts."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from checkout.rollup import status_counts_by_org
from orgs.models import Mode, Organization


@login_required
def home(request):
    orgs = list(Organization.objects.filter(memberships__user=request.user).order_by("name"))
    counts = status_counts_by_org([org.pk for org in orgs], Mode.TEST)
    overview = [(org, counts[org.pk]) for org in orgs]
    return render(request, "dashboard/home.html", {"overview": overview})
