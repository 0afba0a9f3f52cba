"""Sales → Orders: the org's orders in one mode (tabs Paid, the default, / Unpaid / All; search;
keyset pages) and an order's page (items, payment, receipts, its checkout session)."""

from django.http import Http404
from django.shortcuts import render
from django.utils import timezone

from checkout.choices import PaymentStatus
from checkout.models import Order
from checkout.processors import processor_for_mode
from dashboard.access import dashboard_view
from dashboard.forms import OrderListForm
from dashboard.views.partials import org_url, render_page_or_partial

PAGE = "dashboard/orders.html"
PAGE_SIZE = 25
TABS = OrderListForm.base_fields["status"].choices


@dashboard_view
def order_list(request):
    """The list, newest first; an HTMX request (a tab, search or page) gets the results only."""
    form = OrderListForm(request.GET)
    everything = Order.objects.for_org(request.org, request.mode)
    orders = form.filter(everything)
    if form.tab != OrderListForm.ALL:
        orders = orders.in_payment_status(form.tab)
    page = orders.page(
        limit=PAGE_SIZE,
        after=form.cursor(everything, "after"),
        before=form.cursor(everything, "before"),
    )
    url = org_url("dashboard:orders", request)
    context = {
        "section": "orders",
        "form": form,
        "page": page,
        "now": timezone.now(),
        "takes_payments": processor_for_mode(request.mode) is not None,
        "tabs": [
            {
                "label": label,
                # The paid tab is the list's own URL: no ?status=paid.
                "url": _query_url(url, form, status=status, drop=("after", "before")),
                "active": status == form.tab,
            }
            for status, label in TABS
        ],
        "list_url": url,
        "clear_url": _query_url(url, form, drop=("q", "after", "before")),
        "search_all_url": _query_url(url, form, status=OrderListForm.ALL, drop=("after", "before")),
        "newer_url": page.has_newer
        and page.rows
        and f"{url}?{form.query(before=page.rows[0].public_id, after=None)}",
        "older_url": page.has_older
        and page.rows
        and f"{url}?{form.query(after=page.rows[-1].public_id, before=None)}",
    }
    return render_page_or_partial(request, PAGE, "results", context)


def _query_url(url: str, form: OrderListForm, **changes) -> str:
    if changes.get("status") == PaymentStatus.PAID:
        changes["status"] = None
    query = form.query(**changes)
    return f"{url}?{query}" if query else url


@dashboard_view(switch_to="dashboard:orders")
def order_detail(request, order_id: str):
    """An order's page: items, total, payment, receipts, and its checkout session (and, for a
    recovered sale, the session it recovered)."""
    order = (
        Order.objects.for_org(request.org, request.mode)
        .with_details()
        .filter(public_id=order_id)
        .first()
    )
    if order is None:
        raise Http404("No such order.")
    session = getattr(order, "session", None)
    context = {
        "section": "orders",
        "order": order,
        "items": list(order.items.all()),
        "session": session,
        "receipts": list(session.events.receipts()) if session else [],
        "now": timezone.now(),
    }
    return render(request, "dashboard/order_detail.html", context)
