"""The customer's pages: payment links, the hosted checkout page (details → card → receipt),
and the customer portal.

Every form works as a plain POST-redirect-GET; with HTMX the same views answer with the named
partial of ``checkout/checkout_page.html`` that changed (``steps`` or ``card_step``). Amounts,
payment methods and the like are formatted in the templates (``checkout_display``).
"""

import math
import re
from functools import cache, wraps

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django_htmx.http import HttpResponseClientRedirect, reswap, retarget

from checkout.card_testing import refuse_exhausted_session
from checkout.effective_settings import effective_settings, resolve_settings
from checkout.forms import CardForm, DetailsForm
from checkout.link_guard import (
    LinkCapReached,
    is_link_preview,
    open_link_session,
    session_cookie_name,
    session_cookie_salt,
)
from checkout.models import CheckoutSession
from checkout.portal import PortalScope, portal_orders, read_portal_token
from checkout.processors import processor_for_mode
from checkout.processors.test import TEST_CARD_OUTCOMES, card_brand
from checkout.receipts import receipt_context
from checkout.request_context import client_ip, customer_context
from checkout.services import (
    PAYMENT_IN_PROGRESS_MESSAGE,
    CheckoutClosed,
    PaymentOutcomeKind,
    PaymentsUnavailable,
    SessionLocked,
    missing_details,
    pay_checkout_session,
    save_customer_details,
)
from orgs.models import Organization, PaymentLink

PAGE = "checkout/checkout_page.html"
# After this many declines in one session the page suggests another card (SPEC: failedAttempts
# drives "try a different payment method").
SUGGEST_OTHER_CARD_AFTER = 2
SUCCESS_URL_PLACEHOLDER = "{CHECKOUT_SESSION_ID}"
# How the details step names each detail group the merchant needs (services.missing_details).
DETAIL_GROUP_WORDS = {
    "email": "your email address",
    "phone": "your phone number",
    "location": "your country and postal code",
    "shipping_address": "your shipping address",
}
# Outcomes of a pay request shown on the card step (declines, outages, a payment under way).
CARD_STEP_OUTCOMES = (
    PaymentOutcomeKind.DECLINED,
    PaymentOutcomeKind.PROCESSOR_ERROR,
    PaymentOutcomeKind.IN_PROGRESS,
    PaymentOutcomeKind.BLOCKED,  # the client's declines for the hour (the session's: its page)
)
# Outcomes after which the session may have used up its declines (checkout.card_testing).
BLOCKING_OUTCOMES = (PaymentOutcomeKind.DECLINED, PaymentOutcomeKind.BLOCKED)
# The shape of a session id (checkout.urls.SessionIdConverter), for ids read from a cookie.
SESSION_ID_PATTERN = re.compile(r"cs_(?:test|live)_[A-Za-z0-9]{24,56}")
ALREADY_PAID_MESSAGE = "This order has already been paid. You have not been charged again."


def _see_other(url: str) -> HttpResponseRedirect:
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


def _go_to(request: HttpRequest, url: str) -> HttpResponse:
    """A full navigation: HX-Redirect for HTMX requests, a 303 otherwise."""
    return HttpResponseClientRedirect(url) if request.htmx else _see_other(url)


def _load_session(session_id: str) -> CheckoutSession | None:
    return CheckoutSession.objects.with_details().filter(public_id=session_id).first()


def _not_found(request: HttpRequest) -> HttpResponse:
    # The same page as any unknown URL (templates/404.html), rendered here to avoid raising.
    return render(request, "404.html", status=404)


def success_redirect_url(session: CheckoutSession) -> str:
    """The effective success URL with the session id filled in, else the built-in page."""
    if success_url := effective_settings(session).success_url:
        return success_url.replace(SUCCESS_URL_PLACEHOLDER, session.public_id)
    return reverse("checkout:thank_you", args=[session.public_id])


@cache
def test_card_help() -> tuple[dict[str, str], ...]:
    """The test cards for the test-mode banner (from the processor): the brand a card pays
    with, or what else it does. Computed once per process."""
    cards = []
    for number, (code, decline_code) in TEST_CARD_OUTCOMES.items():
        grouped = " ".join(number[i : i + 4] for i in range(0, len(number), 4))
        if not code:
            cards.append({"number": grouped, "brand": card_brand(number)})
        else:
            result = f"Declined: {(decline_code or code).replace('_', ' ')}"
            cards.append({"number": grouped, "result": result})
    cards.append({"number": "4242 4242 4242 4241", "result": "Invalid number (format error)"})
    return tuple(cards)


def _page_context(request: HttpRequest, session: CheckoutSession, **extra) -> dict:
    return {
        "session": session,
        "order": session.order,
        "org": session.org,
        "effective": effective_settings(session),  # the one resolver: required fields, links
        "test_cards": test_card_help() if session.order.is_test_mode else [],
        "suggest_other_card": session.failed_attempts >= SUGGEST_OTHER_CARD_AFTER,
        **extra,
    }


def _details_form(session: CheckoutSession, data=None) -> DetailsForm:
    return DetailsForm(
        data,
        initial=DetailsForm.initial_from(session),
        required_fields=effective_settings(session).required_fields,
        email_fixed=session.email_given_by_merchant,
    )


def _details_now_needed(session: CheckoutSession) -> str:
    """Why a customer who gave their details must give more (say, the merchant now requires a
    phone number), or "" when nothing saved is missing."""
    if session.details_provided_at is None or not (missing := missing_details(session)):
        return ""
    words = [DETAIL_GROUP_WORDS[group] for group in missing]
    needed = words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"
    return f"{session.org.name} now needs {needed} before you pay."


def _render_steps(request, session, *, details_form=None, card_form=None, **extra) -> HttpResponse:
    """The checkout page, or only its ``steps`` partial for HTMX."""
    details_needed = _details_now_needed(session)
    editing = details_form is not None or not session.details_provided_at or bool(details_needed)
    context = _page_context(
        request,
        session,
        step="details" if editing else "card",
        details_form=details_form or _details_form(session),
        card_form=card_form or CardForm(),
        details_needed=details_needed,
        **extra,
    )
    return render(request, f"{PAGE}#steps" if request.htmx else PAGE, context)


def _notice_context(session: CheckoutSession) -> dict:
    return {"session": session, "org": session.org, "effective": effective_settings(session)}


def _takes_payments(session: CheckoutSession) -> bool:
    """Unpaid, active, not blocked by its declines, and its mode has a processor (the form is
    shown only then)."""
    return (
        not session.order.is_paid
        and session.is_active
        and not session.declines_exhausted
        and processor_for_mode(session.mode) is not None
    )


def _closed_page(
    request: HttpRequest, session: CheckoutSession, *, already_paid: bool = False
) -> HttpResponse | None:
    """The page shown instead of the form when the session cannot take a payment."""
    if _takes_payments(session):
        return None
    if session.order.is_paid:
        context = {**receipt_context(session), "already_paid": already_paid}
        return render(request, "checkout/receipt.html", context)
    link = session.payment_link
    fresh_start = link if link is not None and link.is_active else None
    if not session.is_active:
        context = {**_notice_context(session), "fresh_start_link": fresh_start}
        return render(request, "checkout/expired.html", context, status=410)
    if session.declines_exhausted:
        # Card testing: the session used up its declines (checkout.card_testing).
        context = {**_notice_context(session), "fresh_start_link": fresh_start}
        return render(request, "checkout/blocked.html", context, status=429)
    return render(request, "checkout/unavailable.html", _notice_context(session), status=503)


@require_http_methods(["GET", "HEAD", "POST"])
def open_payment_link(request: HttpRequest, link_id: str) -> HttpResponse:
    """A payment link sends the customer to a checkout session: the one this browser opened
    from it while that still takes payments, else a fresh session + order (``link_guard``:
    at most so many per client IP and hour). Link previews and HEAD requests get a preview
    page and create nothing; its button POSTs here, for a person mistaken for a bot."""
    link = PaymentLink.objects.select_related("org").filter(public_id=link_id).first()
    if link is None:
        return _not_found(request)
    link_url = reverse("checkout:payment_link", args=[link.public_id])
    link_context = {
        "link": link,
        "org": link.org,
        "effective": resolve_settings(org=link.org, link=link),
    }
    if not link.is_active:
        return render(request, "checkout/link_inactive.html", link_context, status=404)
    user_agent = request.headers.get("User-Agent", "")
    if request.method == "HEAD" or (request.method == "GET" and is_link_preview(user_agent)):
        preview = {
            **link_context,
            "amount": link.unit_price * link.quantity,
            "link_url": f"{settings.SITE_URL}{link_url}",
        }
        return render(request, "checkout/link_preview.html", preview)
    if (session := _session_opened_here(request, link)) is not None:
        return _see_other(reverse("checkout:session", args=[session.public_id]))
    try:
        session = open_link_session(link=link, ip_address=client_ip(request))
    except LinkCapReached as cap:
        minutes = math.ceil(cap.retry_after_seconds / 60)
        context = {**link_context, "retry_after_minutes": minutes}
        response = render(request, "checkout/link_rate_limited.html", context, status=429)
        response["Retry-After"] = str(cap.retry_after_seconds)
        return response
    except PaymentsUnavailable:
        return render(request, "checkout/unavailable.html", link_context, status=503)
    except ValidationError:
        # A link the service refuses (say, a currency no longer valid) cannot be opened.
        return render(request, "checkout/link_inactive.html", link_context, status=404)
    response = _see_other(reverse("checkout:session", args=[session.public_id]))
    response.set_signed_cookie(
        session_cookie_name(link),
        session.public_id,
        salt=session_cookie_salt(link),
        max_age=max(1, int((session.expires_at - timezone.now()).total_seconds())),
        path=link_url,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
    return response


def _session_opened_here(request: HttpRequest, link: PaymentLink) -> CheckoutSession | None:
    """The session this browser opened from ``link`` (its signed cookie), if it still takes
    payments; a missing, tampered or foreign cookie is ignored."""
    session_id = request.get_signed_cookie(
        session_cookie_name(link), default=None, salt=session_cookie_salt(link)
    )
    if not isinstance(session_id, str) or not SESSION_ID_PATTERN.fullmatch(session_id):
        return None
    session = _load_session(session_id)
    if session is None or session.payment_link_id != link.pk or not _takes_payments(session):
        return None
    return session


def _post_only_step(view):
    """A step of the hosted page that only takes POSTs (details, pay). A GET of its URL goes to
    the session page (303) instead of a blank 405: after a no-JS form error the address bar
    shows the step's URL, and reloading it from there, or a bookmark, is a GET."""
    post_only = require_POST(view)

    @wraps(view)
    def step(request: HttpRequest, session_id: str) -> HttpResponse:
        if request.method in ("GET", "HEAD"):
            return _see_other(reverse("checkout:session", args=[session_id]))
        return post_only(request, session_id)

    return step


def _already_paid(request: HttpRequest, session_id: str) -> HttpResponse:
    """Paying a session paid meanwhile (another tab): nothing charged, and the receipt page says
    so — after a 303 without JavaScript, after HX-Redirect with HTMX."""
    messages.info(request, ALREADY_PAID_MESSAGE, extra_tags=PaymentOutcomeKind.ALREADY_PAID)
    return _go_to(request, reverse("checkout:session", args=[session_id]))


@never_cache
@require_safe
def checkout_page(request: HttpRequest, session_id: str) -> HttpResponse:
    """The hosted page: the order, then step 1 (details) or step 2 (card)."""
    session = _load_session(session_id)
    if session is None:
        return _not_found(request)
    if request.htmx and not _takes_payments(session):
        # Closed meanwhile: the whole page reloads, and that request shows any message below.
        return _go_to(request, request.path)
    # The outcome of a payment that redirected here: its message, tagged with its kind.
    # Read (and so consumed) even when the page is closed by now, so it can't show up later.
    outcome = next(iter(messages.get_messages(request)), None)
    already_paid = outcome is not None and outcome.extra_tags == PaymentOutcomeKind.ALREADY_PAID
    if closed := _closed_page(request, session, already_paid=already_paid):
        return closed
    editing = request.GET.get("step") == "details" and session.details_provided_at is not None
    return _render_steps(
        request,
        session,
        details_form=_details_form(session) if editing else None,
        payment_message=outcome.message if outcome else "",
        payment_outcome=outcome.extra_tags if outcome else "",
    )


@never_cache
@_post_only_step
def save_details(request: HttpRequest, session_id: str) -> HttpResponse:
    """Step 1: save email and required fields, then show the card step."""
    session = _load_session(session_id)
    if session is None:
        return _not_found(request)
    if not _takes_payments(session):
        return _go_to(request, reverse("checkout:session", args=[session_id]))
    form = _details_form(session, request.POST)
    if form.is_valid():
        try:
            save_customer_details(
                session=session,
                details=form.customer_details(),
                context=customer_context(request),
            )
        except CheckoutClosed:
            return _go_to(request, reverse("checkout:session", args=[session_id]))
        except SessionLocked:
            form.add_error(None, PAYMENT_IN_PROGRESS_MESSAGE)
        except ValidationError as error:
            form.add_error(None, error.messages)
        else:
            if not request.htmx:
                return _see_other(reverse("checkout:session", args=[session_id]))
            return _render_steps(request, _load_session(session_id))
    return _render_steps(request, session, details_form=form)


@never_cache
@_post_only_step
def pay(request: HttpRequest, session_id: str) -> HttpResponse:
    """Step 2: charge the card. Amount and currency come from the order, never the form."""
    closed_url = reverse("checkout:session", args=[session_id])
    session = _load_session(session_id)
    if session is None:
        return _not_found(request)
    if session.order.is_paid:
        return _already_paid(request, session_id)
    if closed := _closed_page(request, session):
        if session.declines_exhausted:
            refuse_exhausted_session(session=session)
        return _go_to(request, closed_url) if request.htmx else closed
    if session.details_provided_at is None or missing_details(session):
        return _details_step_instead(request, session)
    form = CardForm(request.POST)
    if not form.is_valid():
        return _render_card_step(request, session, card_form=form)
    outcome = pay_checkout_session(
        session=session, card=form.card_details(), context=customer_context(request)
    )
    if outcome.kind == PaymentOutcomeKind.SUCCEEDED:
        return _go_to(request, success_redirect_url(session))
    if outcome.kind in BLOCKING_OUTCOMES and outcome.session.declines_exhausted:
        # That was the session's last decline (or it had none left): its page says so.
        return _go_to(request, closed_url)
    if outcome.kind in CARD_STEP_OUTCOMES and not request.htmx:
        # Redirect, so reloading the page never resubmits the card as another attempt.
        messages.error(request, outcome.message, extra_tags=outcome.kind)
        return _see_other(closed_url)
    if outcome.kind in CARD_STEP_OUTCOMES:
        session.failed_attempts = outcome.session.failed_attempts
        return _render_card_step(
            request, session, payment_message=outcome.message, payment_outcome=outcome.kind
        )
    if outcome.kind == PaymentOutcomeKind.ALREADY_PAID:
        return _already_paid(request, session_id)
    if outcome.kind == PaymentOutcomeKind.DETAILS_MISSING:
        return _details_step_instead(request, _load_session(session_id))
    # Expired or unavailable meanwhile: the session page explains which.
    return _go_to(request, closed_url)


def _details_step_instead(request: HttpRequest, session: CheckoutSession) -> HttpResponse:
    """A pay request that needs details first (say, the merchant now requires a phone): the
    details step, saying why. HTMX swaps it in for the whole steps; without JS the page shows
    it after the redirect."""
    if not request.htmx:
        return _see_other(reverse("checkout:session", args=[session.public_id]))
    response = _render_steps(request, session)
    return reswap(retarget(response, "#checkout-steps"), "outerHTML")


def _render_card_step(
    request, session, *, card_form=None, payment_message="", payment_outcome=""
) -> HttpResponse:
    context = _page_context(
        request,
        session,
        step="card",
        details_form=_details_form(session),
        card_form=card_form or CardForm(),
        payment_message=payment_message,
        payment_outcome=payment_outcome,
    )
    return render(request, f"{PAGE}#card_step" if request.htmx else PAGE, context)


@never_cache
@require_safe
def thank_you(request: HttpRequest, session_id: str) -> HttpResponse:
    """The built-in success page: the receipt and a portal link."""
    session = _load_session(session_id)
    if session is None:
        return _not_found(request)
    if not session.order.is_paid:
        return _see_other(reverse("checkout:session", args=[session_id]))
    context = receipt_context(session)
    return render(request, "checkout/receipt.html", {**context, "thank_you": True})


@never_cache
@require_safe
def portal(request: HttpRequest, token: str) -> HttpResponse:
    """The customer portal: one order's receipt, or (emailed link) all the customer's orders."""
    access = read_portal_token(token)
    org = Organization.objects.filter(pk=access.org_id).first() if access else None
    if org is None:
        return _not_found(request)
    effective = resolve_settings(org=org)
    context = {
        "org": org,
        "email": access.email,
        "orders": portal_orders(access),
        "all_orders": access.scope == PortalScope.CUSTOMER,
        "effective": effective,
    }
    return render(request, "checkout/portal.html", context)
