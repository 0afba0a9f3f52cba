"""Sales → Checkout sessions: tabs with exact counts, search, filters, keyset pages, HTMX."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from checkout.choices import SessionSource
from checkout.models import CheckoutSession
from checkout.services import LineItem
from tests.factories import (
    OrganizationFactory,
    PaymentLinkFactory,
    card_form_data,
    expired_session,
    make_session,
    session_ready_to_pay,
)

pytestmark = pytest.mark.django_db

LIST = "/dashboard/acme-test/test/sessions/"
DECLINED = "4000 0000 0000 0002"


@pytest.fixture
def merchant(client, member):
    client.force_login(member)
    return client


def emails(response) -> list[str]:
    return [session.customer_email for session in response.context["page"].rows]


def tab_counts(response) -> dict[str, int]:
    return {tab["label"]: tab["count"] for tab in response.context["tabs"]}


def one_of_each_status(org, mode="test"):
    make_session(org=org, mode=mode, customer_email="open@example.com")
    make_session(org=org, mode=mode, customer_email="paid@example.com", paid=True)
    make_session(org=org, mode=mode, customer_email="declined@example.com", failed_attempts=1)
    expired_session(org=org, mode=mode, customer_email="gone@example.com")


def test_tabs_show_exact_counts_per_status(merchant, org):
    one_of_each_status(org)
    make_session(org=org, paid=True, customer_email="paid2@example.com")
    response = merchant.get(LIST)
    assert tab_counts(response) == {
        "All": 5,
        "Open": 1,
        "Succeeded": 2,
        "Failed": 1,
        "Expired": 1,
    }


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("open", ["open@example.com"]),
        ("succeeded", ["paid@example.com"]),
        ("failed", ["declined@example.com"]),
        ("expired", ["gone@example.com"]),
    ],
)
def test_a_tab_lists_its_status_only(merchant, org, status, expected):
    one_of_each_status(org)
    response = merchant.get(LIST, {"status": status})
    assert emails(response) == expected
    assert f'aria-current="page">{status.title()}' in response.text


def test_live_sessions_never_show_in_test_mode_and_back(merchant, org):
    make_session(org=org, customer_email="tester@example.com")
    make_session(org=org, mode="live", customer_email="buyer@example.com")
    test_page = merchant.get(LIST)
    live_page = merchant.get("/dashboard/acme-test/sessions/")
    assert emails(test_page) == ["tester@example.com"]
    assert emails(live_page) == ["buyer@example.com"]
    assert "buyer@example.com" not in test_page.text
    assert "tester@example.com" not in live_page.text
    assert tab_counts(test_page)["All"] == tab_counts(live_page)["All"] == 1


def test_search_by_email_prefix_counts_the_matches(merchant, org):
    make_session(org=org, customer_email="jenny@example.com", paid=True)
    make_session(org=org, customer_email="jenny.rosen@example.com")
    make_session(org=org, customer_email="bob@example.com")
    response = merchant.get(LIST, {"q": "Jenny"})
    assert sorted(emails(response)) == ["jenny.rosen@example.com", "jenny@example.com"]
    assert tab_counts(response)["All"] == 2
    assert tab_counts(response)["Succeeded"] == 1


def test_search_by_session_id_and_order_number(merchant, org):
    wanted = make_session(org=org, customer_email="wanted@example.com")
    make_session(org=org, customer_email="other@example.com")
    assert emails(merchant.get(LIST, {"q": wanted.public_id})) == ["wanted@example.com"]
    assert emails(merchant.get(LIST, {"q": f"#{wanted.order.number}"})) == ["wanted@example.com"]
    assert emails(merchant.get(LIST, {"q": wanted.order.public_id})) == ["wanted@example.com"]


def test_filter_by_payment_link_and_source(merchant, org):
    link = PaymentLinkFactory(org=org, name="Espresso beans")
    make_session(link=link, customer_email="beans@example.com")
    make_session(org=org, customer_email="api@example.com")
    by_link = merchant.get(LIST, {"link": link.public_id})
    assert emails(by_link) == ["beans@example.com"]
    assert "Espresso beans" in by_link.text
    by_source = merchant.get(LIST, {"source": SessionSource.API})
    assert emails(by_source) == ["api@example.com"]
    assert tab_counts(by_source)["All"] == 1


def test_a_payment_link_of_another_org_filters_nothing(merchant, org):
    foreign = PaymentLinkFactory()
    make_session(org=org)
    response = merchant.get(LIST, {"link": foreign.public_id})
    assert response.status_code == 200
    assert len(emails(response)) == 1


def test_filter_by_date_range_includes_the_last_day(merchant, org):
    now = timezone.now()
    make_session(org=org, customer_email="today@example.com")
    make_session(org=org, customer_email="old@example.com", created_at=now - timedelta(days=3))
    day = now.date().isoformat()
    assert emails(merchant.get(LIST, {"from": day, "to": day})) == ["today@example.com"]
    three_days_ago = (now - timedelta(days=3)).date().isoformat()
    assert emails(merchant.get(LIST, {"to": three_days_ago})) == ["old@example.com"]


def test_a_date_that_does_not_parse_is_ignored(merchant, org):
    make_session(org=org)
    response = merchant.get(LIST, {"from": "yesterday"})
    assert response.status_code == 200
    assert len(emails(response)) == 1
    assert 'aria-invalid="true"' in response.text


@pytest.mark.parametrize("tail", ["", "poll", "export.csv"])
def test_the_last_date_there_is_is_ignored_not_a_500(merchant, org, tail):
    # "to" takes in its whole day, and 9999-12-31 has no next midnight to end at (the decline
    # reason sends the tab counts to the rollups, which end the day the same way).
    make_session(org=org)
    query = {"from": "9999-12-31", "to": "9999-12-31", "reason": "do_not_honor"}
    response = merchant.get(f"{LIST}{tail}", query)
    assert response.status_code == 200
    if tail == "":
        assert 'aria-invalid="true"' in response.text


def test_older_and_newer_pages_walk_the_list(merchant, org):
    now = timezone.now()
    for minute in range(30):
        make_session(
            org=org,
            customer_email=f"c{minute:02d}@example.com",
            created_at=now - timedelta(minutes=minute),
        )
    first = merchant.get(LIST, {"status": "open"})
    assert emails(first)[0] == "c00@example.com" and len(emails(first)) == 25
    assert first.context["newer_url"] is False
    older = merchant.get(first.context["older_url"])
    assert emails(older) == [f"c{m}@example.com" for m in range(25, 30)]
    assert "status=open" in first.context["older_url"]
    assert older.context["older_url"] is False
    back = merchant.get(older.context["newer_url"])
    assert emails(back) == emails(first)


def test_fraud_flag_from_three_failed_attempts(merchant, org):
    make_session(org=org, customer_email="twice@example.com", failed_attempts=2)
    make_session(org=org, customer_email="cardtester@example.com", failed_attempts=3)
    response = merchant.get(LIST)
    assert response.text.count("Fraud risk") == 1
    row = response.text.split("cardtester@example.com")[1].split("</tr>")[0]
    assert "Fraud risk" in row


def row_of(response, email: str) -> str:
    return response.text.split(email)[1].split("</tr>")[0]


def test_a_session_that_used_up_its_declines_is_flagged_blocked_not_fraud_risk(merchant, org):
    make_session(org=org, customer_email="fourth@example.com", failed_attempts=4)
    make_session(org=org, customer_email="tester@example.com", failed_attempts=5)

    response = merchant.get(LIST)

    assert response.text.count(">Blocked<") == 1
    assert ">Blocked<" in row_of(response, "tester@example.com")
    assert "too many declines on this session" in row_of(response, "tester@example.com")
    assert "Fraud risk" in row_of(response, "fourth@example.com")


def test_a_session_the_ip_limit_refused_is_flagged_blocked_by_that_limit(merchant, org, settings):
    settings.CARD_TESTING_DECLINES_PER_IP_PER_HOUR = 1
    card_tester = Client(REMOTE_ADDR="198.51.100.30")
    first = session_ready_to_pay(org=org, customer_email="first@example.com")
    second = session_ready_to_pay(org=org, customer_email="second@example.com")
    card_tester.post(f"/checkout/{first.public_id}/pay", card_form_data(number=DECLINED))
    card_tester.post(f"/checkout/{second.public_id}/pay", card_form_data(number=DECLINED))

    response = merchant.get(LIST)

    assert CheckoutSession.objects.get(pk=second.pk).payment_blocked == "ip_declines"
    assert ">Blocked<" in row_of(response, "second@example.com")
    assert "too many declines from this IP address" in row_of(response, "second@example.com")
    assert ">Blocked<" not in row_of(response, "first@example.com")


def flood_with_declines(org, declines: int, mode: str = "test") -> list:
    """``declines`` declined payments at ``org``, each from its own client and session."""
    sessions = []
    for number in range(declines):
        session = session_ready_to_pay(org=org, mode=mode, customer_email=f"c{number}@example.com")
        Client(REMOTE_ADDR=f"198.51.100.{number + 1}").post(
            f"/checkout/{session.public_id}/pay", card_form_data(number=DECLINED)
        )
        sessions.append(session)
    return sessions


def alarm_text(response) -> str:
    notice = response.text.split('id="card-testing-alarm"')[1].split(">", 1)[1]
    return " ".join(re.sub(r"<[^>]+>", "", notice.split("</div>")[0]).split())


def test_an_orgs_card_testing_alarm_shows_on_its_sessions_page(merchant, org, settings):
    settings.CARD_TESTING_ALARM_DECLINES = 3
    *_, last = flood_with_declines(org, 3)

    response = merchant.get(LIST)

    assert alarm_text(response).startswith(
        f"Card-testing alarm just now: 3 declined payments in 10 minutes, the last on "
        f"{last.public_id}. Payments still go through"
    )
    assert f'href="{LIST}{last.public_id}"' in response.text
    assert 'id="card-testing-alarm"' not in merchant.get(LIST, headers={"HX-Request": "true"}).text


def test_an_alarm_shows_only_in_its_org_and_mode_and_for_a_day(merchant, org, settings):
    settings.CARD_TESTING_ALARM_DECLINES = 2
    settings.LIVE_PAYMENT_PROCESSOR = "checkout.processors.test.TestProcessor"
    flood_with_declines(org, 2, mode="live")
    flood_with_declines(OrganizationFactory(), 2)

    assert 'id="card-testing-alarm"' not in merchant.get(LIST).text
    assert 'id="card-testing-alarm"' in merchant.get("/dashboard/acme-test/sessions/").text
    with time_machine.travel(timezone.now() + timedelta(hours=24, minutes=1)):
        assert 'id="card-testing-alarm"' not in merchant.get("/dashboard/acme-test/sessions/").text


def test_rows_say_when_they_were_created_and_expire(merchant, org):
    session = make_session(org=org, expires_in_minutes=60)
    response = merchant.get(LIST)
    assert ">in 59 min</time>" in response.text or ">in 1 h</time>" in response.text
    assert ">just now</time>" in response.text
    assert f'datetime="{session.expires_at.isoformat()}"' in response.text
    assert f"{session.expires_at:%H:%M:%S} UTC" in response.text
    assert f"/dashboard/acme-test/test/sessions/{session.public_id}" in response.text


def test_empty_states_say_what_to_do(merchant, org):
    assert "Share a payment link, or create a session with the API" in merchant.get(LIST).text
    make_session(org=org)
    response = merchant.get(LIST, {"q": "nobody@"})
    assert "No sessions match" in response.text
    assert "Clear search and filters" in response.text


def test_htmx_request_gets_the_tabs_and_list_only(merchant, org):
    make_session(org=org, customer_email="jenny@example.com")
    partial = merchant.get(LIST, {"status": "open"}, headers={"HX-Request": "true"})
    assert partial.text.lstrip().startswith('<div id="results"')
    assert "<html" not in partial.text and "session-filters" in partial.text
    assert 'class="tabs"' in partial.text and "jenny@example.com" in partial.text
    assert "HX-Request" in partial["Vary"]
    full = merchant.get(LIST, {"status": "open"})
    assert "<html" in full.text and 'id="results"' in full.text


def test_back_button_restore_gets_the_full_page(merchant, org):
    response = merchant.get(
        LIST, headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )
    assert "<html" in response.text


def test_customer_email_and_item_name_show_as_text(merchant, org):
    session = make_session(
        org=org, items=[LineItem(name='<script>alert("item")</script>', quantity=1, unit_price=100)]
    )
    CheckoutSession.objects.filter(pk=session.pk).update(
        customer_email='"><img src=x onerror=alert(1)>@example.com'
    )
    other = make_session(org=org)
    CheckoutSession.objects.filter(pk=other.pk).update(customer_email="<script>alert(2)</script>")
    for response in (merchant.get(LIST), merchant.get(LIST, headers={"HX-Request": "true"})):
        assert "<img src=x" not in response.text
        assert "<script>alert" not in response.text
        assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;@example.com" in response.text
        assert "&lt;script&gt;alert(2)&lt;/script&gt;" in response.text
        assert "&lt;script&gt;alert(&quot;item&quot;)&lt;/script&gt;" in response.text


TAB_VIEWS = [
    {},
    *({"status": status} for status in ("open", "succeeded", "failed", "expired")),
]


def _filters(link) -> dict[str, str]:
    now = timezone.now()
    return {
        "q": "c",
        "link": link.public_id,
        "source": "payment_link",
        "from": (now - timedelta(days=1)).date().isoformat(),
        "to": now.date().isoformat(),
    }


def _populate(org, link, count):
    """Sessions in every status, from the link and not, so each tab has rows when filtered."""
    for index in range(count):
        kind = index % 5
        make_session(
            link=link if kind < 4 else None,
            org=org,
            customer_email=f"c{index}@example.com",
            paid=kind == 1,
            failed_attempts=1 if kind == 2 else 0,
            created_at=timezone.now() - timedelta(minutes=61) if kind == 3 else None,
        )


@pytest.mark.parametrize("params", TAB_VIEWS)
def test_query_count_does_not_grow_with_sessions(
    merchant, org, params, django_assert_num_queries, django_assert_max_num_queries
):
    link = PaymentLinkFactory(org=org)
    _populate(org, link, 5)
    counted = {}
    for name, extra in (("plain", {}), ("filtered", _filters(link))):
        with django_assert_max_num_queries(14) as queries:
            response = merchant.get(LIST, {**params, **extra})
        assert response.status_code == 200
        counted[name] = len(queries.captured_queries)
    _populate(org, link, 195)
    for name, extra in (("plain", {}), ("filtered", _filters(link))):
        with django_assert_num_queries(counted[name]):
            response = merchant.get(LIST, {**params, **extra})
        assert response.context["page"].rows


def test_chart_shows_each_days_outcomes_and_the_conversion(merchant, org):
    now = timezone.now()
    make_session(org=org, paid=True)
    make_session(org=org, failed_attempts=1)
    make_session(org=org)  # open: may still pay, so not in the conversion
    make_session(org=org, created_at=now - timedelta(days=2))  # expired a day and more ago
    make_session(org=org, created_at=now - timedelta(days=20), paid=True)  # before the 14 days
    response = merchant.get(LIST)
    chart = response.context["insights"].chart
    assert len(chart.bars) == 14
    assert chart.totals == {"all": 4, "open": 1, "succeeded": 1, "failed": 1, "expired": 1}
    assert chart.conversion_percent == 33.3
    assert ">33.3%<" in response.text
    today = now.date().isoformat()
    assert f"?from={today}&amp;to={today}" in response.text
    assert f"{today[8:].lstrip('0')} {now:%b}: 3 sessions, 1 succeeded, 1 failed, 1 open" in (
        response.text
    )


def test_insights_are_left_out_of_htmx_swaps(merchant, org):
    response = merchant.get(LIST, headers={"HX-Request": "true"})
    assert "insights" not in response.context
    assert "outcomes-chart" not in response.text
    assert "funnel-steps" not in response.text


def test_live_mode_without_a_processor_says_how_to_start(merchant, org, settings):
    settings.LIVE_PAYMENT_PROCESSOR = ""
    response = merchant.get("/dashboard/acme-test/sessions/")
    assert "No checkout sessions in live mode yet" in response.text
    assert "LIVE_PAYMENT_PROCESSOR" in response.text
    assert "LIVE_PAYMENT_PROCESSOR" not in merchant.get(LIST).text


def test_a_single_page_shows_no_pager(merchant, org):
    make_session(org=org)
    assert 'aria-label="Pages"' not in merchant.get(LIST).text
