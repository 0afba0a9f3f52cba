"""Settings → Customer data: an owner erases one customer's personal data on request, in both
modes (``checkout.erasure``). Owners only, the page as well as the action: the page is where
a data-subject request is handled, not something members need to see.

The form posts without JavaScript; the answer is a 303 back to the page with a flash message
saying how many sessions and orders changed, or the page again with the form's errors.
"""

from django.contrib import messages
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from checkout.actors import Actor
from checkout.erasure import erase_customer
from dashboard.access import dashboard_view
from dashboard.privacy_forms import ErasureForm

PAGE = "dashboard/privacy.html"
OWNER_PAGE = {"owner_only": True}


def _render(request, form: ErasureForm, status: int = 200) -> HttpResponse:
    return render(request, PAGE, {"section": "privacy", "form": form}, status=status)


@dashboard_view(**OWNER_PAGE)
def privacy(request):
    """The erasure form."""
    return _render(request, ErasureForm())


@dashboard_view(log_in_to="dashboard:privacy", **OWNER_PAGE)
@require_POST
def erase(request):
    form = ErasureForm(request.POST)
    if not form.is_valid():
        return _render(request, form, status=400)
    erasure = erase_customer(
        org=request.org, email=form.cleaned_data["email"], actor=Actor.for_user(request.user)
    )
    if erasure.found:
        messages.success(
            request,
            f"Erased the customer's personal data from {erasure.sessions} checkout session(s) "
            f"and {erasure.orders} order(s), in test and live mode.",
        )
    else:
        messages.info(request, "No checkout session or order of that customer: nothing to erase.")
    response = HttpResponseRedirect(
        reverse("dashboard:privacy", kwargs={"org_slug": request.org.slug, "mode": request.mode})
    )
    response.status_code = 303
    return response
