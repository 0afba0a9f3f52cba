"""Reads of the checkout domain, as queryset methods named for what they mean.

The derived status rule (SPEC, "Derived status") lives here and only here:

1. succeeded – the order is paid;
2. failed    – unpaid and failed_attempts > 0 (active or not);
3. open      – unpaid, no failed attempt, expires_at > now;
4. expired   – unpaid, no failed attempt, expires_at <= now.
"""

from datetime import datetime

from django.db import models
from django.db.models import Case, Count, ExpressionWrapper, Q, Value, When
from django.utils import timezone

from checkout.choices import PaymentStatus, SessionStatus


def status_conditions(now: datetime) -> dict[str, Q]:
    """The SQL condition of each derived status at ``now``; exactly one holds for any session."""
    paid = Q(order__payment_status=PaymentStatus.PAID)
    unpaid = Q(order__payment_status=PaymentStatus.UNPAID)
    return {
        SessionStatus.SUCCEEDED: paid,
        SessionStatus.FAILED: unpaid & Q(failed_attempts__gt=0),
        SessionStatus.OPEN: unpaid & Q(failed_attempts=0, expires_at__gt=now),
        SessionStatus.EXPIRED: unpaid & Q(failed_attempts=0, expires_at__lte=now),
    }


def _status_count_expressions(now: datetime | None) -> dict[str, Count]:
    conditions = status_conditions(now or timezone.now())
    return {
        "all": Count("pk"),
        **{status.value: Count("pk", filter=condition) for status, condition in conditions.items()},
    }


class CheckoutSessionQuerySet(models.QuerySet):
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
            active_now=ExpressionWrapper(Q(expires_at__gt=now), output_field=models.BooleanField()),
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

    def status_counts(self, now: datetime | None = None) -> dict[str, int]:
        """Sessions per status plus ``all``, in one aggregate query."""
        return self.aggregate(**_status_count_expressions(now))

    def status_counts_by_org(self, now: datetime | None = None) -> dict[int, dict[str, int]]:
        """``status_counts`` for each org at once (org pk → counts), in one grouped query."""
        rows = self.order_by().values("org_id").annotate(**_status_count_expressions(now))
        return {row.pop("org_id"): row for row in rows}

    def newest_first(self) -> "CheckoutSessionQuerySet":
        return self.order_by("-created_at", "-id")


class OrderQuerySet(models.QuerySet):
    def for_org(self, org, mode: str) -> "OrderQuerySet":
        return self.filter(org=org, mode=mode)

    def paid(self) -> "OrderQuerySet":
        return self.filter(payment_status=PaymentStatus.PAID)

    def for_customer(self, email: str) -> "OrderQuerySet":
        """Orders of one customer: ``email`` in canonical form (``orgs.emails``), matched with
        ``=`` through the ``order_org_email`` index. Never ``iexact``: SQL ``UPPER()`` maps the
        dotless ``ı`` of a look-alike domain to ``I``, merging two customers' orders."""
        return self.filter(customer_email=email)
