"""Step 2: the merchant's reads, timed through Django's request cycle (the test client,
in-process: API with the Bearer key, dashboard with a logged-in member) or, where no view exists
yet, through the querysets the dashboard will call. Each is run untimed once with its queries
captured (count, and ``EXPLAIN (ANALYZE, BUFFERS)`` of the slow ones), then timed ≥ 30 times."""

import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from html import unescape

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bench.generate import Dataset
from checkout.choices import SessionStatus
from checkout.models import CheckoutSession, Order
from checkout.queries import Cursor
from checkout.rollup import daily_status_counts, funnel, status_counts, top_decline_reasons
from dashboard.views.orders import PAGE_SIZE as ORDERS_PAGE_SIZE
from orgs.models import Mode

PAGE_SIZE = 20
PAGES_DEEP = 50
ROWS_DEEP = 100_000
# Queries at least this slow (ms) in the captured run get an EXPLAIN, besides the slowest.
EXPLAIN_OVER_MS = 5.0
MAX_EXPLAINS = 3
OLDER_LINK = re.compile(r'rel="next" href="([^"]+)"')


class BenchError(Exception):
    """A timed request did not answer as it should: the bench fails rather than report it."""


@dataclass
class Timing:
    name: str
    what: str
    samples_ms: list[float]
    queries: int
    explains: list[tuple[str, str]] = field(default_factory=list)  # (sql, plan)

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def p95_ms(self) -> float:
        return statistics.quantiles(self.samples_ms, n=20, method="inclusive")[18]


def _explain(sql: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


def _explains(captured: list[dict]) -> list[tuple[str, str]]:
    selects = [query for query in captured if query["sql"].lstrip().upper().startswith("SELECT")]
    # The checkout reads are what the row is about (not the API key or the login session).
    selects = [query for query in selects if '"checkout_' in query["sql"]] or selects
    if not selects:
        return []
    slowest = sorted(selects, key=lambda query: float(query["time"]), reverse=True)
    chosen = [slowest[0]] + [
        query for query in slowest[1:] if float(query["time"]) * 1000 >= EXPLAIN_OVER_MS
    ]
    return [(query["sql"], _explain(query["sql"])) for query in chosen[:MAX_EXPLAINS]]


def measure(name: str, what: str, run: Callable[[], object], *, repeat: int) -> Timing:
    """Run ``run`` once capturing its queries, twice to warm up, then ``repeat`` times timed."""
    with CaptureQueriesContext(connection) as captured:
        run()
    # A copy now: captured_queries reads connection.queries, which the next request resets.
    queries = list(captured.captured_queries)
    explains = _explains(queries)
    for _ in range(2):
        run()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1000)
    return Timing(name, what, samples, len(queries), explains)


def _ok(response, path: str):
    if response.status_code != 200:
        raise BenchError(f"GET {path} answered {response.status_code}: {response.content[:300]!r}")
    return response


def time_reads(dataset: Dataset, *, repeat: int = 30, log: Callable[[str], None] = print):
    """Every timing of step 2, in order; ``log`` gets one line per timing."""
    org, mode = dataset.org, Mode.TEST
    api = Client(HTTP_AUTHORIZATION=f"Bearer {dataset.api_key}")
    merchant = Client()
    merchant.force_login(dataset.user)
    sessions_page = f"/dashboard/{org.slug}/test/sessions/"
    sessions = CheckoutSession.objects.for_org(org, mode)
    total = sessions.count()

    def api_list(**params):
        path = "/v0/checkout/sessions"
        query = {"limit": PAGE_SIZE, **{k: v for k, v in params.items() if v is not None}}
        return lambda: _ok(api.get(path, query), path).json()

    # Page 51: walk 50 pages with startingAfter (untimed), then time the next page's request.
    after, pages = None, 0
    for _ in range(PAGES_DEEP):
        page = api_list(startingAfter=after)()
        if not page["hasMore"]:
            break
        after, pages = page["data"][-1]["id"], pages + 1
    # ~100,000 rows deep: the cursor row found once by OFFSET (untimed), then a keyset request.
    depth = min(ROWS_DEEP, max(total - PAGE_SIZE - 1, 0))
    deep_id = sessions.newest_first().values_list("public_id", flat=True)[depth]
    sample = sessions.filter(customer_email__gt="").order_by("-created_at").first()
    # A session page with a decline to explain, and a recovery to offer.
    declined = sessions.failed().filter(customer_email__gt="").newest_first().first() or sample
    email = sample.customer_email
    local_part = email.split("@")[0]
    prefix = local_part[:6]  # "user12": thousands of user12…, user120… in the org
    rare_prefix = local_part  # "user12345": that customer and a few user12345x
    today = timezone.now().date()

    def page_get(url: str = sessions_page, **params):
        return lambda: _ok(merchant.get(url, params), url)

    # Page 51 of the sessions page: follow its own Older link 50 times (untimed).
    deep_page_url, deep_pages = sessions_page, 0
    for _ in range(PAGES_DEEP):
        html = _ok(merchant.get(deep_page_url), deep_page_url).content.decode()
        older = OLDER_LINK.search(html)
        if not older:
            break
        deep_page_url, deep_pages = unescape(older[1]), deep_pages + 1

    orders_page = f"/dashboard/{org.slug}/test/orders/"
    paid_orders = Order.objects.for_org(org, mode).paid()
    # Page 51 of the orders list (it opens on the paid ones): the last order of page 50, found
    # by walking 50 keyset pages with the view's own query (untimed), in the URL as ``after``.
    cursor, order_pages, deep = None, 0, {}
    for _ in range(PAGES_DEEP):
        order_page = paid_orders.page(limit=ORDERS_PAGE_SIZE, after=cursor)
        if not order_page.has_older:
            break
        cursor, order_pages = Cursor.of(order_page.rows[-1]), order_pages + 1
        deep = {"after": order_page.rows[-1].public_id}
    # An order past the first page, with an email (paid orders have their customer's).
    order = list(paid_orders.exclude(customer_email="").newest_first()[: ORDERS_PAGE_SIZE + 1])[-1]
    order_prefix = order.customer_email.split("@")[0][:6]

    def orders(path: str = orders_page, **query):
        return lambda: _ok(merchant.get(path, query), path)

    cases = [
        *(
            (
                f"api_list_{status}",
                f"API list, first page, status={status}",
                api_list(status=status),
            )
            for status in SessionStatus.values
        ),
        ("api_list_all", "API list, first page, all statuses", api_list()),
        (
            "api_list_page_51",
            f"API list, page {pages + 1} (startingAfter the last id of page {pages})",
            api_list(startingAfter=after),
        ),
        (
            "api_list_deep",
            f"API list, {depth:,} rows deep (startingAfter)",
            api_list(startingAfter=deep_id),
        ),
        (
            "tab_counts",
            "Tab counts: checkout.rollup.status_counts",
            lambda: status_counts(org, mode),
        ),
        (
            "search_email_exact",
            f"search({email!r}).page(limit={PAGE_SIZE})",
            lambda: sessions.search(email).page(limit=PAGE_SIZE),
        ),
        (
            "search_email_prefix",
            f"search({prefix!r}).page(limit={PAGE_SIZE})",
            lambda: sessions.search(prefix).page(limit=PAGE_SIZE),
        ),
        (
            "search_email_prefix_rare",
            f"search({rare_prefix!r}).page(limit={PAGE_SIZE}): a prefix few emails have",
            lambda: sessions.search(rare_prefix).page(limit=PAGE_SIZE),
        ),
        (
            "api_retrieve",
            "API retrieve GET /v0/checkout/sessions/<id>",
            lambda: _ok(api.get(f"/v0/checkout/sessions/{sample.public_id}"), "retrieve"),
        ),
        (
            "chart_14_days",
            "14-day chart: checkout.rollup.daily_status_counts",
            lambda: daily_status_counts(
                org, mode, first_day=today - timedelta(days=13), last_day=today
            ),
        ),
        *(
            (
                f"sessions_page_{tab or 'all'}",
                f"Checkout sessions page, full GET, {tab or 'all'} tab (list, tab counts, "
                "chart, funnel, decline reasons)",
                page_get(**({"status": tab} if tab else {})),
            )
            for tab in ("", *SessionStatus.values)
        ),
        (
            "sessions_page_51",
            f"Checkout sessions page {deep_pages + 1}, full GET of the Older link of page "
            f"{deep_pages}",
            page_get(url=deep_page_url),
        ),
        (
            "sessions_search_email",
            f"Checkout sessions page, full GET, search {email!r}",
            page_get(q=email),
        ),
        (
            "sessions_search_email_prefix",
            f"Checkout sessions page, full GET, search {prefix!r}",
            page_get(q=prefix),
        ),
        (
            "sessions_search_session_id",
            "Checkout sessions page, full GET, search by a session id",
            page_get(q=sample.public_id),
        ),
        (
            "funnel_14_days",
            "Funnel of the last 14 days: checkout.rollup.funnel",
            lambda: funnel(org, mode, first_day=today - timedelta(days=13), last_day=today),
        ),
        (
            "top_declines_14_days",
            "Top decline reasons of the last 14 days: checkout.rollup.top_decline_reasons",
            lambda: top_decline_reasons(
                org, mode, first_day=today - timedelta(days=13), last_day=today
            ),
        ),
        (
            "orders_page",
            "Orders page GET /dashboard/<org>/test/orders/ (the paid orders, first page)",
            orders(),
        ),
        (
            "orders_page_deep",
            f"Orders page {order_pages + 1} GET …/orders/?after=<last order id of page "
            f"{order_pages}>",
            orders(**deep),
        ),
        (
            "orders_search_email",
            f"Orders search GET …/orders/?q={order.customer_email}",
            orders(q=order.customer_email),
        ),
        (
            "orders_search_email_prefix",
            f"Orders search GET …/orders/?q={order_prefix} (an email prefix many share)",
            orders(q=order_prefix),
        ),
        (
            "orders_search_number",
            f"Orders search GET …/orders/?q=%23{order.number}",
            orders(q=f"#{order.number}"),
        ),
        (
            "order_detail_page",
            "Order page GET /dashboard/<org>/test/orders/<ord id>",
            orders(f"{orders_page}{order.public_id}"),
        ),
        (
            "session_detail_page",
            "Session page GET /dashboard/<org>/test/sessions/<cs id> (a declined session: "
            "context, timeline with explanations, raw data, actions)",
            page_get(url=f"{sessions_page}{declined.public_id}"),
        ),
    ]
    timings = []
    for name, what, run in cases:
        timing = measure(name, what, run, repeat=repeat)
        log(
            f"  {name:<24} p50 {timing.p50_ms:7.1f} ms   p95 {timing.p95_ms:7.1f} ms"
            f"   {timing.queries:>2} queries"
        )
        timings.append(timing)
    return timings
