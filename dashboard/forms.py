"""The dashboard's forms: the lists' view of the URL (Checkout sessions, Orders: tab, search,
filters, page and the insights' period) and the inputs of a session's actions (recover a sale,
extend the expiry).

Everything a merchant chooses on the list is a GET parameter, so a link (or Back) opens the
same view. A value that does not parse is ignored (and its field says why), never a 500.
"""

from datetime import UTC, date, datetime, time, timedelta

from django import forms
from django.core.validators import MaxValueValidator, RegexValidator
from django.http import QueryDict

from checkout.choices import PaymentStatus, SessionSource, SessionStatus
from checkout.declines import DECLINE_EXPLANATIONS
from checkout.queries import (
    UNKNOWN_REASON,
    CheckoutSessionQuerySet,
    Cursor,
    NewestFirstQuerySet,
    OrderQuerySet,
)
from checkout.services import MAX_EXTEND_EXPIRY_MINUTES, MIN_EXTEND_EXPIRY_MINUTES

# The parameters that narrow the list (the tab, the page and the period do not).
FILTERS = ("q", "link", "source", "from", "to", "step", "reason")
# Filters whose tab counts the rollups answer (with the dates): see ``rollup_filter``.
ROLLUP_FILTERS = ({"from", "to", "step"}, {"from", "to", "reason"})
# "to" takes in its whole day (the list ends at the next midnight), so the last day a date filter
# takes is the one before the last date there is: 9999-12-31 is refused, not a 500.
LAST_FILTER_DAY = date.max - timedelta(days=1)
PERIODS = [7, 14, 30, 90]
DEFAULT_PERIOD = 14
# The funnel filters: sessions that reached a step, or stopped just before it.
STEP_CHOICES = [
    ("", "Any funnel step"),
    ("details_provided", "Provided details"),
    ("payment_attempted", "Attempted a payment"),
    ("paid", "Paid"),
    ("dropped_details_provided", "Left before giving details"),
    ("dropped_payment_attempted", "Gave details, never attempted a payment"),
    ("dropped_paid", "Attempted, not paid"),
]
# A processor's code: printable ASCII without spaces (Stripe's are snake_case); the reasons we
# explain are offered in a list, any other code a processor sent still filters.
decline_reason_validator = RegexValidator(
    r"\A[!-~]+\Z", "Not a decline reason: a code such as insufficient_funds."
)


class ListForm(forms.Form):
    """A newest-first list's URL: a ``status`` tab, the ``filters`` that narrow it, and the
    keyset page (``after`` / ``before``: a row's public id)."""

    filters: tuple[str, ...] = ("q",)
    # Parameters that neither narrow the list nor page it (the insights' period), and the value
    # of each that needs no parameter.
    kept: dict[str, str] = {}
    status = forms.ChoiceField(required=False)
    q = forms.CharField(required=False, max_length=254, strip=True)
    after = forms.CharField(required=False, max_length=64)
    before = forms.CharField(required=False, max_length=64)

    def value(self, name: str):
        """The field's cleaned value, or its empty value when it did not parse."""
        return self.cleaned_data.get(name) or None

    @property
    def tab(self) -> str:
        """The status tab ("" for All)."""
        return self.value("status") or ""

    @property
    def is_filtered(self) -> bool:
        """Search or a filter narrows the list."""
        return any(self.value(name) for name in self.filters)

    def cursor(self, rows: NewestFirstQuerySet, name: str) -> Cursor | None:
        """The position named by ``after`` or ``before`` (a public id among ``rows``, this
        org's and mode's, so no database key appears in a URL); an unknown id starts from the
        newest."""
        public_id = self.value(name)
        return rows.cursor_at(public_id) if public_id else None

    def query(self, *, drop=(), **changes) -> str:
        """This view's query string without ``drop`` and with ``changes`` (None removes)."""
        params = QueryDict(mutable=True)
        for name in ("status", *self.filters, *self.kept, "after", "before"):
            value = changes.get(name, self.data.get(name)) if name not in drop else None
            if name in self.kept and str(value) == self.kept[name]:
                value = None  # the default needs no parameter
            if value:
                params[name] = value
        return params.urlencode()


class OrderListForm(ListForm):
    """Orders are revenue first: the list opens on the paid ones (Shopify's orders, pretix's
    paid filter); ``status=unpaid`` shows the carts not paid yet, ``status=all`` both."""

    ALL = "all"
    status = forms.ChoiceField(
        required=False,
        choices=[(PaymentStatus.PAID, "Paid"), (PaymentStatus.UNPAID, "Unpaid"), ("all", "All")],
    )

    def __init__(self, data: QueryDict):
        super().__init__(data)
        self.is_valid()

    @property
    def tab(self) -> str:
        return self.value("status") or PaymentStatus.PAID

    def filter(self, orders: OrderQuerySet) -> OrderQuerySet:
        """``orders`` narrowed by the search (not the tab)."""
        return orders.search(q) if (q := self.value("q")) else orders


class SessionListForm(ListForm):
    filters = FILTERS
    kept = {"period": str(DEFAULT_PERIOD)}
    status = forms.ChoiceField(required=False, choices=[("", "All"), *SessionStatus.choices])
    q = forms.CharField(required=False, max_length=254, strip=True, label="Search")
    link = forms.ChoiceField(required=False, label="Payment link")
    source = forms.ChoiceField(required=False, choices=[("", "Any source"), *SessionSource.choices])
    step = forms.ChoiceField(required=False, choices=STEP_CHOICES, label="Funnel step")
    reason = forms.CharField(
        required=False,
        max_length=100,
        strip=True,
        validators=[decline_reason_validator],
        label="Decline reason",
    )
    period = forms.TypedChoiceField(
        required=False,
        choices=[(str(days), f"{days} days") for days in PERIODS],
        coerce=int,
        empty_value=None,
        label="Period",
    )

    def __init__(self, data: QueryDict, *, payment_links):
        super().__init__(data)
        self.payment_links = {link.public_id: link for link in payment_links}
        self.fields["link"].choices = [
            ("", "Any payment link"),
            *((link.public_id, link.name) for link in payment_links),
        ]
        # "from" is a Python keyword: the two date fields are added by name.
        for name, label in (("from", "Created from"), ("to", "Created to")):
            self.fields[name] = forms.DateField(
                required=False, label=label, validators=[MaxValueValidator(LAST_FILTER_DAY)]
            )
        self.is_valid()

    @property
    def period_days(self) -> int:
        """The insights' period in days (the last ``period_days`` UTC days, today included)."""
        return self.value("period") or DEFAULT_PERIOD

    @property
    def period_in_url(self) -> int | None:
        """The period to carry in the filter form's submissions (None for the default)."""
        return None if self.period_days == DEFAULT_PERIOD else self.period_days

    @property
    def rollup_filter(self) -> bool:
        """The filters in use are dates with a funnel step, or dates with a decline reason:
        the rollups count those tabs (``checkout.rollup``) instead of the rows."""
        used = {name for name in FILTERS if self.value(name)}
        return any(used <= allowed for allowed in ROLLUP_FILTERS)

    @property
    def created_days(self) -> tuple[date | None, date | None]:
        """The first and last day (UTC, both included) of the date filter, either open."""
        return self.value("from"), self.value("to")

    @property
    def reason_choices(self) -> list[tuple[str, str]]:
        """The decline reasons to offer: the ones we explain, ``unknown``, and the one in the
        URL if it is another (a live processor's code, linked from the top reasons)."""
        reasons = sorted({*DECLINE_EXPLANATIONS, UNKNOWN_REASON})
        if (current := self.value("reason")) and current not in reasons:
            reasons.append(current)
        return [("", "Any decline reason"), *((reason, reason) for reason in reasons)]

    def filter(self, sessions: CheckoutSessionQuerySet) -> CheckoutSessionQuerySet:
        """``sessions`` narrowed by the search and filters (not the tab)."""
        if q := self.value("q"):
            sessions = sessions.search(q)
        if link := self.value("link"):
            sessions = sessions.for_payment_link(self.payment_links[link])
        if source := self.value("source"):
            sessions = sessions.from_source(source)
        if step := self.value("step"):
            if step.startswith("dropped_"):
                sessions = sessions.dropped_at_step(step.removeprefix("dropped_"))
            else:
                sessions = sessions.reached_step(step)
        if reason := self.value("reason"):
            sessions = sessions.with_decline_reason(reason)
        start, end = self.created_days
        return sessions.created_between(
            datetime.combine(start, time.min, tzinfo=UTC) if start else None,
            # "to" is a whole day, included.
            datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC) if end else None,
        )


# --- A session's actions ----------------------------------------------------------------------

# What Extend expiry offers: a quarter of an hour up to a day, each within what the service (and
# the API's PATCH) accepts in one extension.
EXTEND_EXPIRY_CHOICES = [
    (minutes, label)
    for minutes, label in [
        (15, "15 minutes"),
        (30, "30 minutes"),
        (60, "1 hour"),
        (120, "2 hours"),
        (1440, "24 hours"),
    ]
    if MIN_EXTEND_EXPIRY_MINUTES <= minutes <= MAX_EXTEND_EXPIRY_MINUTES
]
DEFAULT_EXTEND_EXPIRY_MINUTES = 30


class ExtendExpiryForm(forms.Form):
    minutes = forms.TypedChoiceField(
        label="Extend by",
        choices=EXTEND_EXPIRY_CHOICES,
        coerce=int,
        initial=DEFAULT_EXTEND_EXPIRY_MINUTES,
        error_messages={
            "required": "Extend by: choose how much longer the session stays open.",
            "invalid_choice": "Extend by: choose one of the listed durations "
            f"({EXTEND_EXPIRY_CHOICES[0][1]} to {EXTEND_EXPIRY_CHOICES[-1][1]}).",
        },
    )


class RecoverSaleForm(forms.Form):
    """How the fresh checkout link reaches the customer: our email, or the merchant's own
    (a prefilled ``mailto:``)."""

    send = forms.ChoiceField(
        choices=[("email", "Email it"), ("mailto", "Write it yourself")],
        error_messages={
            "required": "Choose how to send the new checkout link: by email or yourself.",
            "invalid_choice": "Choose how to send the new checkout link: by email or yourself.",
        },
    )

    @property
    def send_email(self) -> bool:
        return self.cleaned_data["send"] == "email"
