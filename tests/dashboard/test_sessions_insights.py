"""The insights over the Checkout sessions list: outcomes per day, the funnel and the top decline
reasons of a period chosen in the URL; each figure links to the list of exactly the sessions it
counts; junk in the URL is named, never a 500; a decline code is text, never markup."""

import csv
import io
from datetime import UTC, timedelta
from html import unescape

import pytest
import time_machine
from django.utils import timezone

from checkout import rollup
from checkout.models import CheckoutSession, TimelineEvent
from checkout.processors import CardDetails
from checkout.request_context import CustomerContext
from checkout.services import pay_checkout_session, save_customer_details
from tests.factories import expired_session, make_session

pytestmark = pytest.mark.django_db

LIST = "/dashboard/acme-test/test/sessions/"
CARDS = {
    "paid": "4242424242424242",
    "insufficient_funds": "4000000000009995",
    "expired_card": "4000000000000069",
    "lost_card": "4000000000009987",
}


@pytest.fixture
def merchant(client, member):
    client.force_login(member)
    return client


def details(session):
    return save_customer_details(
        session=session, details={"customer_email": "c@example.com"}, context=CustomerContext()
    )


def pay(session, *outcomes):
    for outcome in outcomes:
        card = CardDetails(number=CARDS[outcome], exp_month=12, exp_year=2099, cvc="123")
        pay_checkout_session(session=session, card=card, context=CustomerContext())
    return session


def customers(org, *, days_ago=0):
    """One customer at each step of the funnel, some declined, ``days_ago`` (each step then)."""
    with time_machine.travel(timezone.now() - timedelta(days=days_ago), tick=False):

        def session():
            return make_session(org=org)

        session()  # opened, left
        session()
        details(session())  # details, no attempt
        pay(details(session()), "paid")
        pay(details(session()), "insufficient_funds", "paid")
        pay(details(session()), "insufficient_funds", "insufficient_funds")
        pay(details(session()), "expired_card")
        pay(details(session()), "lost_card", "expired_card")


def all_count(response) -> int:
    return {tab["label"]: tab["count"] for tab in response.context["tabs"]}["All"]


def rows_of(client, url) -> list[str]:
    """Every session id the list shows at ``url``, page after page (Older links)."""
    ids = []
    while url:
        response = client.get(url)
        assert response.status_code == 200
        ids += [row.public_id for row in response.context["page"].rows]
        url = response.context["older_url"]
    return ids


def test_each_funnel_step_and_drop_off_links_to_a_list_of_exactly_its_sessions(merchant, org):
    customers(org)
    customers(org, days_ago=3)
    customers(org, days_ago=20)  # outside the 14 days
    rollup.advance_rollup()  # the 3-day-old sessions are counted from the rollup
    make_session(org=org, mode="live")

    insights = merchant.get(LIST).context["insights"]

    assert [(row.name, row.count, row.dropped) for row in insights.funnel] == [
        ("opened", 16, 0),
        ("details_provided", 12, 4),
        ("payment_attempted", 10, 2),
        ("paid", 4, 6),
    ]
    for row in insights.funnel:
        reached = merchant.get(row.url)
        assert all_count(reached) == row.count == len(rows_of(merchant, row.url)), row.name
        if row.dropped_url:
            dropped = merchant.get(row.dropped_url)
            assert all_count(dropped) == row.dropped == len(rows_of(merchant, row.dropped_url))


def test_each_decline_reason_links_to_the_sessions_declined_so_in_the_period(merchant, org):
    customers(org)
    customers(org, days_ago=2)
    customers(org, days_ago=40)
    rollup.advance_rollup()

    reasons = merchant.get(LIST).context["insights"].reasons

    assert [(row.reason, row.declines, row.sessions) for row in reasons] == [
        ("insufficient_funds", 6, 4),
        ("expired_card", 4, 4),
        ("lost_card", 2, 2),
    ]
    assert reasons[0].explanation.meaning == "the card has too little money"
    for row in reasons:
        listed = merchant.get(row.url)
        assert all_count(listed) == row.sessions == len(rows_of(merchant, row.url)), row.reason
        tabs = {tab["label"]: tab["count"] for tab in listed.context["tabs"]}
        assert tabs["Succeeded"] + tabs["Failed"] == row.sessions
    assert "The card has too little money; the customer can try another card." in (
        merchant.get(LIST).text
    )


def test_a_chart_day_links_to_that_days_sessions(merchant, org):
    customers(org, days_ago=3)
    expired_session(org=org)
    rollup.advance_rollup()
    response = merchant.get(LIST)
    chart = response.context["insights"].chart
    day = (timezone.now() - timedelta(days=3)).astimezone(UTC).date()
    bar = next(bar for bar in chart.bars if bar.day == day)
    url = f"{LIST}?from={day.isoformat()}&to={day.isoformat()}"
    assert f'href="{url.replace("&", "&amp;")}"' in response.text
    assert all_count(merchant.get(url)) == bar.total == 8 == len(rows_of(merchant, url))


def test_the_period_comes_from_the_url_and_follows_every_link(merchant, org):
    customers(org, days_ago=20)
    response = merchant.get(LIST, {"period": "30", "status": "failed"})
    insights = response.context["insights"]
    assert insights.days == 30 and len(insights.chart.bars) == 30
    assert insights.funnel[0].count == 8
    assert "period=30" in insights.funnel[1].url and "period=30" in insights.reasons[0].url
    assert "period=30" in response.context["tabs"][0]["url"]
    assert 'aria-current="true">30 days' in response.text
    seven = merchant.get(LIST, {"period": "7"}).context["insights"]
    assert seven.funnel[0].count == 0 and len(seven.chart.bars) == 7
    default = merchant.get(LIST).context["insights"]
    assert default.days == 14 and "period" not in default.funnel[1].url


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"period": "45"}, "Period"),
        ({"period": "14; DROP TABLE"}, "Period"),
        ({"step": "bought_twice"}, "Funnel step"),
        ({"reason": "two words"}, "Decline reason"),
        ({"reason": "x" * 101}, "Decline reason"),
        ({"reason": "\x00"}, "Decline reason"),
    ],
)
def test_junk_in_the_url_is_named_and_ignored_never_a_500(merchant, org, params, field):
    make_session(org=org)
    for headers in ({}, {"HX-Request": "true"}):
        response = merchant.get(LIST, params, headers=headers)
        assert response.status_code == 200
        assert f"<strong>{field}</strong>" in response.text
        assert len(response.context["page"].rows) == 1  # the filter is ignored
    assert merchant.get(f"{LIST}export.csv", params).status_code == 200
    assert merchant.get(f"{LIST}poll", {**params, "since": "0", "v": "x"}).status_code == 200


def test_a_decline_code_and_message_holding_markup_are_shown_as_text(merchant, org):
    session = make_session(org=org)
    CheckoutSession.objects.filter(pk=session.pk).update(failed_attempts=1)
    TimelineEvent.objects.create(
        session=session,
        kind="payment_failed",
        actor_kind="customer",
        data={"code": "<script>alert(1)</script>", "message": "<script>alert(2)</script>"},
    )
    response = merchant.get(LIST)
    assert "<script>alert" not in response.text
    row = response.context["insights"].reasons[0]
    assert row.reason == "<script>alert(1)</script>"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
    # Its link is a well-formed URL that lists that session.
    assert "reason=%3Cscript%3Ealert%281%29%3C%2Fscript%3E" in row.url
    assert rows_of(merchant, row.url) == [session.public_id]


def test_the_funnel_and_reason_filters_are_kept_in_the_export_and_the_poll(merchant, org):
    customers(org)
    response = merchant.get(LIST, {"step": "dropped_paid", "reason": "lost_card", "period": "7"})
    assert all_count(response) == 1
    poll_url = unescape(response.context["poll_url"])
    export_url = unescape(response.context["export_url"])
    for url in (poll_url, export_url, response.context["tabs"][2]["url"]):
        assert "step=dropped_paid" in url and "reason=lost_card" in url
    exported = list(csv.reader(io.StringIO(b"".join(merchant.get(export_url)).decode())))
    assert len(exported) == 2  # the header and the one session
    polled = merchant.get(poll_url.replace("v=", "v=changed"), headers={"HX-Request": "true"})
    assert all_count(polled) == 1
    assert 'value="dropped_paid" selected' in response.text
    assert 'value="lost_card" selected' in response.text


def test_insights_come_with_the_full_page_only(merchant, org):
    customers(org)
    partial = merchant.get(LIST, headers={"HX-Request": "true"})
    assert "insights" not in partial.context and "funnel-steps" not in partial.text
    full = merchant.get(LIST)
    assert 'class="funnel-steps"' in full.text and 'class="decline-reasons"' in full.text
    restored = merchant.get(
        LIST, headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )
    assert 'class="funnel-steps"' in restored.text


def test_a_period_without_declines_says_so(merchant, org):
    pay(details(make_session(org=org)), "paid")
    response = merchant.get(LIST)
    assert "No declined payments in these 14 days." in response.text


FIGURE_VIEWS = [
    {},
    {"period": "90"},
    {"step": "payment_attempted"},
    {"step": "dropped_details_provided", "status": "open"},
    {"reason": "insufficient_funds"},
    {"reason": "insufficient_funds", "status": "failed"},
]


def _declined_customers(org, count):
    for index in range(count):
        session = make_session(org=org, customer_email=f"c{index}@example.com")
        if index % 2:
            session.details_provided_at = timezone.now()
            session.failed_attempts = 1
            session.save(update_fields=["details_provided_at", "failed_attempts"])
            TimelineEvent.objects.create(
                session=session,
                kind="payment_failed",
                actor_kind="customer",
                data={"code": "card_declined", "decline_code": "insufficient_funds"},
            )


@pytest.mark.parametrize("params", FIGURE_VIEWS)
def test_query_count_of_the_page_and_its_figure_links_does_not_grow(
    merchant, org, params, django_assert_max_num_queries, django_assert_num_queries
):
    today = timezone.now().date().isoformat()
    params = {"from": today, "to": today, **params} if len(params) > 1 else params
    _declined_customers(org, 5)
    # The login's three, the links, the unfinished sessions (2), the tab counts (up to 3 for a
    # decline reason), the rows (2), the card-testing alarm, the period's counts and decline
    # reasons (4).
    with django_assert_max_num_queries(16) as queries:
        assert merchant.get(LIST, params).status_code == 200
    counted = len(queries.captured_queries)
    _declined_customers(org, 195)
    with django_assert_num_queries(counted):
        response = merchant.get(LIST, params)
    assert response.context["page"].rows


def test_a_filtered_list_says_the_insights_cover_every_session_of_the_period(merchant, org):
    make_session(org=org)
    note = "Every test-mode session of these days, not only the filtered list below."
    assert note not in merchant.get(LIST).text
    assert note in merchant.get(LIST, {"q": "nobody"}).text
