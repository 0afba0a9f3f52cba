"""A checkout session's page: customer & context, product, the timeline in words (who, when,
why a card was declined and what to do next), the raw data as the API returns it, HTMX partial
vs full page, escaping, scoping, and a query count that does not grow with the history."""

import html
import json
import re
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from checkout.actors import Actor
from checkout.choices import ActorKind, DeviceType, EventKind
from checkout.expiry import expire_session
from checkout.models import CheckoutSession, OrderItem, TimelineEvent
from checkout.processors import CardDetails
from checkout.request_context import CustomerContext
from checkout.services import (
    LineItem,
    extend_session_expiry,
    pay_checkout_session,
    recover_session,
    save_customer_details,
)
from orgs.services import create_api_key
from tests.factories import (
    MembershipFactory,
    OrganizationFactory,
    PaymentLinkFactory,
    expired_session,
    make_session,
    timeline_event,
)

pytestmark = pytest.mark.django_db

CHROME_ON_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/126.0 Safari/537.36"
)
CUSTOMER = CustomerContext(
    ip_address="203.0.113.9", user_agent=CHROME_ON_MAC, device_type=DeviceType.DESKTOP
)


@pytest.fixture
def merchant(client, member):
    client.force_login(member)
    return client


def page_url(session, mode: str = "test") -> str:
    prefix = "test/" if mode == "test" else ""
    return f"/dashboard/{session.org.slug}/{prefix}sessions/{session.public_id}"


def pay(session, number: str) -> None:
    card = CardDetails(number=number, exp_month=12, exp_year=2099, cvc="123")
    pay_checkout_session(session=session, card=card, context=CUSTOMER)


def customer_gives_details(session, **details):
    return save_customer_details(
        session=session,
        details={"customer_email": "jenny@example.com", **details},
        context=CUSTOMER,
    )


def text_of(response) -> str:
    """The page's text, tags stripped and whitespace folded: what a reader sees."""
    without_tags = re.sub(r"<[^>]+>", " ", response.text)
    text = re.sub(r"\s+", " ", html.unescape(without_tags))
    return re.sub(r" ([.,;:])", r"\1", text)


def section(response, marker: str) -> str:
    """The HTML of the page section whose opening tag carries ``marker`` (an id)."""
    after = response.text.split(f'id="{marker}"', 1)[1]
    return after.split("</section>", 1)[0]


def steps(response) -> list:
    return response.context["steps"]


# --- Customer & context, product ------------------------------------------------------------


def test_customer_and_context_show_email_location_ip_device_and_card(merchant, org):
    session = make_session(org=org, customer_email="")
    session = customer_gives_details(session, customer_country="US", customer_postal_code="94107")
    pay(session, "4000000000009995")

    page = text_of(merchant.get(page_url(session)))

    assert "Email jenny@example.com" in page
    assert "Location United States, 94107" in page
    assert "IP address 203.0.113.9" in page
    assert "Device Desktop · Chrome 126 on Mac OS X 14.5" in page
    assert "Payment method Visa •••• 9995" in page
    assert f"User agent {CHROME_ON_MAC}" in page


def test_a_session_nobody_opened_says_so_instead_of_blanks(merchant, org):
    session = make_session(org=org, customer_email="")

    page = text_of(merchant.get(page_url(session)))

    assert "Email Not given yet" in page
    assert "IP address —" in page
    assert "Payment method —" in page


def test_payment_link_source_names_the_link_and_opens_the_sessions_it_made(merchant, org):
    link = PaymentLinkFactory(org=org, name="Espresso beans, 1 kg")
    session = make_session(link=link)

    response = merchant.get(page_url(session))

    list_url = f"/dashboard/{org.slug}/test/sessions/?link={link.public_id}"
    assert f'Payment link <a href="{list_url}">Espresso beans, 1 kg</a>' in response.text
    assert merchant.get(list_url).context["page"].rows == [session]


def test_api_source_says_api(merchant, org):
    session = make_session(org=org)

    assert "Source API" in text_of(merchant.get(page_url(session)))


def test_a_recovery_and_the_session_it_recovers_link_to_each_other(merchant, org, member):
    failed = make_session(org=org, failed_attempts=1)
    recovery = recover_session(session=failed, actor=Actor.for_user(member), send_email=False)
    new_url = page_url(recovery.session)

    old_page = merchant.get(page_url(failed))
    new_page = merchant.get(new_url)

    forth = f'Recovered by <a class="mono" href="{new_url}">{recovery.session.public_id}</a>'
    back = f'Recovery of <a class="mono" href="{page_url(failed)}">{failed.public_id}</a>'
    assert forth in section(old_page, "session-timeline")
    assert back in section(new_page, "session-timeline")  # its session_created step
    assert back in section(new_page, "details-heading")  # its source


def test_a_recovery_that_closes_the_window_is_followed_by_the_expiry(merchant, org, member):
    failed = make_session(org=org, failed_attempts=1)
    recover_session(session=failed, actor=Actor.for_user(member), send_email=False)

    titles = [step.title for step in steps(merchant.get(page_url(failed)))]

    assert titles == ["Session created", "Recovery session created", "Expired"]
    assert "Closed by the recovery" in text_of(merchant.get(page_url(failed)))


def test_product_lists_each_item_with_quantity_and_the_total(merchant, org):
    session = make_session(
        org=org,
        items=[
            LineItem(name="Mug", quantity=2, unit_price=1250),
            LineItem(name="Beans", quantity=1, unit_price=2400),
        ],
    )

    page = text_of(merchant.get(page_url(session)))

    assert "Mug 2 $12.50 $25.00" in page
    assert "Beans 1 $24.00 $24.00" in page
    assert "Total $49.00" in page


def test_order_number_links_to_the_orders_page(merchant, org):
    session = make_session(org=org)
    order = session.order

    response = merchant.get(page_url(session))

    order_url = f"/dashboard/{org.slug}/test/orders/{order.public_id}"
    assert f'<a href="{order_url}">#{order.number}</a>' in response.text
    assert f'<a class="button" href="{order_url}">View order</a>' in response.text
    assert merchant.get(order_url).status_code == 200


# --- The timeline ---------------------------------------------------------------------------


def test_timeline_tells_the_customers_journey_oldest_first(
    merchant, org, django_capture_on_commit_callbacks
):
    session = make_session(org=org, customer_email="")
    session = customer_gives_details(session, customer_country="US", customer_postal_code="94107")
    pay(session, "4000000000009995")  # insufficient_funds
    with django_capture_on_commit_callbacks(execute=True):  # the receipt task
        pay(session, "4242424242424242")

    response = merchant.get(page_url(session))

    assert [step.title for step in steps(response)] == [
        "Session created",
        "Details provided",
        "Payment failed (insufficient_funds)",
        "Payment succeeded",
        "Receipt sent",
    ]
    page = text_of(response)
    assert "Gave: email, country and postal code." in page
    assert (
        "insufficient_funds — the card has too little money; the customer can try another card"
        in page
    )
    # The processor's own message, beside the code it gave.
    assert "Code card_declined Decline code insufficient_funds" in page
    assert "Processor’s message Your card has insufficient funds." in page
    assert "Card Visa •••• 4242" in page  # the successful attempt's card


def test_each_decline_code_gets_its_own_explanation(merchant, org):
    session = customer_gives_details(make_session(org=org))
    pay(session, "4000000000000069")  # expired_card
    pay(session, "4000000000009979")  # stolen_card

    page = text_of(merchant.get(page_url(session)))

    assert "expired_card — the card has expired; the customer can check the expiry date" in page
    assert "stolen_card — the card was reported stolen; do not retry this card" in page


def test_a_session_that_used_up_its_declines_says_payments_are_blocked_and_why(merchant, org):
    session = customer_gives_details(make_session(org=org))
    for _ in range(5):
        pay(session, "4000000000000002")

    page = text_of(merchant.get(page_url(session)))

    assert "Failed attempts 5 Blocked" in page
    assert (
        "Payments blocked: too many declines on this session. Card-testing protection: this "
        "session reached its limit of declined payments" in page
    )
    assert "send them a new checkout (Recover sale)." in page


def test_a_session_with_declines_left_says_nothing_of_a_block(merchant, org):
    session = customer_gives_details(make_session(org=org))
    for _ in range(4):
        pay(session, "4000000000000002")

    response = merchant.get(page_url(session))

    assert 'id="payment-block"' not in response.text
    assert "Failed attempts 4 " in text_of(response)


def test_each_step_names_who_did_it(merchant, org, member):
    session = make_session(org=org)
    api_key, _plain = create_api_key(org=org, mode="test")
    customer_gives_details(session)
    extend_session_expiry(session=session, minutes=15, actor=Actor.for_api_key(api_key))
    extend_session_expiry(session=session, minutes=30, actor=Actor.for_user(member))

    response = merchant.get(page_url(session))

    assert [(step.title, step.actor) for step in steps(response)] == [
        ("Session created", "System"),
        ("Details provided", "Customer"),
        ("Expiry extended", f"API key {api_key.masked}"),
        ("Expiry extended", member.username),
    ]
    assert f'<span class="step-actor">API key {api_key.masked}</span>' in response.text


def test_each_step_shows_its_time_relative_and_exact_to_the_second_on_hover(merchant, org):
    with time_machine.travel(timezone.now() - timedelta(minutes=5, seconds=3), tick=False):
        session = make_session(org=org)

    response = merchant.get(page_url(session))

    created = TimelineEvent.objects.get(session=session).created_at.astimezone(timezone.UTC)
    exact = f"{created:%-d %b %Y, %H:%M:%S} UTC"
    timeline = section(response, "session-timeline")
    assert f'<time datetime="{created.isoformat()}" title="{exact}">5 min ago</time>' in timeline


def test_receipts_and_callbacks_show_their_outcome(merchant, org):
    session = make_session(org=org, paid=True)
    timeline_event(
        session,
        EventKind.CALLBACK_FAILED,
        event_type="checkout.session.completed",
        url="https://merchant.example.com/hooks",
        attempt=1,
        status_code=503,
        duration_ms=1834,
        error="HTTP 503",
    )
    timeline_event(
        session,
        EventKind.CALLBACK_DELIVERED,
        event_type="checkout.session.completed",
        attempt=2,
        status_code=200,
        duration_ms=87,
    )
    timeline_event(session, EventKind.RECEIPT_FAILED, to="a@example.com", error="SMTP: refused")

    page = text_of(merchant.get(page_url(session)))

    assert (
        "Callback attempt failed" in page
        and "Attempt 1 Status code 503 Duration 1834 ms Error HTTP 503" in page
    )
    assert "Callback delivered" in page and "Attempt 2 Status code 200 Duration 87 ms" in page
    assert "Receipt failed" in page and "To a@example.com Error SMTP: refused" in page


def test_a_failed_email_says_its_attempt_and_when_it_is_tried_again(merchant, org):
    paid = make_session(org=org, paid=True)
    failed = make_session(org=org, failed_attempts=1)
    in_5_min = timezone.now() + timedelta(minutes=5)
    timeline_event(
        paid,
        EventKind.RECEIPT_FAILED,
        to="a@example.com",
        error="SMTPServerDisconnected: gone",
        attempt=2,
        next_attempt_at=in_5_min.isoformat(),
        final=False,
    )
    timeline_event(
        failed,
        EventKind.RECOVERY_FAILED,
        to="a@example.com",
        error="SMTPRecipientsRefused: 451",
        attempt=1,
        next_attempt_at=(timezone.now() + timedelta(seconds=60)).isoformat(),
        final=False,
    )
    timeline_event(
        failed,
        EventKind.RECOVERY_FAILED,
        to="a@example.com",
        error="SMTPRecipientsRefused: 451",
        attempt=2,
        next_attempt_at=None,
        final=True,
        retries="none: the link expires before the next try",
    )
    timeline_event(
        failed,
        EventKind.RECOVERY_FAILED,
        to="a@example.com",
        attempt=3,
        final=True,
        not_sent="paid",
    )

    receipt = text_of(merchant.get(page_url(paid)))
    recovery = merchant.get(page_url(failed))

    assert "Receipt failed (attempt 2, next try in 5 min)" in receipt
    exact = f"{in_5_min.astimezone(timezone.UTC):%-d %b %Y, %H:%M:%S} UTC"
    assert f"Error SMTPServerDisconnected: gone Next attempt {exact}" in receipt
    text = text_of(recovery)
    assert "Recovery email failed (attempt 1, next try in 1 min)" in text
    assert (
        "Recovery email failed (attempt 2, final)" in text
        and "Retries none: the link expires before the next try" in text
    )
    # Not sent on purpose: told apart from a failure, and not drawn as one.
    assert "Recovery email not sent (the customer paid this link)" in text
    assert recovery.text.count("step--failure") == 2


def test_an_expiry_extension_shows_by_how_much_and_until_when(merchant, org, member):
    session = make_session(org=org)
    extend_session_expiry(session=session, minutes=120, actor=Actor.for_user(member))

    page = text_of(merchant.get(page_url(session)))

    new_expiry = session.expires_at.astimezone(timezone.UTC)
    assert f"By 120 minutes. New expiry {new_expiry:%-d %b %Y, %H:%M:%S} UTC" in page


def expired_an_hour_ago(**kwargs):
    """A session made (events and all) 2 h ago that expired an hour later, unpaid."""
    with time_machine.travel(timezone.now() - timedelta(hours=2), tick=False):
        return make_session(**kwargs)


def test_an_unpaid_session_past_its_expiry_ends_with_expired_though_nothing_recorded_it(
    merchant, org
):
    session = expired_an_hour_ago(org=org)
    recorded = TimelineEvent.objects.filter(session=session).count()

    response = merchant.get(page_url(session))

    last = steps(response)[-1]
    assert (last.title, last.at, last.recorded) == ("Expired", session.expires_at, False)
    assert TimelineEvent.objects.filter(session=session).count() == recorded  # shown, not written


def test_a_failed_session_past_its_expiry_ends_with_expired_too(merchant, org):
    session = expired_an_hour_ago(org=org, failed_attempts=2)

    assert steps(merchant.get(page_url(session)))[-1].title == "Expired"


def test_an_expiry_the_task_recorded_shows_once(merchant, org):
    session = expired_session(org=org)
    expire_session.call(session.pk)

    titles = [step.title for step in steps(merchant.get(page_url(session)))]

    assert titles == ["Session created", "Session expired"]


def test_open_and_paid_sessions_show_no_expiry(merchant, org):
    open_session = make_session(org=org)
    paid = make_session(org=org, paid=True, created_at=timezone.now() - timedelta(hours=2))

    for session in (open_session, paid):
        titles = [step.title for step in steps(merchant.get(page_url(session)))]
        assert "Expired" not in titles


# --- Raw data -------------------------------------------------------------------------------


def raw_blocks(response) -> list[str]:
    blocks = re.findall(
        r'<pre class="raw-json" tabindex="0"><code>(.*?)</code></pre>', response.text, re.S
    )
    return [html.unescape(block) for block in blocks]


def test_raw_data_is_the_session_exactly_as_the_api_returns_it(merchant, org):
    session = make_session(org=org, metadata={"cart": "42"})
    _key, plain = create_api_key(org=org, mode="test")
    api = merchant.get(
        f"/v0/checkout/sessions/{session.public_id}", headers={"Authorization": f"Bearer {plain}"}
    ).json()

    response = merchant.get(page_url(session))

    assert json.loads(raw_blocks(response)[0]) == api
    assert '<details class="panel panel--raw">' in response.text  # collapsed


def test_raw_data_shows_each_events_data(merchant, org):
    session = customer_gives_details(make_session(org=org))
    pay(session, "4000000000000002")

    blocks = raw_blocks(merchant.get(page_url(session)))[1:]

    events = TimelineEvent.objects.filter(session=session).order_by("created_at", "id")
    assert [json.loads(block) for block in blocks] == [event.data for event in events]
    assert json.loads(blocks[-1])["decline_code"] == "generic_decline"


# --- Escaping -------------------------------------------------------------------------------

IMG = '"><img src=x onerror=alert(1)>'
SCRIPT = "<script>alert(1)</script>"


def test_markup_from_customers_and_merchants_shows_as_text_in_the_page_and_raw_data(merchant, org):
    session = make_session(org=org, items=[LineItem(name=SCRIPT, quantity=1, unit_price=100)])
    CheckoutSession.objects.filter(pk=session.pk).update(
        customer_email=f"{IMG}@example.com", user_agent=SCRIPT, customer_postal_code=IMG[:20]
    )
    timeline_event(session, EventKind.RECEIPT_FAILED, to=f"{IMG}@example.com", error=SCRIPT)

    for response in (
        merchant.get(page_url(session)),
        merchant.get(page_url(session), headers={"HX-Request": "true"}),
    ):
        assert "<img src=x" not in response.text
        assert "<script>alert" not in response.text
        assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;@example.com" in response.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
        raw = "\n".join(raw_blocks(response))
        assert SCRIPT in raw and f"{IMG}@example.com" in raw  # the data, shown as text


# --- HTMX -----------------------------------------------------------------------------------


def test_htmx_gets_the_detail_partial_and_a_plain_request_the_full_page(merchant, org):
    session = make_session(org=org, failed_attempts=1)

    partial = merchant.get(page_url(session), headers={"HX-Request": "true"})
    full = merchant.get(page_url(session))

    assert partial.text.lstrip().startswith('<div id="session-detail"')
    assert "<html" not in partial.text and 'id="session-timeline"' in partial.text
    assert "HX-Request" in partial["Vary"]
    assert "<html" in full.text and 'id="session-detail"' in full.text
    assert 'class="dash-sidebar"' in full.text


def test_back_button_restore_gets_the_full_page(merchant, org):
    session = make_session(org=org)

    response = merchant.get(
        page_url(session), headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )

    assert "<html" in response.text


# --- Who may see it -------------------------------------------------------------------------


def test_anonymous_visitor_is_sent_to_log_in_and_back(client, org):
    session = make_session(org=org)

    response = client.get(page_url(session))

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={page_url(session)}"


def test_member_of_another_org_gets_404(client, org):
    session = make_session(org=org)
    client.force_login(MembershipFactory(org=OrganizationFactory(slug="rival")).user)

    assert client.get(page_url(session)).status_code == 404


def test_another_orgs_session_is_404_under_your_org(merchant, org):
    theirs = make_session(org=OrganizationFactory(slug="rival"))

    response = merchant.get(f"/dashboard/{org.slug}/test/sessions/{theirs.public_id}")

    assert response.status_code == 404


def test_a_session_is_404_in_the_other_mode(merchant, org):
    test_session = make_session(org=org)
    live_session = make_session(org=org, mode="live")

    assert merchant.get(page_url(test_session, mode="live")).status_code == 404
    assert merchant.get(page_url(live_session, mode="test")).status_code == 404
    assert merchant.get(page_url(live_session, mode="live")).status_code == 200


@pytest.mark.parametrize(
    "junk",
    [
        "nope",
        "cs_test_short",
        "cs_test_" + "a" * 57,
        "cs_test_" + "a" * 10_000,
        "cs_test_aaaaaaaaaaaaaaaaaaaaaaaa%00",
        "%00",
        "cs_test_ааааааааааааааааааааааааа",  # Cyrillic
        "cs_demo_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "cs_test_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",  # the right shape, no such session
    ],
)
def test_junk_ids_are_404_never_500(merchant, org, junk):
    assert merchant.get(f"/dashboard/{org.slug}/test/sessions/{junk}").status_code == 404


def test_a_junk_draft_parameter_is_ignored(merchant, org):
    session = make_session(org=org, failed_attempts=1)

    for draft in ("\x00", "cs_test_" + "a" * 5000, "nope", make_session(org=org).public_id):
        response = merchant.get(page_url(session), {"draft": draft})
        assert response.status_code == 200
        assert response.context["draft"] is None


def test_the_page_takes_no_post(merchant, org):
    session = make_session(org=org)

    assert merchant.post(page_url(session)).status_code == 405


# --- Cost -----------------------------------------------------------------------------------


def add_history(session, count: int) -> None:
    """``count`` more events of every kind the page describes, some by a merchant user."""
    kinds = [
        EventKind.PAYMENT_FAILED,
        EventKind.CALLBACK_FAILED,
        EventKind.RECEIPT_SENT,
        EventKind.EXPIRY_EXTENDED,
        EventKind.RECOVERY_FAILED,
    ]
    for index in range(count):
        timeline_event(
            session,
            kinds[index % len(kinds)],
            actor=Actor(ActorKind.USER, "jenny") if index % 2 else Actor.customer(),
            code="card_declined",
            decline_code="insufficient_funds",
            attempt=index,
            status_code=500,
            duration_ms=10,
            minutes=15,
            to="alice@example.com",
            recovery_session="cs_test_" + "b" * 32,
        )


@pytest.mark.parametrize("state", ["failed", "succeeded", "open", "expired"])
def test_query_count_does_not_grow_with_events_or_items(
    merchant, org, state, django_assert_max_num_queries, django_assert_num_queries
):
    make = expired_session if state == "expired" else make_session
    session = make(
        org=org,
        failed_attempts=1 if state == "failed" else 0,
        paid=state == "succeeded",
        link=PaymentLinkFactory(org=org),
    )
    add_history(session, 4)  # 5 events with session_created
    with django_assert_max_num_queries(12) as queries:
        assert merchant.get(page_url(session)).status_code == 200
    few = len(queries.captured_queries)

    add_history(session, 195)
    OrderItem.objects.bulk_create(
        OrderItem(order=session.order, name=f"Extra {n}", quantity=1, unit_price=1, position=n)
        for n in range(1, 100)
    )
    with django_assert_num_queries(few):
        response = merchant.get(page_url(session))
    assert len(response.context["steps"]) >= 200


def test_query_count_does_not_grow_with_recoveries(merchant, org, member):
    session = make_session(org=org, failed_attempts=1)
    recover_session(session=session, actor=Actor.for_user(member), send_email=True)
    with CaptureQueriesContext(connection) as one_recovery:
        merchant.get(page_url(session))

    for _ in range(5):
        recover_session(session=session, actor=Actor.for_user(member), send_email=False)
    with CaptureQueriesContext(connection) as six_recoveries:
        response = merchant.get(page_url(session))

    assert len(six_recoveries.captured_queries) == len(one_recovery.captured_queries)
    assert [step.title for step in steps(response)].count("Recovery session created") == 6
