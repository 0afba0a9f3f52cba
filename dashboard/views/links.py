"""Products → Payment links: the list (with sessions and conversion per link), create, edit,
deactivate / reactivate, and a link's page (its URL to copy, a QR code, its sessions).

Members and owners alike manage links: links are products, not keys, secrets, settings or
the team (which only owners manage).
"""

import io
from dataclasses import dataclass

import segno
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_POST

from checkout.choices import SessionStatus
from checkout.models import CheckoutSession
from dashboard.access import dashboard_view
from dashboard.payment_link_form import LinkSearchForm, PaymentLinkForm
from orgs.models import AuditEntry, PaymentLink
from orgs.services import save_payment_link, set_payment_links_active

LIST = "dashboard/links.html"
DETAIL = "dashboard/link_detail.html"
FORM = "dashboard/link_form.html"
PAGE_SIZE = 25
RECENT_SESSIONS = 10
LINK_ACTIONS = [action for action in AuditEntry.Action if action.startswith("payment_link.")]


@dataclass(frozen=True)
class LinkStats:
    """A link's sessions by outcome, from ``status_counts_by_payment_link``."""

    sessions: int = 0
    paid: int = 0
    open: int = 0

    @property
    def conversion_percent(self) -> float | None:
        """Paid sessions among those that ended (open ones may still pay), as on the
        sessions list's chart; None before any ended."""
        ended = self.sessions - self.open
        return round(100 * self.paid / ended, 1) if ended else None


@dataclass(frozen=True)
class LinkRow:
    link: PaymentLink
    currency: str
    stats: LinkStats


def public_url(link: PaymentLink) -> str:
    """The URL customers open: ``SITE_URL/pay/<link id>``."""
    return settings.SITE_URL + reverse("checkout:payment_link", kwargs={"link_id": link.public_id})


def _url(request, name: str, **kwargs) -> str:
    return reverse(name, kwargs={"org_slug": request.org.slug, "mode": request.mode, **kwargs})


def _link_or_404(request, link_id: str) -> PaymentLink:
    link = PaymentLink.objects.filter(org=request.org, mode=request.mode, public_id=link_id).first()
    if link is None:
        raise Http404("No such payment link.")
    link.org = request.org  # the same row: spares a query wherever the link names its org
    return link


def _partial(request) -> bool:
    # Back after an HTMX navigation may ask for the page with HX-Request set: it needs it whole.
    return bool(request.htmx) and not request.htmx.history_restore_request


@dashboard_view
def link_list(request):
    """The mode's links, newest first, searchable by name; each with its sessions and
    conversion (one grouped query for the page). HTMX: the results only."""
    q = LinkSearchForm(request.GET).text
    links = PaymentLink.objects.filter(org=request.org, mode=request.mode)
    if q:
        links = links.filter(name__icontains=q)
    page = Paginator(links.order_by("-created_at", "-id"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    counts = CheckoutSession.objects.filter(
        payment_link__in=[link.pk for link in page]
    ).status_counts_by_payment_link(timezone.now())
    rows = [
        LinkRow(
            link=link,
            currency=link.currency or request.org.currency,
            stats=LinkStats(
                sessions=counts.get(link.pk, {}).get("all", 0),
                paid=counts.get(link.pk, {}).get(SessionStatus.SUCCEEDED, 0),
                open=counts.get(link.pk, {}).get(SessionStatus.OPEN, 0),
            ),
        )
        for link in page
    ]
    context = {
        "section": "links",
        "now": timezone.now(),
        "q": q,
        "page": page,
        "rows": rows,
        "list_url": _url(request, "dashboard:links"),
        "sessions_url": _url(request, "dashboard:sessions"),
    }
    if not _partial(request):
        context["activity"] = _link_activity(request)
    response = render(request, f"{LIST}#results" if _partial(request) else LIST, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _link_activity(request, link: PaymentLink | None = None) -> list[AuditEntry]:
    """The latest link changes in this mode (or of one link), each with its link's name."""
    entries = AuditEntry.objects.for_org(request.org).filter(
        mode=request.mode, action__in=LINK_ACTIONS
    )
    if link is not None:
        entries = entries.filter(target=link.public_id)
    entries = list(entries.newest_first()[:10])
    if link is not None:
        names = {link.public_id: link.name}
    else:
        names = dict(
            PaymentLink.objects.filter(
                org=request.org, public_id__in={entry.target for entry in entries}
            ).values_list("public_id", "name")
        )
    for entry in entries:
        entry.link_name = names.get(entry.target, "")
    return entries


@dashboard_view
def link_create(request):
    """A new link in this mode; GET shows the empty form."""
    form = PaymentLinkForm(request.POST if request.method == "POST" else None, org=request.org)
    link = PaymentLink(org=request.org, mode=request.mode)
    return _save(request, form, link, created=True)


@dashboard_view(switch_to="dashboard:links")
def link_edit(request, link_id: str):
    link = _link_or_404(request, link_id)
    data = request.POST if request.method == "POST" else None
    return _save(request, PaymentLinkForm(data, org=request.org, link=link), link, created=False)


def _save(request, form: PaymentLinkForm, link: PaymentLink, *, created: bool) -> HttpResponse:
    """Save through the service on a valid POST (PRG, or HX-Redirect with HTMX); else the
    form with each error next to its field."""
    if request.method == "POST" and form.is_valid():
        try:
            save_payment_link(link=form.apply_to(link), user=request.user)
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(
                request, f"Payment link {'created' if created else 'saved'}: {link.name}."
            )
            destination = _url(request, "dashboard:link_detail", link_id=link.public_id)
            if request.htmx:
                return HttpResponse(headers={"HX-Redirect": destination})
            return redirect(destination, permanent=False)
    context = {
        "section": "links",
        "form": form,
        "link": None if created else link,
        "action_url": (
            _url(request, "dashboard:link_create")
            if created
            else _url(request, "dashboard:link_edit", link_id=link.public_id)
        ),
        "cancel_url": (
            _url(request, "dashboard:links")
            if created
            else _url(request, "dashboard:link_detail", link_id=link.public_id)
        ),
    }
    partial = request.method == "POST" and _partial(request)
    response = render(request, f"{FORM}#link_form" if partial else FORM, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@dashboard_view(switch_to="dashboard:links")
def link_detail(request, link_id: str):
    """A link's page: its URL (copy, QR code), price and overrides, its sessions, activity."""
    link = _link_or_404(request, link_id)
    return render(request, DETAIL, _detail_context(request, link))


def _detail_context(request, link: PaymentLink) -> dict:
    now = timezone.now()
    sessions = CheckoutSession.objects.for_org(request.org, request.mode).for_payment_link(link)
    # Counted by the link alone (it is this org's and mode's, and so are its sessions): an
    # index-only scan of session_payment_link_status, which holds no org or mode.
    counts = CheckoutSession.objects.for_payment_link(link).status_counts(now)
    recent = list(
        sessions.with_status(now).select_related("order").newest_first()[:RECENT_SESSIONS]
    )
    return {
        "section": "links",
        "link": link,
        "currency": link.currency or request.org.currency,
        "total": link.unit_price * link.quantity,
        "public_url": public_url(link),
        "qr_url": _url(request, "dashboard:link_qr", link_id=link.public_id),
        "stats": LinkStats(
            sessions=counts["all"],
            paid=counts[SessionStatus.SUCCEEDED],
            open=counts[SessionStatus.OPEN],
        ),
        "counts": counts,
        "recent_sessions": recent,
        "now": now,
        "sessions_url": f"{_url(request, 'dashboard:sessions')}?link={link.public_id}",
        "activity": _link_activity(request, link),
        "required_by_org": [
            label
            for name, label in (
                ("require_phone", "phone number"),
                ("require_location", "country and postal code"),
                ("require_shipping_address", "shipping address"),
            )
            if getattr(request.org, name)
        ],
    }


def _set_active(request, link_id: str, *, active: bool) -> HttpResponse:
    link = _link_or_404(request, link_id)
    changed = set_payment_links_active(
        links=PaymentLink.objects.filter(pk=link.pk), active=active, user=request.user
    )
    link.is_active = active
    if active:
        notice = "Payment link reactivated: customers can pay through it again."
    else:
        notice = "Payment link deactivated: customers opening it see that it is unavailable."
    if not changed:
        notice = f"This payment link was already {'active' if active else 'inactive'}."
    if _partial(request):
        context = {**_detail_context(request, link), "notice": notice}
        return render(request, f"{DETAIL}#link_page", context)
    messages.success(request, notice)
    return redirect(_url(request, "dashboard:link_detail", link_id=link.public_id))


@require_POST
@dashboard_view(switch_to="dashboard:links")
def link_deactivate(request, link_id: str):
    return _set_active(request, link_id, active=False)


@require_POST
@dashboard_view(switch_to="dashboard:links")
def link_reactivate(request, link_id: str):
    return _set_active(request, link_id, active=True)


@dashboard_view(switch_to="dashboard:links")
def link_qr(request, link_id: str):
    """The link's public URL as a QR code: an SVG image (black on white, presentation
    attributes only, so the CSP's style-src has nothing to refuse) to show, download, print."""
    link = _link_or_404(request, link_id)
    url = public_url(link)
    svg = io.BytesIO()
    segno.make(url, error="m").save(
        svg, kind="svg", scale=8, border=4, dark="#000", light="#fff", title=url
    )
    response = HttpResponse(svg.getvalue(), content_type="image/svg+xml")
    response["Content-Disposition"] = f'inline; filename="{link.public_id}-qr.svg"'
    return response
