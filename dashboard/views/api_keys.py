"""Settings → API keys: the mode's keys for every member; creating (the secret shown once)
and revoking for owners only.

A new key's secret is in the body of the POST's own response and nowhere else: not in a
redirect URL, the session or a flash message, and the response is ``Cache-Control: no-store``.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import F
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.views.decorators.http import require_POST

from dashboard.access import dashboard_view
from dashboard.api_key_form import ApiKeyForm
from orgs.models import ApiKey, AuditEntry
from orgs.services import create_api_key, revoke_api_key

PAGE = "dashboard/api_keys.html"
PAGE_SIZE = 50
KEY_ACTIONS = [AuditEntry.Action.API_KEY_CREATED, AuditEntry.Action.API_KEY_REVOKED]


def _render(request, *, form=None, new_key=None, plain_key="", notice="", status=200):
    """The page (or with HTMX its ``keys`` partial): usable keys first, then revoked ones."""
    keys = (
        ApiKey.objects.filter(org=request.org, mode=request.mode)
        .select_related("created_by")
        .order_by(F("revoked_at").desc(nulls_first=True), "-created_at", "-id")
    )
    partial = bool(request.htmx) and not request.htmx.history_restore_request
    context = {
        "section": "api_keys",
        "now": timezone.now(),
        "form": form or ApiKeyForm(),
        "page": Paginator(keys, PAGE_SIZE).get_page(request.GET.get("page")),
        "new_key": new_key,
        "plain_key": plain_key,
        "notice": notice,
        "list_url": _list_url(request),
        "activity": list(
            AuditEntry.objects.for_org(request.org)
            .filter(mode=request.mode, action__in=KEY_ACTIONS)
            .newest_first()[:10]
        ),
    }
    response = render(request, f"{PAGE}#keys" if partial else PAGE, context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    # A page that may hold a secret is never stored (nor, where browsers honour it, kept for
    # Back); the list alone holds nothing secret, but one rule for the page is simpler.
    add_never_cache_headers(response)
    return response


def _list_url(request) -> str:
    return reverse(
        "dashboard:api_keys", kwargs={"org_slug": request.org.slug, "mode": request.mode}
    )


@dashboard_view
def api_key_list(request):
    """Every member sees the keys (masked); only owners get the create and revoke forms."""
    return _render(request)


@require_POST
@dashboard_view(owner_only=True)
def api_key_create(request):
    """Create a key and show its secret in this response, once (no redirect: after a
    redirect the secret would have to travel through the URL, the session or a message)."""
    form = ApiKeyForm(request.POST)
    if form.is_valid():
        try:
            api_key, plain_key = create_api_key(
                org=request.org,
                mode=request.mode,
                name=form.cleaned_data["name"],
                created_by=request.user,
            )
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            return _render(request, new_key=api_key, plain_key=plain_key, status=201)
    return _render(request, form=form)


@require_POST
@dashboard_view(owner_only=True)
def api_key_revoke(request, key_id: int):
    """Revoke one of this org's and mode's keys (another's is a 404); PRG with a message."""
    api_key = ApiKey.objects.filter(org=request.org, mode=request.mode, pk=key_id).first()
    if api_key is None:
        raise Http404("No such API key.")
    api_key.org = request.org
    was_revoked = api_key.is_revoked
    revoke_api_key(api_key=api_key, user=request.user)
    notice = (
        f"{api_key.masked} was already revoked."
        if was_revoked
        else f"Revoked {api_key.masked}: requests with it now get 401."
    )
    if request.htmx:
        return _render(request, notice=notice)
    messages.success(request, notice)
    return redirect(_list_url(request))
