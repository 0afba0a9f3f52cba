"""Sales → Orders: who sees which order, search, tabs, keyset pages, HTMX swaps, an order's page
(items, payment, receipts, its session, the session a recovered sale came from), query counts
that do not grow with the data, and customer-supplied text shown as text."""

from datetime import timedelta

import pytest
from django.utils import timezone

from checkout.actors import Actor
from checkout.choices import ActorKind, EventKind
from checkout.models import Order, OrderItem, TimelineEvent
from checkout.services import LineItem, recover_session
from checkout.timeline import record_event
from tests.factories import MembershipFactory, OrganizationFactory, make_session

pytestmark = pytest.mark.django_db

LIST = "/dashboard/acme-test/test/orders/"
LIVE_LIST = "/dashboard/acme-test/orders/"
ALL = {"status": "all"}


def detail(order, mode="test/") -> str:
    return f"/dashboard/acme-test/{mode}orders/{order.public_id}"


@pytest.fixture
def merchant(client, member):
    client.force_login(member)
    return client


def numbers(response) -> list[int]:
    return [order.number for order in response.context["page"].rows]


def paid_session(org, **kwargs):
    """A paid session whose order carries what a real payment writes on it."""
    session = make_session(org=org, paid=True, **kwargs)
    Order.objects.filter(pk=session.order_id).update(
        payment_reference="ch_test_3PqR8s", payment_method_brand="visa", payment_method_last4="4242"
    )
    session.order.refresh_from_db()
    return session


# --- Who sees what ---------------------------------------------------------------------------


def test_anonymous_visitor_is_sent_to_log_in_from_the_list_and_an_order(client, org):
    order = make_session(org=org).order
    for url in (LIST, detail(order)):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"] == f"/accounts/login/?next={url}"


def test_member_of_another_org_gets_404_for_its_list_and_orders(client, org):
    order = make_session(org=org).order
    client.force_login(MembershipFactory(org=OrganizationFactory(slug="rival")).user)
    assert client.get(LIST).status_code == 404
    assert client.get(detail(order)).status_code == 404


def test_member_opens_the_list_and_an_order(merchant, org):
    order = paid_session(org, customer_email="jenny@example.com").order
    listing = merchant.get(LIST)
    assert listing.status_code == 200
    assert "jenny@example.com" in listing.text
    page = merchant.get(detail(order))
    assert page.status_code == 200
    assert f"Order #{order.number}" in page.text


def test_order_of_another_org_is_404_even_for_a_member(merchant, org):
    foreign = make_session(org=OrganizationFactory(slug="rival")).order
    assert merchant.get(detail(foreign)).status_code == 404
    assert merchant.get(LIST, {"q": foreign.public_id, **ALL}).context["page"].rows == []


def test_live_orders_never_show_in_test_mode_and_back(merchant, org):
    test_order = paid_session(org, customer_email="tester@example.com").order
    live_order = paid_session(org, mode="live", customer_email="buyer@example.com").order
    test_page, live_page = merchant.get(LIST), merchant.get(LIVE_LIST)
    assert numbers(test_page) == [test_order.number]
    assert numbers(live_page) == [live_order.number]
    assert "buyer@example.com" not in test_page.text
    assert "tester@example.com" not in live_page.text
    assert merchant.get(detail(live_order)).status_code == 404
    assert merchant.get(detail(test_order, mode="")).status_code == 404
    assert merchant.get(detail(live_order, mode="")).status_code == 200
    assert merchant.get(LIST, {"q": live_order.public_id, **ALL}).context["page"].rows == []


@pytest.mark.parametrize(
    "order_id",
    [
        "ord_doesnotexist",
        "ord_" + "a" * 300,
        "ord_abc%00def",
        "%00",
        "ord_%E2%80%AE",
        "%3Cscript%3E",
        "cs_test_abc",
        "ord_abc%20",
    ],
)
def test_an_id_that_is_no_order_of_ours_is_404_never_500(merchant, org, order_id):
    make_session(org=org)
    assert merchant.get(f"{LIST}{order_id}").status_code == 404


def test_junk_in_the_list_url_is_ignored_never_500(merchant, org):
    make_session(org=org)
    for params in (
        {"after": "ord_\x00"},
        {"before": "x" * 500},
        {"q": "\x00"},
        {"q": "a" * 1000},
        {"status": "refunded"},
        {"after": "cs_test_abc"},
    ):
        response = merchant.get(LIST, params)
        assert response.status_code == 200, params


def test_mode_switch_on_an_order_opens_the_other_modes_list(merchant, org):
    order = make_session(org=org).order
    response = merchant.get(detail(order))
    assert response.context["request"].dashboard.other_mode_url == LIVE_LIST
    assert merchant.get(LIST).context["request"].dashboard.other_mode_url == LIVE_LIST


# --- Search and tabs --------------------------------------------------------------------------


@pytest.fixture
def three_orders(org):
    jenny = paid_session(org, customer_email="jenny.rosen@example.com").order
    jen = paid_session(org, customer_email="jen@example.org").order
    bob = make_session(org=org, customer_email="bob@example.com").order
    return jenny, jen, bob


def test_search_by_order_number_and_hash_number(merchant, three_orders):
    jenny, _jen, _bob = three_orders
    assert numbers(merchant.get(LIST, {"q": str(jenny.number)})) == [jenny.number]
    assert numbers(merchant.get(LIST, {"q": f"#{jenny.number}"})) == [jenny.number]
    assert numbers(merchant.get(LIST, {"q": " 99999 "})) == []


def test_search_by_order_id_and_session_id(merchant, three_orders):
    _jenny, jen, _bob = three_orders
    assert numbers(merchant.get(LIST, {"q": jen.public_id})) == [jen.number]
    assert numbers(merchant.get(LIST, {"q": jen.session.public_id})) == [jen.number]


def test_search_by_email_exact_and_prefix_in_any_case(merchant, three_orders):
    jenny, jen, _bob = three_orders
    assert numbers(merchant.get(LIST, {"q": "Jenny.Rosen@EXAMPLE.com"})) == [jenny.number]
    assert sorted(numbers(merchant.get(LIST, {"q": "JEN"}))) == sorted([jenny.number, jen.number])
    assert numbers(merchant.get(LIST, {"q": "rosen"})) == []  # a prefix, not a substring


def test_list_opens_on_paid_orders_and_tabs_show_unpaid_and_all(merchant, three_orders):
    jenny, jen, bob = three_orders
    paid = merchant.get(LIST)
    assert sorted(numbers(paid)) == sorted([jenny.number, jen.number])
    assert 'aria-current="page">Paid<' in paid.text
    assert numbers(merchant.get(LIST, {"status": "paid"})) == numbers(paid)
    assert numbers(merchant.get(LIST, {"status": "unpaid"})) == [bob.number]
    assert numbers(merchant.get(LIST, {"status": "unpaid", "q": "jen"})) == []
    assert sorted(numbers(merchant.get(LIST, ALL))) == sorted(
        [jenny.number, jen.number, bob.number]
    )


def test_an_unpaid_order_searched_from_the_paid_tab_is_one_click_away(merchant, three_orders):
    _jenny, _jen, bob = three_orders
    response = merchant.get(LIST, {"q": f"#{bob.number}"})
    assert numbers(response) == []
    assert "No paid orders match" in response.text
    search_all = response.context["search_all_url"]
    assert search_all == f"{LIST}?status=all&q=%23{bob.number}"
    assert numbers(merchant.get(search_all)) == [bob.number]


def test_rows_show_number_customer_total_status_and_paid_time(merchant, org):
    order = paid_session(
        org, customer_email="jenny@example.com", items=[LineItem("Mug", 3, 2500)]
    ).order
    response = merchant.get(LIST)
    row = response.text.split(f"#{order.number}</a>")[1].split("</tr>")[0]
    assert order.public_id in row
    assert "jenny@example.com" in row
    assert "$75.00" in row
    assert '<span class="badge badge--paid">Paid</span>' in row
    assert f'datetime="{order.paid_at.isoformat()}"' in row
    assert f"{order.paid_at:%H:%M:%S} UTC" in row
    assert detail(order) in response.text


def test_live_mode_without_a_processor_says_how_to_start(merchant, org, settings):
    settings.LIVE_PAYMENT_PROCESSOR = ""
    response = merchant.get(LIVE_LIST)
    assert "No paid orders in live mode yet" in response.text
    assert "LIVE_PAYMENT_PROCESSOR" in response.text
    assert "LIVE_PAYMENT_PROCESSOR" not in merchant.get(LIST).text


def test_empty_states_say_what_to_do(merchant, org):
    assert "Share a payment link, or create a session with the API" in merchant.get(LIST, ALL).text
    make_session(org=org)
    no_paid = merchant.get(LIST).text
    assert "No paid orders in test mode yet" in no_paid
    assert "pay with the test card 4242 4242 4242 4242" in no_paid
    nothing = merchant.get(LIST, {"q": "nobody@", **ALL})
    assert "No orders match" in nothing.text
    assert "Clear search" in nothing.text
    assert "Search all orders" not in nothing.text


# --- Keyset pages -----------------------------------------------------------------------------


def test_older_and_newer_pages_walk_the_list(merchant, org):
    now = timezone.now()
    sessions = [
        make_session(org=org, created_at=now - timedelta(minutes=minute)) for minute in range(30)
    ]
    newest_first = [session.order.number for session in sessions]
    first = merchant.get(LIST, ALL)
    assert numbers(first) == newest_first[:25]
    assert first.context["newer_url"] is False
    assert first.context["older_url"].endswith(f"?status=all&after={sessions[24].order.public_id}")
    older = merchant.get(first.context["older_url"])
    assert numbers(older) == newest_first[25:]
    assert older.context["older_url"] is False
    back = merchant.get(older.context["newer_url"])
    assert back.context["newer_url"] is False
    assert numbers(back) == numbers(first)


def test_pages_keep_the_tab_and_the_search(merchant, org):
    now = timezone.now()
    for minute in range(27):
        created_at = now - timedelta(minutes=minute)
        paid_session(org, customer_email=f"c{minute:02d}@example.com", created_at=created_at)
    make_session(org=org, customer_email="c99@example.com")  # unpaid: not on the Paid tab
    first = merchant.get(LIST, {"status": "paid", "q": "c"})
    assert len(numbers(first)) == 25
    older = merchant.get(first.context["older_url"])
    assert "status=paid" in first.context["older_url"] and "q=c" in first.context["older_url"]
    assert len(numbers(older)) == 2


def test_a_single_page_shows_no_pager(merchant, org):
    make_session(org=org)
    assert 'aria-label="Pages"' not in merchant.get(LIST).text


# --- HTMX ----------------------------------------------------------------------------------


def test_htmx_request_gets_the_tabs_and_rows_only(merchant, org):
    make_session(org=org, customer_email="jenny@example.com")
    partial = merchant.get(LIST, {"status": "unpaid"}, headers={"HX-Request": "true"})
    assert partial.text.lstrip().startswith('<div id="results"')
    assert "<html" not in partial.text and 'class="dash-sidebar"' not in partial.text
    assert 'class="tabs"' in partial.text and "jenny@example.com" in partial.text
    assert "HX-Request" in partial["Vary"]
    full = merchant.get(LIST, {"status": "unpaid"})
    assert "<html" in full.text and 'id="results"' in full.text and 'id="order-search"' in full.text
    assert "HX-Request" in full["Vary"]


def test_back_button_restore_gets_the_full_page(merchant, org):
    response = merchant.get(
        LIST, headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )
    assert "<html" in response.text


def test_tabs_search_and_pages_push_their_url(merchant, org):
    for _ in range(26):
        make_session(org=org)
    text = merchant.get(LIST, ALL).text
    assert 'hx-push-url="true"' in text
    assert 'hx-get="/dashboard/acme-test/test/orders/?status=unpaid"' in text
    assert 'href="/dashboard/acme-test/test/orders/?status=unpaid"' in text  # and without JS
    assert 'href="/dashboard/acme-test/test/orders/" hx-get=' in text  # Paid: the list's own URL
    assert 'rel="next" href="/dashboard/acme-test/test/orders/?status=all&amp;after=ord_' in text


# --- An order's page ---------------------------------------------------------------------------


def test_order_page_shows_items_total_payment_and_its_session(merchant, org):
    session = paid_session(
        org,
        customer_email="jenny@example.com",
        items=[LineItem("Espresso beans, 1 kg", 2, 2400), LineItem("Ceramic mug", 1, 1800)],
    )
    order = session.order
    response = merchant.get(detail(order))
    text = response.text
    assert [(i.name, i.quantity, i.unit_price) for i in response.context["items"]] == [
        ("Espresso beans, 1 kg", 2, 2400),
        ("Ceramic mug", 1, 1800),
    ]
    assert "$24.00" in text and "$48.00" in text and "$18.00" in text
    assert "$66.00" in text  # the total
    assert "Visa •••• 4242" in text
    assert "ch_test_3PqR8s" in text
    assert "jenny@example.com" in text
    assert '<span class="badge badge--paid">Paid</span>' in text
    session_url = f"/dashboard/acme-test/test/sessions/{session.public_id}"
    assert f'href="{session_url}"' in text
    assert merchant.get(session_url).status_code == 200
    assert "Recovered sale" not in text


def test_order_page_lists_receipts_sent_and_failed_with_who(merchant, org, member):
    session = paid_session(org, customer_email="jenny@example.com")
    record_event(
        session=session, kind=EventKind.RECEIPT_SENT, actor=Actor.system(),
        data={"to": "jenny@example.com"},
    )  # fmt: skip
    record_event(
        session=session, kind=EventKind.RECEIPT_FAILED, actor=Actor.for_user(member),
        data={"to": "jenny@example.com", "error": "SMTPServerDisconnected: gone"},
    )  # fmt: skip
    text = merchant.get(detail(session.order)).text
    receipts = text.split('id="receipts-heading"')[1]
    assert "Sent to jenny@example.com" in receipts
    assert "automatically after payment" in receipts
    assert "Not sent to jenny@example.com" in receipts
    assert f"resent by {member.username}" in receipts
    assert "SMTPServerDisconnected: gone" in receipts
    # Receipts only, not the rest of the timeline (created, paid).
    assert receipts.split("</section>")[0].count("<li") == 2


def test_unpaid_order_says_when_its_receipt_will_go(merchant, org):
    order = make_session(org=org).order
    text = merchant.get(detail(order)).text
    assert '<span class="badge badge--unpaid">Unpaid</span>' in text
    assert "The receipt is emailed to the customer once the order is paid." in text


def test_recovered_sale_links_to_the_session_it_recovered(merchant, org, member):
    failed = make_session(org=org, failed_attempts=1, customer_email="jenny@example.com")
    recovery = recover_session(session=failed, actor=Actor.for_user(member), send_email=False)
    text = merchant.get(detail(recovery.session.order)).text
    assert "Recovered sale" in text
    assert f'href="/dashboard/acme-test/test/sessions/{failed.public_id}"' in text
    assert f'href="/dashboard/acme-test/test/sessions/{recovery.session.public_id}"' in text


# --- Escaping ----------------------------------------------------------------------------------


def test_customer_email_and_item_name_show_as_text(merchant, org):
    session = paid_session(
        org, items=[LineItem(name='<script>alert("item")</script>', quantity=1, unit_price=100)]
    )
    Order.objects.filter(pk=session.order_id).update(
        customer_email='"><img src=x onerror=alert(1)>@example.com'
    )
    record_event(
        session=session, kind=EventKind.RECEIPT_FAILED, actor=Actor.system(),
        data={"to": "<script>alert(3)</script>", "error": '"><img src=y onerror=alert(4)>'},
    )  # fmt: skip
    other = make_session(org=org)
    Order.objects.filter(pk=other.order_id).update(customer_email="<script>alert(2)</script>")
    pages = [
        merchant.get(LIST, ALL),
        merchant.get(LIST, ALL, headers={"HX-Request": "true"}),
        merchant.get(detail(session.order)),
    ]
    for response in pages:
        assert "<img src=" not in response.text
        assert "<script>alert" not in response.text
    list_text, _partial, detail_text = (response.text for response in pages)
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;@example.com" in list_text
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in list_text
    assert "&lt;script&gt;alert(&quot;item&quot;)&lt;/script&gt;" in detail_text
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;@example.com" in detail_text
    assert "&lt;script&gt;alert(3)&lt;/script&gt;" in detail_text
    assert "&quot;&gt;&lt;img src=y onerror=alert(4)&gt;" in detail_text


def test_search_text_is_shown_as_text(merchant, org):
    make_session(org=org)
    response = merchant.get(LIST, {"q": '"><img src=x onerror=alert(1)>'})
    assert "No paid orders match" in response.text
    assert "<img src=x" not in response.text
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in response.text


# --- Query counts ----------------------------------------------------------------------------

LIST_VIEWS = [{}, {"status": "unpaid"}, ALL, {"q": "c"}, {"q": "c", **ALL}]


def _populate(org, count):
    for index in range(count):
        make_session(org=org, customer_email=f"c{index}@example.com", paid=index % 2 == 0)


@pytest.mark.parametrize("params", LIST_VIEWS)
def test_list_query_count_does_not_grow_with_orders(
    merchant, org, params, django_assert_num_queries, django_assert_max_num_queries
):
    _populate(org, 5)
    with django_assert_max_num_queries(6) as queries:
        assert merchant.get(LIST, params).status_code == 200
    counted = len(queries.captured_queries)
    _populate(org, 195)
    with django_assert_num_queries(counted):
        response = merchant.get(LIST, params)
    assert len(response.context["page"].rows) == 25
    # A deep page (the cursor's row is one more lookup) costs the same with 5 or 200 orders.
    with django_assert_num_queries(counted + 1):
        assert merchant.get(response.context["older_url"]).context["page"].rows


def _grow(session, items: int, events: int) -> None:
    OrderItem.objects.bulk_create(
        OrderItem(order=session.order, name=f"Extra {n}", quantity=1, unit_price=100, position=n)
        for n in range(1, items)
    )
    TimelineEvent.objects.bulk_create(
        TimelineEvent(
            session=session,
            kind=EventKind.RECEIPT_SENT if n % 2 else EventKind.CALLBACK_DELIVERED,
            actor_kind=ActorKind.SYSTEM,
            actor_label="system",
            data={"to": "jenny@example.com"},
        )
        for n in range(events)
    )


def test_order_page_query_count_does_not_grow_with_items_and_events(
    merchant, org, member, django_assert_num_queries, django_assert_max_num_queries
):
    small = paid_session(org, items=[LineItem("Mug", 1, 100)])
    _grow(small, items=5, events=5)
    with django_assert_max_num_queries(7) as queries:
        assert merchant.get(detail(small.order)).status_code == 200
    counted = len(queries.captured_queries)
    failed = make_session(org=org, failed_attempts=1)
    big = recover_session(session=failed, actor=Actor.for_user(member), send_email=False).session
    _grow(big, items=200, events=200)
    with django_assert_num_queries(counted):
        response = merchant.get(detail(big.order))
    assert len(response.context["items"]) == 200
    assert len(response.context["receipts"]) == 100
