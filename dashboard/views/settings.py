"""Settings → Checkout settings: the org's checkout defaults, this mode's callback signing
secret (reveal, rotate), a test callback, the callback deliveries log (redeliver) and the
activity of these settings.

Members see everything (the secret masked) and change nothing: every action is an owner-only
POST. Each action answers an HTMX request with the section it changed (plus the activity
list, out of band) and a plain POST with a redirect back to the page and a flash message,
except revealing the secret, which is never stored anywhere to be shown after a redirect: that
POST renders the page with the secret in it (``Cache-Control: no-store``).
"""

import copy
import re
from dataclasses import asdict
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.views.decorators.http import require_POST

from checkout.callbacks import (
    NoCallbackUrl,
    RedeliveryRefused,
    SentTestCallback,
    redeliver_callback,
    send_test_callback,
)
from checkout.models import CallbackDelivery
from checkout.queries import Cursor
from dashboard.access import dashboard_view
from dashboard.settings_forms import CheckoutDefaultsForm
from orgs.models import AuditEntry, CallbackSecret
from orgs.services import (
    callback_secret_for,
    reveal_callback_secret,
    rotate_callback_secret,
    save_organization,
)

PAGE = "dashboard/settings.html"
DELIVERIES_PAGE_SIZE = 20
ACTIVITY_SIZE = 10
# What this page changes, for its Activity list (the team and keys have pages of their own).
ACTIVITY_ACTIONS = [
    AuditEntry.Action.SETTINGS_UPDATED,
    AuditEntry.Action.SECRET_REVEALED,
    AuditEntry.Action.SECRET_ROTATED,
    AuditEntry.Action.TEST_CALLBACK_SENT,
    AuditEntry.Action.CALLBACK_REDELIVERED,
]
# orgs.ids.new_public_id("msg"): anything else is no delivery of ours (404, no query).
DELIVERY_ID = re.compile(r"msg_[A-Za-z0-9]{24,56}")


def _url(request, name: str = "dashboard:settings") -> str:
    return reverse(name, kwargs={"org_slug": request.org.slug, "mode": request.mode})


def _test_result_key(request) -> str:
    return f"dashboard.test_callback.{request.org.pk}.{request.mode}"


def _cursor(deliveries, public_id: str | None) -> Cursor | None:
    """The position of a delivery of this org and mode (an unknown id: the newest page)."""
    if not public_id or not DELIVERY_ID.fullmatch(public_id):
        return None
    return deliveries.cursor_at(public_id)


def _deliveries(request, source) -> dict:
    """One keyset page of this mode's deliveries, newest first (``after`` / ``before``)."""
    deliveries = CallbackDelivery.objects.for_org(request.org, request.mode)
    after, before = source.get("after"), source.get("before")
    page = deliveries.select_related("session").page(
        limit=DELIVERIES_PAGE_SIZE,
        after=_cursor(deliveries, after),
        before=_cursor(deliveries, before),
    )
    url = _url(request)
    rows = page.rows
    return {
        "deliveries": page,
        "page_position": {"after": after, "before": before},
        "newer_url": page.has_newer and rows and f"{url}?before={rows[0].public_id}#deliveries",
        "older_url": page.has_older and rows and f"{url}?after={rows[-1].public_id}#deliveries",
    }


def _context(request, *, source=None, form=None, **extra) -> dict:
    """Everything the page shows, in a fixed number of queries."""
    org, mode = request.org, request.mode
    signing = list(CallbackSecret.objects.for_org(org, mode).signing(timezone.now()))
    current = next((secret for secret in signing if secret.expires_at is None), None)
    current = current or callback_secret_for(org=org, mode=mode)  # made on first use
    now = timezone.now()  # after that: a secret made just now was not made "in a moment"
    activity = (
        AuditEntry.objects.for_org(org)
        .filter(Q(mode=mode) | Q(mode=""), action__in=ACTIVITY_ACTIONS)
        .newest_first()[:ACTIVITY_SIZE]
    )
    return {
        "section": "settings",
        "now": now,
        "is_owner": request.dashboard.is_owner,
        "form": form or CheckoutDefaultsForm(instance=org, editable=request.dashboard.is_owner),
        "secret": current,
        "previous_secrets": [secret for secret in signing if secret.expires_at is not None],
        "callback_url": org.callback_url,
        "activity": list(activity),
        "settings_url": _url(request),
        "oob": (),
        **_deliveries(request, source if source is not None else request.GET),
        **extra,
    }


def _sections(request, context: dict, target: str, *others: str) -> HttpResponse:
    """An HTMX answer: the ``target`` section (swapped where the request said), then the
    ``others`` and the activity list, swapped out of band (``hx-swap-oob``) by their ids."""
    context = {**context, "oob": {*others, "activity"}}
    html = "".join(
        render_to_string(f"{PAGE}#{name}", context, request=request)
        for name in (target, *others, "activity")
    )
    return HttpResponse(html)


def _back(request, anchor: str) -> HttpResponse:
    """A plain POST's answer: back to the page (PRG), at the section acted on."""
    return redirect(f"{_url(request)}#{anchor}")


@dashboard_view
def checkout_settings(request):
    """The page; an HTMX page of the deliveries log gets that section only."""
    result = request.session.pop(_test_result_key(request), None)
    try:
        test_result = SentTestCallback(**result) if isinstance(result, dict) else None
    except TypeError:  # stored by another version of this page
        test_result = None
    context = _context(request, test_result=test_result)
    partial = (
        request.htmx
        and not request.htmx.history_restore_request
        and request.htmx.target == "deliveries"
    )
    response = render(request, f"{PAGE}#deliveries" if partial else PAGE, context)
    patch_vary_headers(response, ["HX-Request", "HX-Target"])
    return response


@require_POST
@dashboard_view(owner_only=True, switch_to="dashboard:settings")
def save_defaults(request):
    """Save the checkout defaults through ``save_organization`` (audited); errors are shown
    next to their fields."""
    # A copy: a refused form must not leave its values on the org the page shows.
    form = CheckoutDefaultsForm(request.POST, instance=copy.copy(request.org), editable=True)
    if form.is_valid():
        try:
            request.org = save_organization(org=form.instance, user=request.user)
        except ValidationError as error:
            form.add_service_errors(error)
    if form.errors:
        if request.htmx:
            return _sections(request, _context(request, form=form), "defaults")
        return render(request, PAGE, _context(request, form=form))
    messages.success(request, "Checkout settings saved.", extra_tags="defaults")
    if request.htmx:
        # Every section shows the org's settings (the test callback's URL…): all redrawn.
        return _sections(request, _context(request), "defaults", "test_callback")
    return _back(request, "checkout-defaults")


@require_POST
@dashboard_view(owner_only=True, switch_to="dashboard:settings")
def reveal_secret(request):
    """This mode's current secret, in full, in this response only (never cached)."""
    secret = reveal_callback_secret(org=request.org, mode=request.mode, user=request.user)
    context = _context(request, revealed_secret=secret.secret)
    if request.htmx:
        response = _sections(request, context, "secret")
    else:
        response = render(request, PAGE, context)
    add_never_cache_headers(response)
    return response


@require_POST
@dashboard_view(owner_only=True, switch_to="dashboard:settings")
def rotate_secret(request):
    """Replace this mode's secret; the previous one keeps signing and verifying for 24 h.
    Only with the confirmation (``confirm=rotate``): else the page asks for it."""
    if request.POST.get("confirm") != "rotate":
        context = _context(request, confirm_rotation=True)
        if request.htmx:
            return _sections(request, context, "secret")
        return render(request, PAGE, context)
    rotate_callback_secret(org=request.org, mode=request.mode, user=request.user)
    messages.success(
        request,
        f"The {request.mode} signing secret was rotated. The previous secret keeps verifying "
        "for 24 hours: switch your handler to the new one before then.",
        extra_tags="secret",
    )
    if request.htmx:
        return _sections(request, _context(request), "secret")
    return _back(request, "callback-secret")


@require_POST
@dashboard_view(owner_only=True, switch_to="dashboard:settings")
def test_callback(request):
    """POST a signed test callback to the callback URL now and show what came back."""
    try:
        sent = send_test_callback(org=request.org, mode=request.mode, user=request.user)
    except NoCallbackUrl as error:
        messages.error(request, str(error), extra_tags="test_callback")
        sent = None
    if request.htmx:
        return _sections(request, _context(request, test_result=sent), "test_callback")
    if sent is not None:
        # Shown once by the next GET of the page (PRG), never kept beyond it.
        request.session[_test_result_key(request)] = asdict(sent)
    return _back(request, "test-callback")


@require_POST
@dashboard_view(owner_only=True, switch_to="dashboard:settings")
def redeliver(request, delivery_id: str):
    """Send a pending or failed delivery of this org and mode again now (same webhook-id)."""
    if not DELIVERY_ID.fullmatch(delivery_id):
        raise Http404("No such callback delivery.")
    delivery = (
        CallbackDelivery.objects.for_org(request.org, request.mode)
        .filter(public_id=delivery_id)
        .first()
    )
    if delivery is None:
        raise Http404("No such callback delivery.")
    attempts_before = delivery.attempts
    try:
        redeliver_callback(delivery=delivery, user=request.user)
    except RedeliveryRefused as error:
        messages.error(request, str(error), extra_tags="deliveries")
    else:
        delivery.refresh_from_db()
        messages.success(
            request, _redelivered_message(delivery, attempts_before), extra_tags="deliveries"
        )
    if request.htmx:
        return _sections(request, _context(request, source=request.POST), "deliveries")
    # Back to the page of the log the button was on.
    position = {
        key: request.POST[key]
        for key in ("after", "before")
        if DELIVERY_ID.fullmatch(request.POST.get(key, ""))
    }
    query = f"?{urlencode(position)}" if position else ""
    return redirect(f"{_url(request)}{query}#deliveries")


def _redelivered_message(delivery: CallbackDelivery, attempts_before: int) -> str:
    """What the redelivery did: a task backend that runs at once has made the attempt."""
    if delivery.attempts == attempts_before:
        return f"{delivery.public_id} is queued to be sent again now, with the same webhook-id."
    if delivery.status == CallbackDelivery.Status.DELIVERED:
        return (
            f"{delivery.public_id} was sent again and delivered (HTTP {delivery.last_status_code})."
        )
    return f"{delivery.public_id} was sent again and failed: {delivery.last_error}"
