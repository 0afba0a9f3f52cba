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
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Case, Count, ExpressionWrapper, Max, Q, Sum, Value, When
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

    def funnel(self) -> "Funnel":
        """The checkout funnel of these sessions (filter them first: ``for_org``,
        ``created_between``): opened → details provided → payment attempted → paid, in one
        aggregate query. "Attempted" is a declined or a successful charge (paid, or
        ``failed_attempts > 0``); a processor outage is not an attempt (SPEC)."""
        paid = Q(is_paid=True)
        counts = self.order_by().aggregate(
            opened=Count("pk"),
            details_provided=Count("pk", filter=Q(details_provided_at__isnull=False)),
            payment_attempted=Count("pk", filter=paid | Q(failed_attempts__gt=0)),
            paid=Count("pk", filter=paid),
        )
        return Funnel(**counts)

    def top_decline_reasons(self, limit: int = 5) -> "list[DeclineReasonCount]":
        """The most frequent reasons cards were declined in these sessions, with counts: each
        ``payment_failed`` event counts once under its ``decline_code``, else its ``code`` (the
        rule of ``checkout.declines.decline_reason``). One grouped query."""
        reason = Coalesce(
            NullIf(KeyTextTransform("decline_code", "events__data"), Value("")),
            NullIf(KeyTextTransform("code", "events__data"), Value("")),
            Value("unknown"),
            output_field=models.CharField(),
        )
        rows = (
            # failed_attempts > 0 is implied (each decline counts one), and leaves out the
            # sessions that never had one before looking up their events.
            self.filter(failed_attempts__gt=0, events__kind=EventKind.PAYMENT_FAILED)
            .order_by()
            .values(reason=reason)
            .annotate(declines=Count("events__id"))
            .order_by("-declines", "reason")[:limit]
        )
        return [DeclineReasonCount(row["reason"], row["declines"]) for row in rows]

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
            .aggregate(
                sessions=Count("expires_at"),
                paid=Count("expires_at", filter=Q(is_paid=True)),
                failed_attempts=Sum("failed_attempts"),
                ended=Count("expires_at", filter=Q(expires_at__lte=now)),
                newest=Max("created_at"),
            )
        )
        newest = row["newest"].isoformat() if row["newest"] else "-"
        state = f"{row['sessions']}:{row['paid']}:{row['failed_attempts'] or 0}:{row['ended']}"
        return hashlib.blake2s(f"{state}:{newest}".encode(), digest_size=8).hexdigest()


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


@dataclass(frozen=True)
class FunnelStep:
    name: str
    label: str
    count: int
    dropped: int  # sessions of the step before that did not reach this one

    def rate_of(self, total: int) -> float:
        """This step's share of ``total`` (the sessions opened), 0 when there were none."""
        return self.count / total if total else 0.0


@dataclass(frozen=True)
class Funnel:
    """Sessions opened, with details, with a payment attempt, paid (``funnel()``)."""

    opened: int
    details_provided: int
    payment_attempted: int
    paid: int

    @property
    def steps(self) -> list[FunnelStep]:
        """The steps in order, each with the drop-off from the step before."""
        counts = [
            ("opened", "Sessions opened", self.opened),
            ("details_provided", "Details provided", self.details_provided),
            ("payment_attempted", "Payment attempted", self.payment_attempted),
            ("paid", "Paid", self.paid),
        ]
        previous = self.opened
        steps = []
        for name, label, count in counts:
            steps.append(FunnelStep(name, label, count, max(previous - count, 0)))
            previous = count
        return steps

    @property
    def conversion_rate(self) -> float:
        return self.paid / self.opened if self.opened else 0.0


@dataclass(frozen=True)
class DeclineReasonCount:
    reason: str  # a decline code (``insufficient_funds``) or code (``expired_card``)
    count: int

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
