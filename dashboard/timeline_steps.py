"""A session's timeline as the dashboard shows it: each recorded event as a step in words (who
did it, what it says, why a card was declined and what to do next), plus the expiry as a step
of its own once the window has closed unpaid, whether or not a task recorded it (it is shown,
never written: the timeline stays the services' audit log).

The template draws the steps; this module only decides what each says, from the event's data.
"""

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from checkout.choices import ActorKind, EventKind, SessionSource, SessionStatus
from checkout.declines import DeclineExplanation, decline_reason, explain_decline
from checkout.models import CheckoutSession, TimelineEvent
from checkout.money import format_money
from checkout.templatetags.checkout_display import event_label, payment_method
from checkout.urls import SessionIdConverter

# The kind of the step shown when the window closed unpaid and no task recorded it.
EXPIRED_STEP = "expired"

DETAIL_FIELD_WORDS = {
    "email": "email",
    "phone": "phone",
    "location": "country and postal code",
    "shipping_address": "shipping address",
}
SUCCESS_KINDS = {
    EventKind.PAYMENT_SUCCEEDED,
    EventKind.RECEIPT_SENT,
    EventKind.RECOVERY_SENT,
    EventKind.CALLBACK_DELIVERED,
}
FAILURE_KINDS = {
    EventKind.PAYMENT_FAILED,
    EventKind.PAYMENT_ERROR,
    EventKind.RECEIPT_FAILED,
    EventKind.RECOVERY_FAILED,
    EventKind.CALLBACK_FAILED,
}
SOURCE_WORDS = {
    SessionSource.API: "Created through the API.",
    SessionSource.RECOVERY: "A recovery: a fresh checkout for an earlier session’s items.",
    SessionSource.DASHBOARD: "Created from the dashboard.",
}
_SESSION_ID = re.compile(SessionIdConverter.regex)


@dataclass(frozen=True)
class TimelineStep:
    kind: str  # an EventKind value, or EXPIRED_STEP
    title: str
    at: datetime
    actor: str  # "Customer", "jenny", "API key sk_test_Ab3d…wxyz", "System"
    actor_kind: str
    tone: str  # success, failure, or neutral: the colour of the step's dot
    summary: str = ""
    facts: tuple[tuple[str, str], ...] = ()
    explanation: DeclineExplanation | None = None
    # ("Recovered by", "cs_test_…"): another session this step links to.
    linked_session: tuple[str, str] | None = None
    event: TimelineEvent | None = None  # None: shown, not recorded

    @property
    def recorded(self) -> bool:
        return self.event is not None


def actor_name(actor_kind: str, label: str) -> str:
    """Who did it, in words: the merchant user's name, the API key by its prefix, the customer
    or the system."""
    if actor_kind == ActorKind.USER:
        return label or "A team member"
    if actor_kind == ActorKind.API:
        return f"API key {label}" if label else "API key"
    if actor_kind == ActorKind.CUSTOMER:
        return "Customer"
    return "System"


def event_json(event: TimelineEvent) -> str:
    """An event's data as pretty JSON (the Raw data section)."""
    return json.dumps(event.data, indent=2, ensure_ascii=False, sort_keys=True)


def _exact(moment: str | datetime | None) -> str:
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment)
        except ValueError:
            return moment
    if moment is None:
        return ""
    return f"{moment.astimezone(UTC):%-d %b %Y, %H:%M:%S} UTC"


def _session_link(words: str, value) -> tuple[str, str] | None:
    value = str(value or "")
    return (words, value) if _SESSION_ID.fullmatch(value) else None


def _facts(*pairs: tuple[str, object]) -> tuple[tuple[str, str], ...]:
    """The pairs whose value is set (``0`` is a value; None and "" are not)."""
    return tuple((label, str(value)) for label, value in pairs if value not in (None, ""))


def _card(data: dict) -> str:
    if not (data.get("brand") or data.get("last4")):
        return ""
    return payment_method(data.get("brand", ""), data.get("last4", ""))


def _email_facts(data: dict) -> tuple[tuple[str, str], ...]:
    """A receipt's or recovery email's attempt (``checkout.mail_retries``)."""
    return _facts(
        ("To", data.get("to")),
        ("Error", data.get("error")),
        ("Next attempt", _exact(data.get("next_attempt_at"))),
        ("Retries", data.get("retries")),
    )


def _source_words(session: CheckoutSession, data: dict) -> str:
    source = data.get("source") or session.source
    if source == SessionSource.PAYMENT_LINK:
        link = session.payment_link
        return f"From payment link “{link.name}”." if link else "From a payment link (deleted)."
    return SOURCE_WORDS.get(source, "")


def _describe(event: TimelineEvent, session: CheckoutSession, locale: str) -> dict:
    """What the step of one event says beyond its title: summary, facts, explanation, link."""
    data = _data(event)
    kind = event.kind
    if kind == EventKind.SESSION_CREATED:
        amount = data.get("amount_total")
        currency = data.get("currency")
        return {
            "summary": _source_words(session, data),
            "linked_session": _session_link("Recovery of", data.get("recovered_from")),
            "facts": _facts(
                (
                    "Amount",
                    format_money(amount, currency, locale)
                    if isinstance(amount, int) and currency
                    else "",
                ),
                ("Expires", _exact(data.get("expires_at"))),
            ),
        }
    if kind == EventKind.DETAILS_PROVIDED:
        fields = [DETAIL_FIELD_WORDS.get(field, str(field)) for field in data.get("fields", [])]
        return {"summary": f"Gave: {', '.join(fields)}." if fields else ""}
    if kind == EventKind.PAYMENT_FAILED:
        return {
            "explanation": explain_decline(decline_reason(data)),
            "facts": _facts(
                ("Code", data.get("code")),
                ("Decline code", data.get("decline_code")),
                ("Processor’s message", data.get("message")),
                ("Card", _card(data)),
                ("Attempt", data.get("attempt")),
            ),
        }
    if kind == EventKind.PAYMENT_ERROR:
        return {
            "summary": "The payment processor could not be reached: not a decline and not an "
            "attempt.",
            "explanation": explain_decline("processing_error"),
            "facts": _facts(("Error", data.get("error")), ("Attempt", data.get("attempt"))),
        }
    if kind == EventKind.PAYMENT_SUCCEEDED:
        amount, currency = data.get("amount"), data.get("currency")
        return {
            "facts": _facts(
                (
                    "Amount",
                    format_money(amount, currency, locale)
                    if isinstance(amount, int) and currency
                    else "",
                ),
                ("Card", _card(data)),
                ("Reference", data.get("reference")),
            )
        }
    if kind in (EventKind.RECEIPT_SENT, EventKind.RECEIPT_FAILED):
        return {"facts": _email_facts(data)}
    if kind == EventKind.RECOVERED_BY:
        emailed = data.get("emailed")
        summary = (
            f"A fresh checkout link is emailed to {data.get('to')}."
            if emailed
            else "A fresh checkout link for the merchant to send from their own email."
        )
        if data.get("closed_window"):
            summary += " This session’s window was closed so the customer cannot pay twice."
        return {
            "summary": summary,
            "linked_session": _session_link("Recovered by", data.get("recovery_session")),
        }
    if kind in (EventKind.RECOVERY_SENT, EventKind.RECOVERY_FAILED):
        return {
            "linked_session": _session_link("Link to", data.get("recovery_session")),
            "facts": _email_facts(data),
        }
    if kind == EventKind.EXPIRY_EXTENDED:
        minutes = data.get("minutes")
        return {
            "summary": f"By {minutes} minutes." if minutes else "",
            "facts": _facts(("New expiry", _exact(data.get("expires_at")))),
        }
    if kind == EventKind.SESSION_EXPIRED:
        return {"summary": "The checkout window closed without a payment."}
    if kind == EventKind.CUSTOMER_ERASED:
        return {
            "summary": "The customer’s email, phone, addresses, IP address and user agent were "
            "erased on request; amounts, items and this timeline’s steps are kept."
        }
    if kind in (EventKind.CALLBACK_DELIVERED, EventKind.CALLBACK_FAILED):
        duration = data.get("duration_ms")
        return {
            "facts": _facts(
                ("Event", data.get("event_type")),
                ("URL", data.get("url")),
                ("Attempt", data.get("attempt")),
                ("Status code", data.get("status_code")),
                ("Duration", f"{duration} ms" if duration is not None else ""),
                ("Error", data.get("error")),
                ("Next attempt", _exact(data.get("next_attempt_at"))),
                ("Retries", data.get("retries")),
            )
        }
    return {}


def _tone(event: TimelineEvent) -> str:
    if event.kind in SUCCESS_KINDS:
        return "success"
    if event.kind in FAILURE_KINDS and not _data(event).get("not_sent"):
        return "failure"
    # A recovery email not sent on purpose (its link paid or expired) failed nothing.
    return "neutral"


def _data(event: TimelineEvent) -> dict:
    return event.data if isinstance(event.data, dict) else {}


def timeline_steps(
    session: CheckoutSession, events: list[TimelineEvent], *, locale: str
) -> list[TimelineStep]:
    """The session's steps, oldest first. ``session`` comes with ``with_status`` (its
    ``status`` and ``active_now`` decide whether the expiry is shown) and its payment link."""
    steps = [
        TimelineStep(
            kind=event.kind,
            title=event_label(event),
            at=event.created_at,
            actor=actor_name(event.actor_kind, event.actor_label),
            actor_kind=event.actor_kind,
            tone=_tone(event),
            event=event,
            **_describe(event, session, locale),
        )
        for event in events
    ]
    expiry_recorded = any(event.kind == EventKind.SESSION_EXPIRED for event in events)
    if session.status != SessionStatus.SUCCEEDED and not session.active_now and not expiry_recorded:
        # A recovery of a session still open closes its window at once: the expiry follows it.
        closed_by = next(
            (
                event
                for event in events
                if event.kind == EventKind.RECOVERED_BY and event.data.get("closed_window")
            ),
            None,
        )
        steps.append(
            TimelineStep(
                kind=EXPIRED_STEP,
                title="Expired",
                at=session.expires_at,
                actor=actor_name(ActorKind.SYSTEM, ""),
                actor_kind=ActorKind.SYSTEM,
                tone="neutral",
                summary="Closed by the recovery: this session can no longer be paid."
                if closed_by
                else "The checkout window closed without a payment.",
            )
        )
        sort_at = {EXPIRED_STEP: max(session.expires_at, closed_by.created_at)} if closed_by else {}
    else:
        sort_at = {}
    # Stable: events keep their recorded order; the expiry goes after any event of its moment.
    return sorted(steps, key=lambda step: sort_at.get(step.kind, step.at))
