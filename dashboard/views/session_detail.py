"""A checkout session's page: customer & context, line items, the timeline, the raw data, and
the actions a merchant takes on it (recover the sale, copy the portal link, resend the receipt,
view the order, extend the expiry).

Reads go through checkout's queries, every write through a checkout service with the merchant
user as its actor, so the timeline names them. Each action is a POST (CSRF) answered like the
rest of the dashboard: without JavaScript, POST-redirect-GET with a flash message; with HTMX,
the page's ``detail`` partial, its message included. A GET of an action's URL is a 405.
"""

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_POST, require_safe

from checkout.actors import Actor
from checkout.choices import EventKind, SessionStatus
from checkout.models import CheckoutSession
from checkout.portal import PortalUnavailable, customer_portal_url
from checkout.recovery import RecoveryStatus, recovery_mailto, recovery_status
from checkout.request_context import customer_locale
from checkout.services import (
    PaymentsUnavailable,
    ReceiptUnavailable,
    RecoveryRefused,
    SessionAlreadyPaid,
    SessionNoLongerActive,
    extend_session_expiry,
    recover_session,
    resend_receipt,
)
from checkout.session_json import session_object
from checkout.urls import SessionIdConverter
from dashboard.access import dashboard_view
from dashboard.forms import EXTEND_EXPIRY_CHOICES, ExtendExpiryForm, RecoverSaleForm
from dashboard.timeline_steps import TimelineStep, event_json, timeline_steps

PAGE = "dashboard/session_detail.html"
SESSION_PAGE = "dashboard:session_detail"
# A session exists in one mode only: the mode switch opens the other mode's list.
SWITCH_TO = "dashboard:sessions"
SESSION_ID = re.compile(SessionIdConverter.regex)


@dataclass(frozen=True)
class SessionActions:
    """Which actions apply to the session now, and what each says beside its button. The
    services decide (and refuse); this only decides what the page offers."""

    recoverable: bool  # failed, or expired: a sale to recover (with an email to send to)
    recovery: RecoveryStatus | None  # its last recovery email; a recovery already paid
    can_email_recovery: bool  # no recovery email in the last 24 h
    resend_receipt: bool
    last_receipt: TimelineStep | None  # the last receipt sent (or failed), and by whom
    portal_url: str
    extend_expiry: bool  # unpaid and still open, as the API's PATCH requires

    @property
    def recover(self) -> bool:
        return self.recovery is not None and self.recovery.paid_recovery is None


@dataclass(frozen=True)
class RecoveryDraft:
    """A recovery just made for the merchant to send from their own email."""

    session_id: str
    mailto: str


def _session(request, session_id: str, now: datetime) -> CheckoutSession:
    """The org's session in the URL's mode, with everything the page shows; else 404."""
    session = (
        CheckoutSession.objects.for_org(request.org, request.mode)
        .with_status(now)
        .with_details()
        .select_related("recovered_from")
        .filter(public_id=session_id)
        .first()
    )
    if session is None:
        raise Http404("No such checkout session.")
    return session


def _actions(session: CheckoutSession, steps: list[TimelineStep], now: datetime) -> SessionActions:
    """What the page offers, from the session's status (SQL), email and recovery history."""
    paid = session.status == SessionStatus.SUCCEEDED
    recoverable = session.status in (SessionStatus.FAILED, SessionStatus.EXPIRED)
    recovery = recovery_status(session) if recoverable and session.customer_email else None
    try:
        portal_url = customer_portal_url(session) if paid else ""
    except PortalUnavailable:
        portal_url = ""
    receipts = [EventKind.RECEIPT_SENT, EventKind.RECEIPT_FAILED]
    return SessionActions(
        recoverable=recoverable,
        recovery=recovery,
        can_email_recovery=recovery is not None and recovery.can_email_at(now),
        resend_receipt=paid and bool(session.order.customer_email),
        last_receipt=next((step for step in reversed(steps) if step.kind in receipts), None),
        portal_url=portal_url,
        extend_expiry=session.active_now and not paid,
    )


def _recovery_draft(request, session: CheckoutSession, draft_id: str) -> RecoveryDraft | None:
    """The ``mailto:`` of a recovery of ``session`` (``?draft=<its id>``, after a no-JS POST)."""
    if not SESSION_ID.fullmatch(draft_id):
        return None  # none asked for, or junk in the URL: no draft, never a 500
    recovery = (
        CheckoutSession.objects.for_org(request.org, request.mode)
        .filter(public_id=draft_id, recovered_from=session)
        .select_related("order", "org")
        .prefetch_related("order__items")
        .first()
    )
    return RecoveryDraft(draft_id, recovery_mailto(recovery)) if recovery else None


def _page_context(
    request,
    session: CheckoutSession,
    now: datetime,
    *,
    extend_form: ExtendExpiryForm | None = None,
    draft: str = "",
) -> dict:
    """Everything the page shows, in a fixed number of queries whatever the session's history."""
    events = list(session.events.all())
    steps = timeline_steps(session, events, locale=customer_locale(request))
    api_object = session_object(session).to_json_dict()
    return {
        "section": "sessions",
        "session": session,
        "order": session.order,
        "order_url": reverse(
            "dashboard:order_detail",
            kwargs={
                "org_slug": request.org.slug,
                "mode": request.mode,
                "order_id": session.order.public_id,
            },
        ),
        "now": now,
        "steps": steps,
        "raw_events": [(event, event_json(event)) for event in events],
        "session_json": json.dumps(api_object, indent=2, ensure_ascii=False),
        "actions": _actions(session, steps, now),
        "extend_form": extend_form or ExtendExpiryForm(),
        "draft": _recovery_draft(request, session, draft),
        "portal_max_age_days": settings.PORTAL_LINK_MAX_AGE_DAYS,
    }


def _render(request, session_id: str, *, status: int = 200, **extra) -> HttpResponse:
    """The page, or its ``detail`` partial for HTMX (not for Back's history restore)."""
    now = timezone.now()
    context = _page_context(request, _session(request, session_id, now), now, **extra)
    partial = request.htmx and not request.htmx.history_restore_request
    response = render(request, f"{PAGE}#detail" if partial else PAGE, context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _answer(request, session_id: str, *, draft: str = "") -> HttpResponse:
    """After an action: the refreshed partial (HTMX), else a 303 to the session's page."""
    if request.htmx:
        return _render(request, session_id, draft=draft)
    kwargs = {"org_slug": request.org.slug, "mode": request.mode, "session_id": session_id}
    url = reverse(SESSION_PAGE, kwargs=kwargs)
    return HttpResponseRedirect(
        f"{url}?{urlencode({'draft': draft})}" if draft else url, status=303
    )


def _action(view):
    """A session action: POST only (a GET is 405 and changes nothing), through the dashboard's
    access rule; a merchant logged out meanwhile logs in and returns to the session's page."""
    return require_POST(dashboard_view(view, switch_to=SWITCH_TO, log_in_to=SESSION_PAGE))


@require_safe
@dashboard_view(switch_to=SWITCH_TO)
def session_detail(request, session_id: str):
    """The session's page; with HTMX its ``detail`` partial."""
    return _render(request, session_id, draft=request.GET.get("draft", ""))


@_action
def recover_sale(request, session_id: str):
    """Recover sale: a fresh session for the same items, emailed (at most once a day) or as a
    ``mailto:`` draft for the merchant's own mail client."""
    session = _session(request, session_id, timezone.now())
    form = RecoverSaleForm(request.POST)
    if not form.is_valid():
        messages.error(request, form.errors["send"][0])
        return _answer(request, session_id)
    try:
        recovery = recover_session(
            session=session, actor=Actor.for_user(request.user), send_email=form.send_email
        )
    except (RecoveryRefused, PaymentsUnavailable) as error:
        messages.error(request, str(error))
        return _answer(request, session_id)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return _answer(request, session_id)
    new_id = recovery.session.public_id
    if recovery.emailed:
        messages.success(
            request,
            f"Recovery email on its way to {session.customer_email} with a new checkout link "
            f"({new_id}).",
        )
        return _answer(request, session_id)
    messages.success(
        request,
        f"New checkout session {new_id} created for {session.customer_email}. "
        "Open the email draft to send it from your own email.",
    )
    return _answer(request, session_id, draft=new_id)


@_action
def resend(request, session_id: str):
    """Resend receipt: through the task queue; the timeline names who asked."""
    session = _session(request, session_id, timezone.now())
    try:
        resend_receipt(session=session, actor=Actor.for_user(request.user))
    except ReceiptUnavailable as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request,
            f"Receipt for order #{session.order.number} is being sent again to "
            f"{session.order.customer_email}.",
        )
    return _answer(request, session_id)


@_action
def extend_expiry(request, session_id: str):
    """Extend expiry: as the API's PATCH, by one of the offered durations."""
    session = _session(request, session_id, timezone.now())
    form = ExtendExpiryForm(request.POST)
    if form.is_valid():
        minutes = form.cleaned_data["minutes"]
        try:
            extend_session_expiry(
                session=session, minutes=minutes, actor=Actor.for_user(request.user)
            )
        except ValidationError as error:
            form.add_error(None, error)
        except (SessionAlreadyPaid, SessionNoLongerActive) as error:
            messages.error(request, str(error))
            return _answer(request, session_id)
        else:
            messages.success(
                request,
                f"Expiry extended by {dict(EXTEND_EXPIRY_CHOICES)[minutes]}: the session now "
                f"expires {session.expires_at.astimezone(UTC):%-d %b %Y at %H:%M:%S} UTC.",
            )
            return _answer(request, session_id)
    # A form error: the page again, the field saying what is wrong (HTMX swaps 200s only).
    return _render(request, session_id, extend_form=form, status=200 if request.htmx else 400)
