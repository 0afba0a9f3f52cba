"""Sales → Checkout sessions: the live list (tabs with counts, search, filters, pages), its poll
and its CSV export. A session's own page is ``session_detail``."""

from datetime import UTC, datetime, timedelta

from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone

from checkout.choices import SessionStatus
from checkout.models import MAX_EXPIRES_IN_MINUTES, CheckoutSession, DeclineAlarm
from checkout.processors import processor_for_mode
from checkout.rollup import (
    Unfinished,
    decline_reason_status_counts,
    read_unfinished,
    status_counts,
)
from dashboard.access import dashboard_view
from dashboard.csv_export import session_csv_lines
from dashboard.forms import FILTERS, SessionListForm
from dashboard.insights import session_insights
from dashboard.views.partials import org_url, render_page_or_partial, wants_whole_page
from orgs.models import PaymentLink

PAGE = "dashboard/sessions.html"
PAGE_SIZE = 25
TABS = [("", "All"), *SessionStatus.choices]


def _list_form(request) -> SessionListForm:
    links = PaymentLink.objects.filter(org=request.org, mode=request.mode).order_by("name")
    return SessionListForm(request.GET, payment_links=list(links))


def _tab_counts(request, form: SessionListForm, narrowed, unfinished: Unfinished) -> dict:
    """Exact counts per tab: from the rollups unless search or a filter they can't answer
    narrows the list (then counted on its rows)."""
    org, mode = request.org, request.mode
    if not form.is_filtered or form.rollup_filter:
        first_day, last_day = form.created_days
        if reason := form.value("reason"):
            return decline_reason_status_counts(
                org, mode, reason, first_day=first_day, last_day=last_day, unfinished=unfinished
            )
        return status_counts(
            org,
            mode,
            unfinished=unfinished,
            first_day=first_day,
            last_day=last_day,
            step=form.value("step"),
        )
    return narrowed.status_counts(unfinished.now)


def _list_context(request, form: SessionListForm, now: datetime) -> dict:
    """Everything the list and its tabs show, in a fixed number of queries."""
    everything = CheckoutSession.objects.for_org(request.org, request.mode)
    # The unfinished sessions, read once, before the rows (so a change in between makes the
    # next poll refresh): the live part of every count, and the poll's change marker.
    unfinished = read_unfinished(request.org, request.mode, now)
    narrowed = form.filter(everything)
    counts = _tab_counts(request, form, narrowed, unfinished)
    sessions = narrowed.with_status(now)
    if form.tab:
        sessions = sessions.in_status(form.tab, now)
    sessions = sessions.select_related("order", "payment_link").prefetch_related("order__items")
    page = sessions.page(
        limit=PAGE_SIZE,
        after=form.cursor(everything, "after"),
        before=form.cursor(everything, "before"),
    )
    url = org_url("dashboard:sessions", request)
    first_page = form.query(drop=("after", "before"))
    return {
        "section": "sessions",
        "form": form,
        "now": now,
        "page": page,
        "fraud_threshold": request.org.fraud_flag_threshold,
        "takes_payments": processor_for_mode(request.mode) is not None,
        "tabs": [
            {
                "label": label,
                "count": counts[status or "all"],
                "url": f"{url}?{form.query(status=status or None, drop=('after', 'before'))}",
                "active": status == form.tab,
            }
            for status, label in TABS
        ],
        "list_url": url,
        "unfinished": unfinished,
        "clear_url": f"{url}?{form.query(drop=FILTERS + ('after', 'before'))}",
        "newer_url": page.has_newer
        and page.rows
        and f"{url}?{form.query(before=page.rows[0].public_id, after=None)}",
        "older_url": page.has_older
        and page.rows
        and f"{url}?{form.query(after=page.rows[-1].public_id, before=None)}",
        # Only the first page polls: new sessions appear at its top.
        "poll_url": not page.has_newer
        and f"{org_url('dashboard:sessions_poll', request)}?"
        + "&".join(
            filter(None, [first_page, f"since={_micros(now)}", f"v={unfinished.change_marker}"])
        ),
        "export_url": f"{org_url('dashboard:sessions_export', request)}?{first_page}",
    }


def _micros(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def _render_list(request, form: SessionListForm, now: datetime, *, insights=False) -> HttpResponse:
    context = _list_context(request, form, now)
    if insights and wants_whole_page(request):
        context["alarm"] = DeclineAlarm.objects.shown_at(request.org, request.mode, now)
        context["insights"] = session_insights(
            request.org,
            request.mode,
            form=form,
            now=now,
            unfinished=context["unfinished"],
            list_url=context["list_url"],
        )
    return render_page_or_partial(request, PAGE, "results", context)


@dashboard_view
def session_list(request):
    """The list; an HTMX request (a tab, search, filter or page) gets the tabs and rows only.
    The full page adds the insights of the period: outcomes per day, funnel, decline reasons."""
    return _render_list(request, _list_form(request), timezone.now(), insights=True)


@dashboard_view
def session_list_poll(request):
    """The live list's poll: 204 with no body when nothing changed since the page was drawn
    (one index-only query), else the tabs and rows as they are now."""
    now = timezone.now()
    if request.htmx:
        try:
            since = datetime.fromtimestamp(int(request.GET["since"]) / 1_000_000, tz=UTC)
        except (KeyError, ValueError, OverflowError, OSError):
            since = None
        everything = CheckoutSession.objects.for_org(request.org, request.mode)
        # A list drawn longer ago than a session can live is redrawn, so a marker never reads
        # more than the sessions of one lifetime.
        recent = since is not None and since > now - timedelta(minutes=MAX_EXPIRES_IN_MINUTES)
        if recent and everything.change_marker(since=since, now=now) == request.GET.get("v"):
            return HttpResponse(status=204)
    return _render_list(request, _list_form(request), now, insights=True)


@dashboard_view
def session_export(request):
    """The current view (tab, search, filters; every page) as CSV, streamed in keyset chunks."""
    form = _list_form(request)
    now = timezone.now()
    sessions = form.filter(CheckoutSession.objects.for_org(request.org, request.mode))
    if form.tab:
        sessions = sessions.in_status(form.tab, now)
    filename = f"checkout-sessions-{request.org.slug}-{request.mode}-{now:%Y%m%d-%H%M}.csv"
    return StreamingHttpResponse(
        session_csv_lines(sessions, now),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
