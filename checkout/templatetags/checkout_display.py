"""The display vocabulary of checkout data: one way to show money, a payment method, a session's
status and a timeline event, on every page and email that shows them (hosted pages, receipts,
the portal, the dashboard).

``{% load checkout_display %}``, then::

    {% money order.amount_total order.currency %}                      $75.00
    {{ order.payment_method_brand|payment_method:order.payment_method_last4 }}   Visa •••• 4242
    {{ session.status|status_badge }}           <span class="badge badge--failed">Failed</span>
    {{ order.payment_status|payment_status_badge }}   <span class="badge badge--paid">Paid</span>
    {{ event|event_label }}                     Payment failed (insufficient_funds)
                                                Payment blocked (too many declines on this session)
                                                Receipt failed (attempt 1, next try in 1 min)
    {{ event|decline_explanation }}             insufficient_funds — the card has too little
                                                money; the customer can try another card
    {{ session.blocked_by|block_reason }}       too many declines on this session
    {{ session.blocked_by|block_explanation }}  session_declines — card-testing protection: …
"""

from django import template
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html
from django.utils.safestring import SafeString

from checkout.choices import EventKind, PaymentStatus, RecoveryNotSent, SessionStatus
from checkout.declines import block_reason, decline_reason, explain_block, explain_decline
from checkout.money import format_money
from checkout.request_context import customer_locale

register = template.Library()

# Card networks by the brand our processors report (processors.base.ChargeResult.brand).
CARD_BRAND_NAMES = {
    "visa": "Visa",
    "mastercard": "Mastercard",
    "amex": "American Express",
    "discover": "Discover",
    "jcb": "JCB",
    "diners": "Diners Club",
    "unionpay": "UnionPay",
}


@register.simple_tag(takes_context=True)
def money(context, amount: int, currency: str, locale: str | None = None) -> str:
    """An amount in minor units, in the currency's own exponent (USD 2, JPY 0, KWD 3) and the
    locale of the request's Accept-Language; without a request (an email), ``locale`` or en_US."""
    if locale is None and (request := context.get("request")) is not None:
        locale = customer_locale(request)
    return format_money(amount, currency, locale)


@register.filter
def payment_method(brand: str, last4: str = "") -> str:
    """``"visa"|payment_method:"4242"`` → ``Visa •••• 4242``; no brand is "Card"."""
    brand = str(brand or "")
    name = CARD_BRAND_NAMES.get(brand, brand.title() if brand and brand != "unknown" else "Card")
    return f"{name} •••• {last4}" if last4 else name


@register.filter
def status_badge(status: str) -> SafeString:
    """A SessionStatus value as a small badge:
    ``<span class="badge badge--failed">Failed</span>``."""
    try:
        status = SessionStatus(status)
    except ValueError:
        return format_html('<span class="badge">{}</span>', status)
    return format_html('<span class="badge badge--{}">{}</span>', status.value, status.label)


@register.filter
def payment_status_badge(status: str) -> SafeString:
    """An order's PaymentStatus value as a small badge:
    ``<span class="badge badge--paid">Paid</span>``."""
    try:
        status = PaymentStatus(status)
    except ValueError:
        return format_html('<span class="badge">{}</span>', status)
    return format_html('<span class="badge badge--{}">{}</span>', status.value, status.label)


@register.filter
def event_label(event) -> str:
    """A timeline event (or its kind) in words; a failed payment names its decline code,
    a blocked one its limit, a failed email its attempt and what comes next: ``Payment failed
    (insufficient_funds)``, ``Payment blocked (too many declines on this session)``, ``Recovery
    email failed (attempt 2, next try in 5 min)``, ``Receipt failed (attempt 8, final)``."""
    kind = getattr(event, "kind", event)
    try:
        kind = EventKind(kind)
    except ValueError:
        return str(kind)
    data = getattr(event, "data", None) or {}
    if kind == EventKind.PAYMENT_FAILED and (code := data.get("decline_code") or data.get("code")):
        return f"{kind.label} ({code})"
    if kind == EventKind.PAYMENT_BLOCKED and (limit := data.get("limit")):
        return f"{kind.label} ({block_reason(limit)})"
    if kind == EventKind.RECOVERY_FAILED and (not_sent := data.get("not_sent")):
        reason = RecoveryNotSent(not_sent).label if not_sent in RecoveryNotSent.values else not_sent
        return f"Recovery email not sent ({reason})"
    if kind in (EventKind.RECEIPT_FAILED, EventKind.RECOVERY_FAILED) and data.get("attempt"):
        return f"{kind.label} ({_next_attempt_words(event, data)})"
    return kind.label


def _next_attempt_words(event, data: dict) -> str:
    """``attempt 1, next try in 1 min`` or ``attempt 8, final``: an email's failed attempt
    (``checkout.mail_retries``), the wait counted from when it failed."""
    attempt = f"attempt {data['attempt']}"
    next_attempt_at = parse_datetime(data.get("next_attempt_at") or "")
    failed_at = getattr(event, "created_at", None)
    if data.get("final") or next_attempt_at is None or failed_at is None:
        return f"{attempt}, final" if data.get("final") else attempt
    seconds = max(0, round((next_attempt_at - failed_at).total_seconds()))
    if seconds < 60:
        wait = f"{seconds} s"
    elif seconds < 3600:
        wait = f"{seconds // 60} min"
    else:
        hours, minutes = divmod(seconds // 60, 60)
        wait = f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{attempt}, next try in {wait}"


@register.filter("block_reason")
def block_reason_filter(limit: str) -> str:
    """A card-testing limit (``BlockLimit``) in a few words: ``too many declines on this
    session``."""
    return block_reason(limit)


@register.filter
def block_explanation(limit: str):
    """A card-testing limit's block explained (``checkout.declines.DeclineExplanation``: its
    ``meaning`` and the ``next_step``), for ``{% with %}``; as text, ``code — meaning; step``."""
    return explain_block(limit)


@register.filter
def decline_explanation(value) -> str:
    """Why a payment failed, in plain words, with what to do next (``checkout.declines``).

    ``value`` is a timeline event (a failed payment: its ``decline_code`` or ``code``; a
    processor error: ``processing_error``; a blocked payment: its limit; any other event:
    empty), an event's data, or a
    code. Plain text: the template escapes it like any other value.
    """
    kind = getattr(value, "kind", None)
    if kind is not None:
        if kind == EventKind.PAYMENT_ERROR:
            return str(explain_decline("processing_error"))
        if kind == EventKind.PAYMENT_BLOCKED:
            return str(explain_block((value.data or {}).get("limit")))
        if kind != EventKind.PAYMENT_FAILED:
            return ""
        value = value.data
    code = decline_reason(value) if isinstance(value, dict) else str(value or "")
    return str(explain_decline(code))
