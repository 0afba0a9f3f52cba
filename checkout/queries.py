"""Reads of the checkout domain, as queryset methods named for what they mean.

The derived status rule (SPEC, "Derived status") lives here and only here:

1. succeeded – the order is paid;
2. failed    – unpaid and failed_attempts > 0 (active or not);
3. open      – unpaid, no failed attempt, expires_at > now;
4. expired   – unpaid, no failed attempt, expires_at <= now.

"Paid" reads the session's ``is_paid``, which the paying transaction copies from the order: no
join, and each status tab has a partial index of its own.
"""

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import (
    Case,
    Count,
    Exists,
    ExpressionWrapper,
    Max,
    OuterRef,
    Q,
    Sum,
    Value,
    When,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce, NullIf
from django.utils import timezone

from checkout.choices import EventKind, PaymentStatus, SessionStatus
from checkout.declines import DeclineExplanation, explain_decline
from orgs.emails import canonical_email

# What a merchant may type in the search box (SPEC: email, session id or order id / number).
SESSION_ID = re.compile(r"cs_(test|live)_[A-Za-z0-9]+")
ORDER_ID = re.compile(r"ord_[A-Za-z0-9]+")
ORDER_NUMBER = re.compile(r"#?([0-9]{1,18})")


def active_q(now: datetime) -> Q:
    """The session's window is open at ``now``: the one SQL form of "active"."""
    return Q(expires_at__gt=now)


def status_conditions(now: datetime) -> dict[str, Q]:
    """The SQL condition of each derived status at ``now``; exactly one holds for any session."""
    paid = Q(is_paid=True)
    unpaid = Q(is_paid=False)
    return {
        SessionStatus.SUCCEEDED: paid,
        SessionStatus.FAILED: unpaid & Q(failed_attempts__gt=0),
        SessionStatus.OPEN: unpaid & Q(failed_attempts=0) & active_q(now),
        SessionStatus.EXPIRED: unpaid & Q(failed_attempts=0) & ~active_q(now),
    }


# The checkout funnel (SPEC: opened → details → attempted → paid). Each step's sessions are a
# subset of the step before's (paying needs saved details; paid is an attempt).
FUNNEL_STEPS = ("opened", "details_provided", "payment_attempted", "paid")


def funnel_step_conditions() -> dict[str, Q]:
    """The SQL condition of a session having reached each funnel step. "Attempted" is a
    declined or a successful charge; a processor outage is not an attempt (SPEC)."""
    paid = Q(is_paid=True)
    return {
        "opened": Q(),
        "details_provided": Q(details_provided_at__isnull=False),
        "payment_attempted": paid | Q(failed_attempts__gt=0),
        "paid": paid,
    }


def dropped_at_condition(step: str) -> Q:
    """Sessions that reached the step before ``step`` but not ``step`` itself."""
    conditions = funnel_step_conditions()
    previous = FUNNEL_STEPS[FUNNEL_STEPS.index(step) - 1]
    return conditions[previous] & ~conditions[step]


def decline_reason_expression(data: str = "data") -> Coalesce:
    """A ``payment_failed`` event's reason in SQL, from its JSON ``data`` (a field path such
    as ``events__data``): ``decline_code``, else ``code``, else ``unknown``."""
    return Coalesce(
        NullIf(KeyTextTransform("decline_code", data), Value("")),
        NullIf(KeyTextTransform("code", data), Value("")),
        Value(UNKNOWN_REASON),
        output_field=models.CharField(),
    )


UNKNOWN_REASON = "unknown"


def _status_count_expressions(now: datetime | None) -> dict[str, Count]:
    conditions = status_conditions(now or timezone.now())
    # COUNT(expires_at) (never null), not COUNT(id): every column read is in the covering
    # (org, mode, expires_at) index, so counting the unfinished sessions is an index-only scan.
    return {
        "all": Count("expires_at"),
        **{
            status.value: Count("expires_at", filter=condition)
            for status, condition in conditions.items()
        },
    }


def customer_email_matches(text: str, field: str = "customer_email") -> Q:
    """Addresses equal to ``text`` or starting with it, compared as stored: a whole address is
    canonicalized first (a look-alike domain is its ``xn--`` form), anything else lower-cased.
    One ``LIKE 'text%'``, which the pattern index answers for exact and prefix alike."""
    text = text.strip()
    try:
        prefix = canonical_email(text) if "@" in text else text.lower()
    except ValidationError:
        prefix = text.lower()
    return Q(**{f"{field}__startswith": prefix})


class NewestFirstQuerySet(models.QuerySet):
    """Rows listed newest first and read a keyset page at a time: what every list of the
    merchant's (sessions, orders; the API's and the dashboard's) shares. The model has
    ``created_at``, a ``public_id`` and an ``(org, mode, -created_at, -id)`` index."""

    def newest_first(self):
        return self.order_by("-created_at", "-id")

    def cursor_at(self, public_id: str) -> "Cursor | None":
        """The position of the row with this public id among these rows (so no database key
        appears in a URL), or None when it is none of them."""
        row = self.filter(public_id=public_id).values_list("created_at", "pk").first()
        return Cursor(*row) if row else None

    def page(
        self, *, limit: int, after: "Cursor | None" = None, before: "Cursor | None" = None
    ) -> "Page":
        """One keyset page, newest first: the ``limit`` rows older than ``after`` (the last row
        of the page before), or newer than ``before`` (the first row of the page after).

        The cost does not grow with depth: ``created_at <= cursor`` (or ``>=``) is an index
        condition on ``(org, mode, -created_at, -id)``; the tie-break on ``id`` only filters the
        rows created in the cursor's very microsecond.
        """
        if after is not None:
            rows = list(self.newest_first().filter(after.older_q())[: limit + 1])
            return Page(rows[:limit], has_older=len(rows) > limit, has_newer=True)
        if before is not None:
            rows = list(self.order_by("created_at", "id").filter(before.newer_q())[: limit + 1])
            return Page(rows[:limit][::-1], has_older=True, has_newer=len(rows) > limit)
        rows = list(self.newest_first()[: limit + 1])
        return Page(rows[:limit], has_older=len(rows) > limit, has_newer=False)


class CheckoutSessionQuerySet(NewestFirstQuerySet):
    def for_org(self, org, mode: str) -> "CheckoutSessionQuerySet":
        """Every read from a merchant's point of view starts here: one org, one mode."""
        return self.filter(org=org, mode=mode)

    def with_status(self, now: datetime | None = None) -> "CheckoutSessionQuerySet":
        """Annotate ``status`` (a SessionStatus value) computed in SQL, and ``active_now``
        (``expires_at > now``) against the same ``now``, so the two always agree."""
        now = now or timezone.now()
        conditions = status_conditions(now)
        return self.annotate(
            status=Case(
                *(
                    When(condition, then=Value(status.value))
                    for status, condition in conditions.items()
                ),
                output_field=models.CharField(),
            ),
            active_now=ExpressionWrapper(active_q(now), output_field=models.BooleanField()),
        )

    def with_details(self) -> "CheckoutSessionQuerySet":
        """Everything the session object (API, pages) shows, in a fixed number of queries."""
        return self.select_related("order", "org", "payment_link").prefetch_related("order__items")

    def in_status(self, status: str, now: datetime | None = None) -> "CheckoutSessionQuerySet":
        return self.filter(status_conditions(now or timezone.now())[SessionStatus(status)])

    def open(self, now: datetime | None = None) -> "CheckoutSessionQuerySet":
        return self.in_status(SessionStatus.OPEN, now)

    def succeeded(self, now: datetime | None = None) -> "CheckoutSessionQuerySet":
        return self.in_status(SessionStatus.SUCCEEDED, now)

    def failed(self, now: datetime | None = None) -> "CheckoutSessionQuerySet":
        return self.in_status(SessionStatus.FAILED, now)

    def expired(self, now: datetime | None = None) -> "CheckoutSessionQuerySet":
        return self.in_status(SessionStatus.EXPIRED, now)

    def active(self, now: datetime | None = None) -> "CheckoutSessionQuerySet":
        """Sessions whose window is still open (``expires_at > now``), whatever their status."""
        return self.filter(active_q(now or timezone.now()))

    def status_counts(self, now: datetime | None = None) -> dict[str, int]:
        """Sessions per status plus ``all``, counted row by row in one aggregate query: for a
        filtered list. An org's unfiltered tabs use ``checkout.rollup.status_counts``."""
        return self.aggregate(**_status_count_expressions(now))

    def status_counts_by_org(self, now: datetime | None = None) -> dict[int, dict[str, int]]:
        """``status_counts`` for each org at once (org pk → counts), in one grouped query."""
        rows = self.order_by().values("org_id").annotate(**_status_count_expressions(now))
        return {row.pop("org_id"): row for row in rows}

    def status_counts_by_payment_link(
        self, now: datetime | None = None
    ) -> dict[int, dict[str, int]]:
        """``status_counts`` for each payment link at once (link pk → counts), in one grouped
        query; narrow to the links first (``filter(payment_link__in=…)``): the covering
        ``session_payment_link_status`` index answers it without reading the table."""
        rows = self.order_by().values("payment_link_id").annotate(**_status_count_expressions(now))
        return {row.pop("payment_link_id"): row for row in rows}

    def search(self, text: str) -> "CheckoutSessionQuerySet":
        """Sessions matching what a merchant typed: a session id, an order id, an order number
        (``42`` or ``#42``) or an email (exact, or a prefix: ``jenny`` finds ``jenny@…``)."""
        text = text.strip()
        if not text:
            return self
        if SESSION_ID.fullmatch(text):
            return self.filter(public_id=text)
        if ORDER_ID.fullmatch(text):
            return self.filter(order__public_id=text)
        if number := ORDER_NUMBER.fullmatch(text):
            return self.filter(order__number=int(number[1]))
        return self.with_customer_email(text)

    def with_customer_email(self, text: str) -> "CheckoutSessionQuerySet":
        """Sessions whose customer email is ``text`` or starts with it (``orgs.emails`` stores
        addresses canonical, so the match is case-sensitive on a lower-cased ``text``)."""
        return self.filter(customer_email_matches(text))

    def for_payment_link(self, link) -> "CheckoutSessionQuerySet":
        return self.filter(payment_link=link)

    def from_source(self, source: str) -> "CheckoutSessionQuerySet":
        return self.filter(source=source)

    def created_between(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> "CheckoutSessionQuerySet":
        """Created at or after ``start`` and before ``end`` (either may be open)."""
        if start is not None:
            self = self.filter(created_at__gte=start)
        if end is not None:
            self = self.filter(created_at__lt=end)
        return self

    def reached_step(self, step: str) -> "CheckoutSessionQuerySet":
        """Sessions that reached the funnel step ``step`` (one of ``FUNNEL_STEPS``)."""
        return self.filter(funnel_step_conditions()[step])

    def dropped_at_step(self, step: str) -> "CheckoutSessionQuerySet":
        """Sessions that reached the step before ``step`` and stopped there."""
        return self.filter(dropped_at_condition(step))

    def with_decline_reason(self, reason: str) -> "CheckoutSessionQuerySet":
        """Sessions with at least one declined attempt for ``reason`` (a ``decline_code``, else
        a ``code``, as ``top_decline_reasons`` counts them); each session once."""
        events = self.model._meta.get_field("events").related_model.objects
        declines = (
            events.filter(session=OuterRef("pk"), kind=EventKind.PAYMENT_FAILED)
            .annotate(reason=decline_reason_expression())
            .filter(reason=reason)
        )
        # failed_attempts > 0 is implied, and skips the sessions that never had a decline.
        return self.filter(Exists(declines), failed_attempts__gt=0)

    def funnel(self) -> "Funnel":
        """The checkout funnel of these sessions (filter them first: ``for_org``,
        ``created_between``), row by row in one aggregate query. An org's period reads it from
        the rollup instead (``checkout.rollup.funnel``)."""
        conditions = funnel_step_conditions()
        counts = self.order_by().aggregate(
            opened=Count("pk"),
            **{step: Count("pk", filter=conditions[step]) for step in FUNNEL_STEPS[1:]},
            details_not_attempted=Count("pk", filter=dropped_at_condition("payment_attempted")),
        )
        return Funnel(**counts)

    def top_decline_reasons(self, limit: int = 5) -> "list[DeclineReasonCount]":
        """The most frequent reasons cards were declined in these sessions, with counts: each
        ``payment_failed`` event counts once under its ``decline_code``, else its ``code`` (the
        rule of ``checkout.declines.decline_reason``), and each session once per reason. One
        grouped query; an org's period reads the rollup (``checkout.rollup``)."""
        rows = self.decline_reason_counts().order_by("-declines", "reason")[:limit]
        return [DeclineReasonCount(row["reason"], row["declines"], row["sessions"]) for row in rows]

    def decline_reason_counts(self, *group_by: str) -> models.QuerySet:
        """Rows of ``reason`` (and ``group_by``) with ``declines``, ``sessions`` and
        ``paid_sessions`` (sessions paid in the end) of these sessions."""
        return (
            # failed_attempts > 0 is implied (each decline counts one), and leaves out the
            # sessions that never had one before looking up their events.
            self.filter(failed_attempts__gt=0, events__kind=EventKind.PAYMENT_FAILED)
            .order_by()
            .values(*group_by, reason=decline_reason_expression("events__data"))
            .annotate(
                declines=Count("events__id"),
                sessions=Count("pk", distinct=True),
                paid_sessions=Count("pk", distinct=True, filter=Q(is_paid=True)),
            )
        )

    def change_marker(self, since: datetime, now: datetime | None = None) -> str:
        """A short fingerprint of whatever can have changed in these sessions since ``since``:
        equal markers at two moments mean no session was created, paid, declined or expired
        in between (for a live list that polls).

        Only sessions with ``expires_at > since`` can have changed after ``since`` (paying and
        declining need an active session; a new one expires after it was created), so this is
        one index-only range scan of the covering ``(org, mode, expires_at)`` index: the
        unfinished sessions, never the org's history. Those that expired by ``now`` are
        counted too, so a session running out changes the marker.
        """
        now = now or timezone.now()
        row = (
            self.order_by()
            .filter(expires_at__gt=since)
            .aggregate(**change_marker_aggregates(since, now))
        )
        return change_marker_of([row])


def change_marker_aggregates(since: datetime, now: datetime) -> dict:
    """What ``change_marker`` counts, as aggregates over sessions with ``expires_at > since``
    (filtered here too, so a query reading a wider range can add them to its own)."""
    changeable = Q(expires_at__gt=since)
    aggregates = {
        "marker_sessions": Count("expires_at", filter=changeable),
        "marker_paid": Count("expires_at", filter=changeable & Q(is_paid=True)),
        "marker_failed_attempts": Sum("failed_attempts", filter=changeable),
        "marker_newest": Max("created_at", filter=changeable),
    }
    if since < now:  # else none can have ended since (a page's own marker): 0, not counted
        aggregates["marker_ended"] = Count("expires_at", filter=changeable & Q(expires_at__lte=now))
    return aggregates


def change_marker_of(rows) -> str:
    """The marker of ``change_marker_aggregates`` rows (one, or one per group of a grouped
    query): the same text whichever way the sessions were grouped."""
    rows = list(rows)
    total = {
        name: sum(row.get(name) or 0 for row in rows)
        for name in ("marker_sessions", "marker_paid", "marker_failed_attempts", "marker_ended")
    }
    newest = max((row["marker_newest"] for row in rows if row["marker_newest"]), default=None)
    state = ":".join(
        str(total[name])
        for name in ("marker_sessions", "marker_paid", "marker_failed_attempts", "marker_ended")
    )
    newest_text = newest.isoformat() if newest else "-"
    return hashlib.blake2s(f"{state}:{newest_text}".encode(), digest_size=8).hexdigest()


@dataclass(frozen=True)
class Cursor:
    """A position in a newest-first list: the ``(created_at, pk)`` of one row."""

    created_at: datetime
    pk: int

    @classmethod
    def of(cls, row) -> "Cursor":
        return cls(row.created_at, row.pk)

    def older_q(self) -> Q:
        return Q(created_at__lte=self.created_at) & (
            Q(created_at__lt=self.created_at) | Q(pk__lt=self.pk)
        )

    def newer_q(self) -> Q:
        return Q(created_at__gte=self.created_at) & (
            Q(created_at__gt=self.created_at) | Q(pk__gt=self.pk)
        )


@dataclass(frozen=True)
class Page:
    """Rows newest first, and whether there are older / newer rows beyond them."""

    rows: list
    has_older: bool
    has_newer: bool


FUNNEL_LABELS = {
    "opened": "Sessions opened",
    "details_provided": "Details provided",
    "payment_attempted": "Payment attempted",
    "paid": "Paid",
}


@dataclass(frozen=True)
class FunnelStep:
    name: str  # one of FUNNEL_STEPS: the list filter ``reached_step`` / ``dropped_at_step``
    label: str
    count: int
    dropped: int  # sessions of the step before that did not reach this one

    def rate_of(self, total: int) -> float:
        """This step's share of ``total`` (the sessions opened), 0 when there were none."""
        return self.count / total if total else 0.0


@dataclass(frozen=True)
class Funnel:
    """Sessions opened, with details, with a payment attempt, paid (``funnel()``), and the
    sessions with details but no attempt (the one drop-off that is not a difference of two
    steps when a session skipped one, as only data written by hand can)."""

    opened: int
    details_provided: int
    payment_attempted: int
    paid: int
    details_not_attempted: int

    @property
    def steps(self) -> list[FunnelStep]:
        """The steps in order, each with the drop-off from the step before."""
        dropped = {
            "opened": 0,
            "details_provided": self.opened - self.details_provided,
            "payment_attempted": self.details_not_attempted,
            "paid": self.payment_attempted - self.paid,
        }
        return [
            FunnelStep(name, FUNNEL_LABELS[name], getattr(self, name), dropped[name])
            for name in FUNNEL_STEPS
        ]

    @property
    def conversion_rate(self) -> float:
        return self.paid / self.opened if self.opened else 0.0


@dataclass(frozen=True)
class DeclineReasonCount:
    reason: str  # a decline code (``insufficient_funds``) or code (``expired_card``)
    count: int  # declined attempts
    sessions: int = 0  # sessions with at least one of them

    @property
    def explanation(self) -> DeclineExplanation:
        return explain_decline(self.reason)


class OrderQuerySet(NewestFirstQuerySet):
    def for_org(self, org, mode: str) -> "OrderQuerySet":
        """Every read from a merchant's point of view starts here: one org, one mode."""
        return self.filter(org=org, mode=mode)

    def paid(self) -> "OrderQuerySet":
        return self.filter(payment_status=PaymentStatus.PAID)

    def unpaid(self) -> "OrderQuerySet":
        return self.filter(payment_status=PaymentStatus.UNPAID)

    def in_payment_status(self, status: str) -> "OrderQuerySet":
        return self.filter(payment_status=PaymentStatus(status))

    def for_customer(self, email: str) -> "OrderQuerySet":
        """Orders of one customer: ``email`` in canonical form (``orgs.emails``), matched with
        ``=`` through the ``order_org_mode_email`` index. Never ``iexact``: SQL ``UPPER()`` maps
        the dotless ``ı`` of a look-alike domain to ``I``, merging two customers' orders."""
        return self.filter(customer_email=email)

    def search(self, text: str) -> "OrderQuerySet":
        """Orders matching what a merchant typed: an order number (``42`` or ``#42``), an order
        id, its checkout session's id, or a customer email (exact, or a prefix: ``jenny`` finds
        ``jenny@…``; the rule of the sessions search, ``customer_email_matches``)."""
        text = text.strip()
        if not text:
            return self
        if ORDER_ID.fullmatch(text):
            return self.filter(public_id=text)
        if SESSION_ID.fullmatch(text):
            return self.filter(session__public_id=text)
        if number := ORDER_NUMBER.fullmatch(text):
            return self.filter(number=int(number[1]))
        return self.filter(customer_email_matches(text))

    def with_details(self) -> "OrderQuerySet":
        """What an order's page shows, in a fixed number of queries: its items, its checkout
        session and the session that session recovered (for a recovered sale)."""
        return self.select_related("session", "session__recovered_from").prefetch_related("items")


class TimelineEventQuerySet(models.QuerySet):
    def receipts(self) -> "TimelineEventQuerySet":
        """The receipts sent, and the sends that failed, oldest first."""
        return self.filter(kind__in=[EventKind.RECEIPT_SENT, EventKind.RECEIPT_FAILED]).order_by(
            "created_at", "id"
        )


class CallbackDeliveryQuerySet(NewestFirstQuerySet):
    """Deliveries carry their session's org and mode, so a mode's log is one range of the
    ``(org, mode, -created_at, -id)`` index; ``public_id`` is the ``webhook-id``."""

    def for_org(self, org, mode: str) -> "CallbackDeliveryQuerySet":
        return self.filter(org=org, mode=mode)


class DeclineAlarmQuerySet(models.QuerySet):
    def shown_at(self, org, mode: str, now: datetime):
        """The org's latest card-testing alarm in ``mode`` if the dashboard still shows it
        (raised within ``CARD_TESTING_ALARM_SHOWN_HOURS``), with the session that raised it;
        else None. One read of the ``(org, mode, raised_at)`` index."""
        shown_for = timedelta(hours=settings.CARD_TESTING_ALARM_SHOWN_HOURS)
        return (
            self.filter(org=org, mode=mode, raised_at__gt=now - shown_for, raised_at__lte=now)
            .select_related("session")
            .order_by("-raised_at")
            .first()
        )
