"""Payment-link bots: the same browser reopening a link gets its open session back, one client
IP opens at most so many sessions of a link per hour (past it: 429, nothing created, no order
number used), and link previews and HEAD requests see the product without creating anything."""

from datetime import timedelta

import pytest
import time_machine
from django.core import signing
from django.test import Client
from django.utils import timezone

from checkout.choices import EventKind
from checkout.models import CheckoutSession, Order, OrderCounter, TimelineEvent
from orgs.models import PaymentLink
from tests.factories import PaymentLinkFactory, card_form_data

pytestmark = pytest.mark.django_db

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
PREVIEW_AGENTS = {
    "Slack": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Facebook": "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "X": "Twitterbot/1.0",
    "WhatsApp": "WhatsApp/2.23.20.0 A",
    "Telegram": "TelegramBot (like TwitterBot)",
    "Discord": "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "LinkedIn": "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
    "Google": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Bing": "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Skype/Teams": "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5",
    "iMessage": (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like "
        "Gecko) Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0"
    ),
    "Outlook": "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.12026; Pro)",
    "Applebot": "Mozilla/5.0 (compatible; Applebot/0.1; +http://www.apple.com/go/applebot)",
}


def browser(ip: str = "203.0.113.7", user_agent: str = CHROME) -> Client:
    return Client(REMOTE_ADDR=ip, HTTP_USER_AGENT=user_agent)


def open_link(client: Client, link: PaymentLink):
    return client.get(f"/pay/{link.public_id}")


def cookie_name(link: PaymentLink) -> str:
    return f"checkout_{link.public_id}"


def created_nothing(link: PaymentLink, *, sessions: int = 0) -> bool:
    counter = OrderCounter.objects.filter(org=link.org).first()
    return (
        CheckoutSession.objects.count() == sessions
        and Order.objects.count() == sessions
        and (counter.last_number if counter else 0) == sessions
    )


# --- The same browser gets its session back -------------------------------------------------


def test_two_hundred_opens_from_one_browser_make_one_session():
    link = PaymentLinkFactory()
    client = browser()

    responses = [open_link(client, link) for _ in range(200)]

    session = CheckoutSession.objects.get()
    assert {(r.status_code, r["Location"]) for r in responses} == {
        (303, f"/checkout/{session.public_id}")
    }
    assert created_nothing(link, sessions=1)
    assert TimelineEvent.objects.filter(kind=EventKind.SESSION_CREATED).count() == 1


def test_the_session_cookie_is_signed_http_only_and_scoped_to_the_link():
    link = PaymentLinkFactory()

    response = open_link(browser(), link)

    cookie = response.cookies[cookie_name(link)]
    session = CheckoutSession.objects.get()
    assert cookie["path"] == f"/pay/{link.public_id}"
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert 3500 < int(cookie["max-age"]) <= 3600  # until the session expires
    assert cookie.value.startswith(f"{session.public_id}:")  # signed, not encrypted


def test_each_link_has_its_own_session_in_one_browser():
    first, second = PaymentLinkFactory(), PaymentLinkFactory()
    client = browser()

    opened = [open_link(client, link)["Location"] for link in (first, second, first, second)]

    assert opened[0] == opened[2] and opened[1] == opened[3] and opened[0] != opened[1]
    assert CheckoutSession.objects.count() == 2


def test_a_paid_session_is_not_reopened_a_new_one_is():
    link = PaymentLinkFactory()
    client = browser()
    checkout_url = open_link(client, link)["Location"]
    client.post(f"{checkout_url}/details", {"email": "dan@example.com"})
    client.post(f"{checkout_url}/pay", card_form_data())

    again = open_link(client, link)

    assert again["Location"] != checkout_url
    assert CheckoutSession.objects.count() == 2


def test_an_expired_session_is_not_reopened_a_new_one_is():
    link = PaymentLinkFactory()
    client = browser()
    first = open_link(client, link)["Location"]

    # The cookie lives as long as the session (the browser then drops it); replayed, it is
    # ignored.
    with time_machine.travel(timezone.now() + timedelta(minutes=61)):
        again = open_link(client, link)

    assert again["Location"] != first
    assert CheckoutSession.objects.count() == 2


def test_a_session_blocked_by_its_declines_is_not_reopened():
    link = PaymentLinkFactory()
    client = browser()
    checkout_url = open_link(client, link)["Location"]
    client.post(f"{checkout_url}/details", {"email": "dan@example.com"})
    for _ in range(5):
        client.post(f"{checkout_url}/pay", card_form_data("4000 0000 0000 0002"))

    again = open_link(client, link)

    assert again["Location"] != checkout_url


@pytest.mark.parametrize(
    "cookie",
    [
        "garbage",
        "",
        "cs_test_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",  # an id, unsigned
        "cs_test_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:1tXyz:forgedsignature",
        "caf\u00e9:\u00ff:%00",  # bytes that are not UTF-8, a NUL escape
        "x" * 4000,
    ],
)
def test_a_junk_cookie_is_ignored_never_a_server_error(cookie):
    link = PaymentLinkFactory()
    client = browser()
    client.cookies[cookie_name(link)] = cookie

    response = open_link(client, link)

    assert response.status_code == 303
    assert CheckoutSession.objects.count() == 1


def test_a_tampered_cookie_does_not_open_another_session():
    link = PaymentLinkFactory()
    victim = open_link(browser("203.0.113.1"), link)["Location"].rsplit("/", 1)[1]
    client = browser("203.0.113.2")
    mine = open_link(client, link).cookies[cookie_name(link)].value
    value, timestamp, signature = mine.rsplit(":", 2)

    client.cookies[cookie_name(link)] = f"{victim}:{timestamp}:{signature}"
    response = open_link(client, link)

    assert response["Location"] != f"/checkout/{victim}"
    assert CheckoutSession.objects.count() == 3


def test_a_cookie_signed_for_another_link_is_ignored():
    first, second = PaymentLinkFactory(), PaymentLinkFactory()
    first_session = open_link(browser(), first)["Location"].rsplit("/", 1)[1]
    client = browser()
    # Properly signed, but for the first link's salt: replayed on the second link's URL.
    client.cookies[cookie_name(second)] = signing.get_cookie_signer(
        salt=f"{cookie_name(first)}checkout.payment_link:{first.public_id}"
    ).sign(first_session)

    response = open_link(client, second)

    assert response["Location"] != f"/checkout/{first_session}"
    assert CheckoutSession.objects.filter(payment_link=second).count() == 1


# --- A per-IP cap on new sessions -----------------------------------------------------------


def test_one_ip_opens_twenty_sessions_of_a_link_per_hour_then_429_and_nothing_created():
    link = PaymentLinkFactory(name="Pour-over kit")
    for _ in range(20):
        assert open_link(browser(), link).status_code == 303  # a new browser each time

    refused = open_link(browser(), link)

    assert refused.status_code == 429
    assert 3590 <= int(refused["Retry-After"]) <= 3600
    html = refused.content.decode()
    assert "Too many checkouts opened" in html and "Pour-over kit" in html
    assert "Try again in 60 minutes" in html
    assert cookie_name(link) not in refused.cookies
    assert created_nothing(link, sessions=20)


def test_the_cap_is_per_link_and_per_ip(settings):
    settings.PAYMENT_LINK_SESSIONS_PER_IP_PER_HOUR = 2
    link, other_link = PaymentLinkFactory(), PaymentLinkFactory()
    for _ in range(2):
        open_link(browser("203.0.113.7"), link)

    assert open_link(browser("203.0.113.7"), link).status_code == 429
    assert open_link(browser("203.0.113.8"), link).status_code == 303
    assert open_link(browser("203.0.113.7"), other_link).status_code == 303


def test_the_cap_counts_an_ipv6_64_as_one_client(settings):
    settings.PAYMENT_LINK_SESSIONS_PER_IP_PER_HOUR = 2
    link = PaymentLinkFactory()
    open_link(browser("2001:db8:5:6::1"), link)
    open_link(browser("2001:db8:5:6::2"), link)

    assert open_link(browser("2001:db8:5:6:ffff::3"), link).status_code == 429
    assert open_link(browser("2001:db8:5:7::1"), link).status_code == 303


def test_a_returning_browser_is_not_capped(settings):
    settings.PAYMENT_LINK_SESSIONS_PER_IP_PER_HOUR = 2
    link = PaymentLinkFactory()
    returning = browser()
    open_link(returning, link)
    open_link(browser(), link)

    assert open_link(returning, link).status_code == 303
    assert open_link(browser(), link).status_code == 429


def test_the_cap_lifts_an_hour_after_the_first_opening(settings):
    settings.PAYMENT_LINK_SESSIONS_PER_IP_PER_HOUR = 2
    link = PaymentLinkFactory()
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        open_link(browser(), link)
    with time_machine.travel(start + timedelta(minutes=30), tick=False):
        open_link(browser(), link)
        assert open_link(browser(), link)["Retry-After"] == "1800"
    with time_machine.travel(start + timedelta(minutes=60, seconds=1), tick=False):
        assert open_link(browser(), link).status_code == 303


def test_a_cap_of_zero_turns_it_off(settings):
    settings.PAYMENT_LINK_SESSIONS_PER_IP_PER_HOUR = 0
    link = PaymentLinkFactory()

    statuses = {open_link(browser(), link).status_code for _ in range(25)}

    assert statuses == {303}


# --- Link previews and HEAD create nothing --------------------------------------------------


@pytest.mark.parametrize("agent", PREVIEW_AGENTS.values(), ids=PREVIEW_AGENTS.keys())
def test_link_preview_agents_get_a_preview_page_and_create_nothing(agent):
    link = PaymentLinkFactory(
        name="Pour-over kit", description="Dripper and filters.", unit_price=2950, quantity=2
    )

    response = open_link(browser(user_agent=agent), link)

    html = response.content.decode()
    assert response.status_code == 200
    assert "<title>Pour-over kit · " in html
    assert f'<meta property="og:title" content="Pour-over kit · {link.org.name}">' in html
    assert '<meta property="og:description" content="Dripper and filters. · $59.00">' in html
    assert '<meta property="og:type" content="website">' in html
    assert f'content="http://127.0.0.1:8000/pay/{link.public_id}"' in html
    assert "$59.00" in html
    assert cookie_name(link) not in response.cookies
    assert created_nothing(link)


def test_head_requests_create_nothing():
    link = PaymentLinkFactory()

    response = browser().head(f"/pay/{link.public_id}")

    assert response.status_code == 200
    assert created_nothing(link)


def test_a_person_shown_the_preview_continues_to_a_session_with_its_button():
    link = PaymentLinkFactory()
    client = Client(
        enforce_csrf_checks=True, REMOTE_ADDR="203.0.113.7", HTTP_USER_AGENT="Twitterbot/1.0"
    )
    preview = open_link(client, link)
    token = client.cookies["csrftoken"].value
    assert f'action="/pay/{link.public_id}"' in preview.content.decode()

    response = client.post(f"/pay/{link.public_id}", {"csrfmiddlewaretoken": token})

    session = CheckoutSession.objects.get()
    assert response.status_code == 303
    assert response["Location"] == f"/checkout/{session.public_id}"


def test_a_deactivated_link_shows_its_page_to_previews_too():
    link = PaymentLinkFactory(is_active=False)

    response = open_link(browser(user_agent=PREVIEW_AGENTS["Slack"]), link)

    assert response.status_code == 404
    assert created_nothing(link)


@pytest.mark.parametrize(
    "agent",
    [
        CHROME,
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
        # In-app browsers of chat apps are people, not their preview agents.
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/400.0]",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) Mobile/15E148 LinkedInApp",
        "",
    ],
    ids=["chrome", "safari", "facebook-app", "linkedin-app", "no-user-agent"],
)
def test_browsers_open_a_session(agent):
    link = PaymentLinkFactory()

    response = open_link(browser(user_agent=agent), link)

    assert response.status_code == 303
    assert CheckoutSession.objects.count() == 1
