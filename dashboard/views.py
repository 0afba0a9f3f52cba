"""Merchant dashboard (a shell this milestone): the user's organizations with status counts."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from checkout.choices import SessionStatus
from checkout.models import CheckoutSession
from orgs.models import Mode, Organization


@login_required
def home(request):
    orgs = list(Organization.objects.filter(memberships__user=request.user).order_by("name"))
    counts = CheckoutSession.objects.filter(org__in=orgs, mode=Mode.TEST).status_counts_by_org()
    empty = dict.fromkeys(["all", *SessionStatus.values], 0)
    overview = [(org, counts.get(org.pk, empty)) for org in orgs]
    return render(request, "dashboard/home.html", {"overview": overview})
