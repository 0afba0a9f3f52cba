"""A session's actions in the dashboard: Recover sale (email, or a mailto: draft; one email a
day), Copy portal link, Resend receipt, View order, Extend expiry. Each write is a POST with
CSRF, goes through the checkout service with the merchant user as actor, lands on the timeline,
is offered only where it applies and refused where it does not; without JavaScript it answers
with a redirect and a flash message, with HTMX with the page's partial."""

import html
import re
from datetime import timedelta
from urllib.parse import unquote, urlsplit

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from checkout.actors import Actor
from checkout.choices import ActorKind, EventKind, SessionSource
from checkout.models import CheckoutSession, TimelineEvent
from checkout.portal import PortalScope, read_portal_token
from checkout.services import recover_session
from tests.factories import (
    MembershipFactory,
    OrganizationFactory,
    expired_session,
    make_session,
)
from tests.processes import run_due_tasks
from tests.smtp_sink import free_port

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def merchant(client, member):
    client.force_login(member)
    return client


@pytest.fixture
def run_tasks(django_capture_on_commit_callbacks):
    """Run what a request enqueued (emails) when it commits, as a real request would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def page_url(session, mode: str = "test") -> str:
    prefix = "test/" if mode == "test" else ""
    return f"/dashboard/{session.org.slug}/{prefix}sessions/{session.public_id}"


def action_url(session, action: str, mode: str = "test") -> str:
    return f"{page_url(session, mode)}/{action}"


def events(session, kind: str) -> list[TimelineEvent]:
    return list(TimelineEvent.objects.filter(session=session, kind=kind).order_by("id"))


def flash(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def text_of(response) -> str:
    """The page's text, tags stripped and whitespace folded: what a reader sees."""
    text = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", response.text)))
    return re.sub(r" ([.,;:])", r"\1", text)


def hrefs(response) -> list[str]:
    return [html.unescape(href) for href in re.findall(r'href="([^"]*)"', response.text)]


def history(session) -> tuple:
    """Everything an action may change: the session's events, its expiry, sessions, mail."""
    session.refresh_from_db()
    return (
        TimelineEvent.objects.filter(session=session).count(),
        session.expires_at,
        CheckoutSession.objects.count(),
        len(mail.outbox),
    )


# Each action, a session it applies to, and a valid body.
ACTIONS = {
    "recover": (lambda org: make_session(org=org, failed_attempts=1), {"send": "email"}),
    "resend-receipt": (lambda org: make_session(org=org, paid=True), {}),
    "extend-expiry": (lambda org: make_session(org=org), {"minutes": "30"}),
}


# --- Who may act ----------------------------------------------------------------------------


@pytest.mark.parametrize("action", ACTIONS)
def test_a_member_can_post_each_action(merchant, org, action, run_tasks):
    make, body = ACTIONS[action]
    session = make(org)
    before = history(session)

    with run_tasks():
        response = merchant.post(action_url(session, action), body)

    assert response.status_code == 303
    assert response["Location"] == page_url(session)
    assert history(session) != before


@pytest.mark.parametrize("action", ACTIONS)
def test_get_on_an_action_is_405_and_changes_nothing(merchant, org, action, run_tasks):
    make, body = ACTIONS[action]
    session = make(org)
    before = history(session)

    with run_tasks():
        response = merchant.get(action_url(session, action), body)

    assert response.status_code == 405
    assert history(session) == before


@pytest.mark.parametrize("action", ACTIONS)
def test_anonymous_post_logs_in_first_then_returns_to_the_session(client, org, action):
    make, body = ACTIONS[action]
    session = make(org)
    before = history(session)

    response = client.post(action_url(session, action), body)

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={page_url(session)}"
    assert history(session) == before


@pytest.mark.parametrize("action", ACTIONS)
def test_member_of_another_org_gets_404_and_changes_nothing(client, org, action):
    make, body = ACTIONS[action]
    session = make(org)
    client.force_login(MembershipFactory(org=OrganizationFactory(slug="rival")).user)
    before = history(session)

    assert client.post(action_url(session, action), body).status_code == 404
    assert history(session) == before


@pytest.mark.parametrize("action", ACTIONS)
def test_another_orgs_session_is_404_under_your_org(merchant, org, action):
    make, body = ACTIONS[action]
    theirs = make(OrganizationFactory(slug="rival"))
    before = history(theirs)

    url = f"/dashboard/{org.slug}/test/sessions/{theirs.public_id}/{action}"
    assert merchant.post(url, body).status_code == 404
    assert history(theirs) == before


@pytest.mark.parametrize("action", ACTIONS)
def test_a_session_of_the_other_mode_is_404(merchant, org, action):
    make, body = ACTIONS[action]
    session = make(org)
    before = history(session)

    assert merchant.post(action_url(session, action, mode="live"), body).status_code == 404
    assert history(session) == before


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("junk", ["nope", "cs_test_%00", "cs_test_" + "a" * 5000, "%00"])
def test_junk_ids_are_404_never_500(merchant, org, action, junk):
    _make, body = ACTIONS[action]

    url = f"/dashboard/{org.slug}/test/sessions/{junk}/{action}"
    assert merchant.post(url, body).status_code == 404


@pytest.mark.parametrize("action", ACTIONS)
def test_a_post_without_the_csrf_token_is_refused(org, member, action):
    make, body = ACTIONS[action]
    session = make(org)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(member)
    before = history(session)

    assert browser.post(action_url(session, action), body).status_code == 403
    assert history(session) == before


def test_the_page_sends_its_csrf_token_with_every_action(merchant, org):
    session = make_session(org=org, failed_attempts=1)

    page = merchant.get(page_url(session)).text

    assert page.count('name="csrfmiddlewaretoken"') >= 1
    assert 'hx-headers=\'{"X-CSRFToken": "' in page  # on <body>, for the HTMX posts
    assert f'method="post" action="{action_url(session, "recover")}"' in page


# --- Recover sale ---------------------------------------------------------------------------


def test_recover_sale_emails_a_fresh_link_and_links_both_sessions(merchant, org, member, run_tasks):
    session = make_session(org=org, failed_attempts=1, customer_email="alice@example.com")

    with run_tasks():
        response = merchant.post(action_url(session, "recover"), {"send": "email"}, follow=True)

    new = CheckoutSession.objects.get(recovered_from=session)
    assert new.source == SessionSource.RECOVERY
    assert flash(response) == [
        "Recovery email on its way to alice@example.com with a new checkout link "
        f"({new.public_id})."
    ]
    [email] = mail.outbox
    assert email.to == ["alice@example.com"]
    assert f"/checkout/{new.public_id}" in email.body
    [asked] = events(session, EventKind.RECOVERED_BY)
    [sent] = events(session, EventKind.RECOVERY_SENT)
    for event in (asked, sent):
        assert (event.actor_kind, event.actor_user) == (ActorKind.USER, member)
    timeline = response.text.split('id="session-timeline"', 1)[1].split("</section>", 1)[0]
    assert f'Recovered by <a class="mono" href="{page_url(new)}">{new.public_id}</a>' in timeline
    assert f'<span class="step-actor">{member.username}</span>' in timeline
    assert (
        f'Recovery of <a class="mono" href="{page_url(session)}"'
        in merchant.get(page_url(new)).text
    )


def test_one_recovery_email_a_day_and_the_button_says_when_and_by_whom(
    merchant, org, member, run_tasks
):
    session = make_session(org=org, failed_attempts=1)
    with run_tasks():
        merchant.post(action_url(session, "recover"), {"send": "email"})

    page = merchant.get(page_url(session))
    assert f"Last recovery email just now by {member.username}. One email a day" in text_of(page)
    assert 'value="email" disabled aria-describedby="recover-last"' in page.text

    with run_tasks():
        refused = merchant.post(action_url(session, "recover"), {"send": "email"}, follow=True)
    assert flash(refused)[0].startswith("A recovery email already went out")
    assert f"sent by {member.username}" in flash(refused)[0]
    assert CheckoutSession.objects.filter(recovered_from=session).count() == 1
    assert len(mail.outbox) == 1

    with time_machine.travel(timezone.now() + timedelta(hours=24, minutes=1)):
        later = merchant.get(page_url(session))
        assert 'value="email" disabled' not in later.text
        with run_tasks():
            merchant.post(action_url(session, "recover"), {"send": "email"})
    assert len(mail.outbox) == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
def test_an_email_being_retried_keeps_the_button_disabled_until_it_failed_for_good(
    merchant, org, member, settings, database_tasks, smtp_on
):
    settings.RECEIPT_RETRY_SCHEDULE = [300]
    smtp_on(free_port())  # the mail server is down
    session = make_session(org=org, failed_attempts=1)
    merchant.post(action_url(session, "recover"), {"send": "email"})
    run_due_tasks()

    page = merchant.get(page_url(session))
    assert (
        f"The recovery email asked for just now by {member.username} is not sent yet: the mail "
        "server could not take it, next try in 4 min. No other can go out while it is tried "
        "again (until its link expires, in 23 h"
    ) in text_of(page)
    assert 'value="email" disabled aria-describedby="recover-last"' in page.text
    assert "Recovery email failed (attempt 1, next try in 5 min)" in text_of(page)
    refused = merchant.post(action_url(session, "recover"), {"send": "email"}, follow=True)
    assert flash(refused)[0].startswith("A recovery email asked for")
    assert CheckoutSession.objects.filter(recovered_from=session).count() == 1

    DBTaskResult.objects.filter(status="READY").update(run_after=timezone.now())
    run_due_tasks()  # attempt 2, the schedule's last: final

    page = merchant.get(page_url(session))
    assert "Recovery email failed (attempt 2, final)" in text_of(page)
    assert "not sent yet" not in page.text
    assert 'value="email" disabled' not in page.text


def test_write_it_yourself_creates_the_session_and_offers_a_prefilled_mailto_link(
    merchant, org, member, run_tasks
):
    session = make_session(org=org, failed_attempts=1, customer_email="alice@example.com")

    with run_tasks():
        response = merchant.post(action_url(session, "recover"), {"send": "mailto"})

    new = CheckoutSession.objects.get(recovered_from=session)
    # A mailto: URL can't be a redirect (Django refuses the scheme): the page links to it.
    assert response.status_code == 303
    assert response["Location"] == f"{page_url(session)}?draft={new.public_id}"
    page = merchant.get(response["Location"])
    [mailto] = [href for href in hrefs(page) if href.startswith("mailto:")]
    assert mailto.startswith("mailto:alice@example.com?subject=")
    assert f"/checkout/{new.public_id}" in unquote(mailto)
    assert "Open email draft" in page.text
    assert mail.outbox == []  # the merchant sends it
    [asked] = events(session, EventKind.RECOVERED_BY)
    assert asked.data["emailed"] is False and asked.actor_user == member
    # Not limited: a draft is not an email from us.
    assert 'value="email" disabled' not in page.text


def test_with_htmx_recovery_answers_with_the_refreshed_partial_and_its_message(
    merchant, org, run_tasks
):
    session = make_session(org=org, failed_attempts=1)

    with run_tasks():
        response = merchant.post(action_url(session, "recover"), {"send": "mailto"}, headers=HTMX)

    new = CheckoutSession.objects.get(recovered_from=session)
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<div id="session-detail"')
    assert "<html" not in response.text
    assert f"New checkout session {new.public_id} created" in response.text
    assert 'href="mailto:alice@example.com?subject=' in response.text
    assert "Recovered by <a" in response.text
    # The message was shown once: the next page does not repeat it.
    assert f"New checkout session {new.public_id}" not in merchant.get(page_url(session)).text


@pytest.mark.parametrize(
    ("make", "refusal"),
    [
        (lambda org: make_session(org=org), "is still open and no payment has failed"),
        (lambda org: make_session(org=org, paid=True), "is paid: there is no sale to recover"),
        (
            lambda org: expired_session(org=org, customer_email=""),
            "has no customer email to send a new link to",
        ),
    ],
    ids=["open", "paid", "expired-without-email"],
)
def test_recover_is_not_offered_where_it_does_not_apply_and_refused_if_posted(
    merchant, org, make, refusal, run_tasks
):
    session = make(org)

    page = merchant.get(page_url(session)).text
    assert action_url(session, "recover") not in page
    with run_tasks():
        response = merchant.post(action_url(session, "recover"), {"send": "email"}, follow=True)

    assert refusal in flash(response)[0]
    assert not CheckoutSession.objects.filter(recovered_from=session).exists()
    assert mail.outbox == []


def test_an_expired_session_with_an_email_can_be_recovered(merchant, org, run_tasks):
    session = expired_session(org=org, customer_email="bob@example.com")

    assert action_url(session, "recover") in merchant.get(page_url(session)).text
    with run_tasks():
        merchant.post(action_url(session, "recover"), {"send": "email"})

    assert [email.to for email in mail.outbox] == [["bob@example.com"]]


def test_a_session_whose_customer_paid_a_recovery_says_so_and_offers_no_recovery(
    merchant, org, member
):
    session = make_session(org=org, failed_attempts=1)
    recovery = recover_session(session=session, actor=Actor.for_user(member), send_email=False)
    paid = recovery.session
    paid.is_paid = True
    paid.save(update_fields=["is_paid"])
    order = paid.order
    order.payment_status, order.paid_at = "paid", timezone.now()
    order.save(update_fields=["payment_status", "paid_at"])

    page = merchant.get(page_url(session))

    assert f"Recovered: the customer paid {paid.public_id} (order #{order.number})." in text_of(
        page
    )
    assert action_url(session, "recover") not in page.text


@pytest.mark.parametrize("send", ["", "sms", "\x00", "email" * 1000])
def test_a_recovery_without_a_valid_choice_is_refused_with_a_message(merchant, org, send):
    session = make_session(org=org, failed_attempts=1)

    response = merchant.post(action_url(session, "recover"), {"send": send}, follow=True)

    assert flash(response) == ["Choose how to send the new checkout link: by email or yourself."]
    assert not CheckoutSession.objects.filter(recovered_from=session).exists()


# --- Copy portal link -----------------------------------------------------------------------


def test_a_paid_session_shows_the_customers_portal_link_to_copy(merchant, org):
    session = make_session(org=org, paid=True, customer_email="alice@example.com")
    session.order.customer_email = "alice@example.com"
    session.order.save(update_fields=["customer_email"])

    response = merchant.get(page_url(session))

    portal_url = response.context["actions"].portal_url
    assert f'id="portal-link" type="text" value="{portal_url}" readonly' in response.text
    # The copy button needs JavaScript: hidden until the script shows it.
    assert 'data-copy="portal-link" data-copy-status="portal-link-status" hidden' in response.text
    token = urlsplit(portal_url).path.removeprefix("/portal/")
    access = read_portal_token(token)
    assert (access.scope, access.email) == (PortalScope.CUSTOMER, "alice@example.com")
    assert "alice@example.com" in merchant.get(urlsplit(portal_url).path).text


@pytest.mark.parametrize("kwargs", [{"failed_attempts": 1}, {}], ids=["failed", "open"])
def test_an_unpaid_session_has_no_portal_link(merchant, org, kwargs):
    session = make_session(org=org, **kwargs)

    assert 'id="portal-link"' not in merchant.get(page_url(session)).text


# --- Resend receipt -------------------------------------------------------------------------


def paid_session(org, email="alice@example.com"):
    session = make_session(org=org, paid=True, customer_email=email)
    session.order.customer_email = email
    session.order.save(update_fields=["customer_email"])
    return session


def test_resend_receipt_emails_it_again_and_the_timeline_names_who(
    merchant, org, member, run_tasks
):
    session = paid_session(org)

    with run_tasks() as enqueued:
        response = merchant.post(action_url(session, "resend-receipt"), follow=True)

    assert len(enqueued) == 1  # through the task queue
    assert flash(response) == [
        f"Receipt for order #{session.order.number} is being sent again to alice@example.com."
    ]
    [email] = mail.outbox
    assert email.to == ["alice@example.com"] and "Your receipt from" in email.subject
    [sent] = events(session, EventKind.RECEIPT_SENT)
    assert (sent.actor_kind, sent.actor_user) == (ActorKind.USER, member)
    page = text_of(merchant.get(page_url(session)))
    assert f"Receipt sent just now · {member.username}" in page
    assert f"Last sent just now by {member.username}." in page


def test_resend_receipt_with_htmx_shows_the_new_event_in_the_partial(
    merchant, org, member, run_tasks
):
    session = paid_session(org)

    with run_tasks():
        response = merchant.post(action_url(session, "resend-receipt"), headers=HTMX)

    assert response.status_code == 200
    assert response.text.lstrip().startswith('<div id="session-detail"')
    assert "is being sent again to alice@example.com" in response.text


@pytest.mark.parametrize(
    "make",
    [lambda org: make_session(org=org, failed_attempts=1), lambda org: make_session(org=org)],
    ids=["failed", "open"],
)
def test_resend_receipt_is_not_offered_unpaid_and_refused_if_posted(merchant, org, make, run_tasks):
    session = make(org)

    assert action_url(session, "resend-receipt") not in merchant.get(page_url(session)).text
    with run_tasks():
        response = merchant.post(action_url(session, "resend-receipt"), follow=True)

    assert flash(response) == [f"Session {session.public_id} is not paid: it has no receipt."]
    assert mail.outbox == []
    assert events(session, EventKind.RECEIPT_SENT) == []


# --- View order -----------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [{"paid": True}, {"failed_attempts": 1}, {}])
def test_view_order_links_to_the_orders_page(merchant, org, kwargs):
    session = make_session(org=org, **kwargs)

    page = merchant.get(page_url(session)).text

    order_url = f"/dashboard/{org.slug}/test/orders/{session.order.public_id}"
    assert f'<a class="button" href="{order_url}">View order</a>' in page


# --- Extend expiry --------------------------------------------------------------------------


def test_extend_expiry_adds_the_chosen_minutes_and_the_timeline_names_who(merchant, org, member):
    session = make_session(org=org)
    before = session.expires_at

    response = merchant.post(action_url(session, "extend-expiry"), {"minutes": "120"}, follow=True)

    session.refresh_from_db()
    assert session.expires_at == before + timedelta(minutes=120)
    [extended] = events(session, EventKind.EXPIRY_EXTENDED)
    assert extended.data["minutes"] == 120
    assert (extended.actor_kind, extended.actor_user) == (ActorKind.USER, member)
    assert flash(response) == [
        f"Expiry extended by 2 hours: the session now expires "
        f"{session.expires_at.astimezone(timezone.UTC):%-d %b %Y at %H:%M:%S} UTC."
    ]
    assert f"Expiry extended just now · {member.username}" in text_of(response)


def test_the_offered_durations_stay_within_what_the_service_accepts(merchant, org):
    session = make_session(org=org)

    form = merchant.get(page_url(session)).context["extend_form"]

    assert [value for value, _label in form.fields["minutes"].choices] == [15, 30, 60, 120, 1440]


@pytest.mark.parametrize(
    "minutes", ["", "7", "1441", "0", "-15", "abc", "30.0", "\x00", "9" * 400, None]
)
def test_a_bad_duration_is_a_form_error_naming_the_field_never_a_500(merchant, org, minutes):
    session = make_session(org=org)
    before = history(session)

    body = {} if minutes is None else {"minutes": minutes}
    full = merchant.post(action_url(session, "extend-expiry"), body)
    partial = merchant.post(action_url(session, "extend-expiry"), body, headers=HTMX)

    assert full.status_code == 400 and "<html" in full.text
    assert partial.status_code == 200 and "<html" not in partial.text
    for response in (full, partial):
        assert 'id="id_minutes_error" role="alert">Extend by: choose' in response.text
        assert 'aria-invalid="true"' in response.text
    assert history(session) == before


@pytest.mark.parametrize(
    ("make", "refusal"),
    [
        (lambda org: make_session(org=org, paid=True), "is already paid"),
        (lambda org: expired_session(org=org), "has expired"),
    ],
    ids=["paid", "expired"],
)
def test_extend_is_not_offered_once_paid_or_expired_and_refused_if_posted(
    merchant, org, make, refusal
):
    session = make(org)
    before = history(session)

    assert action_url(session, "extend-expiry") not in merchant.get(page_url(session)).text
    response = merchant.post(action_url(session, "extend-expiry"), {"minutes": "30"}, follow=True)

    assert refusal in flash(response)[0]
    assert history(session) == before


def test_a_declined_session_still_open_can_be_extended_as_through_the_api(merchant, org):
    session = make_session(org=org, failed_attempts=1)

    assert action_url(session, "extend-expiry") in merchant.get(page_url(session)).text
    merchant.post(action_url(session, "extend-expiry"), {"minutes": "15"})

    assert len(events(session, EventKind.EXPIRY_EXTENDED)) == 1
