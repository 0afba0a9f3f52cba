"""Merchant dashboard (a shell this milestone): the user's organizations with status counts."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from checkout.models import CheckoutSession
from orgs.models import Mode, Organization


@login_required
def home(request):
    orgs = Organization.objects.filter(memberships__user=request.user).order_by("name")
    overview = [
        (org, CheckoutSession.objects.for_org(org, Mode.TEST).status_counts()) for org in orgs[:20]
    ]
    return render(request, "dashboard/home.html", {"overview": overview})
