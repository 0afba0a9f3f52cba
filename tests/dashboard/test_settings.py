"""Settings → Checkout settings: the org's defaults (owners save, members read), this mode's
signing secret (masked; revealed, never cached; rotated with 24 h of overlap), a test callback
to a real receiver on 127.0.0.1, the deliveries log with redelivery, and who may do what."""

import itertools
import re
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone
from standardwebhooks import Webhook

from checkout.callbacks import enqueue_session_callback
from checkout.choices import CallbackEvent
from checkout.models import CallbackDelivery
from orgs.models import AuditEntry, CallbackSecret, Mode, Organization
from orgs.services import callback_secret_for
from tests.checkout.callback_receiver import CallbackReceiver, unused_local_url
from tests.factories import MembershipFactory, OrganizationFactory, make_session, signing_secret

pytestmark = pytest.mark.django_db

PAGE = "/dashboard/acme-test/test/settings/"
LIVE_PAGE = "/dashboard/acme-test/settings/"
HTMX = {"HX-Request": "true"}


def action_urls(slug: str, delivery_id: str, mode: str = "test/") -> dict[str, str]:
    base = f"/dashboard/{slug}/{mode}settings/"
    return {
        "defaults": f"{base}defaults",
        "reveal": f"{base}secret/reveal",
        "rotate": f"{base}secret/rotate",
        "test_callback": f"{base}test-callback",
        "redeliver": f"{base}deliveries/{delivery_id}/redeliver",
    }


VALID_DEFAULTS = {
    "currency": "EUR",
    "success_url": "https://merchant.example.com/thanks?session={CHECKOUT_SESSION_ID}",
    "callback_url": "https://merchant.example.com/hooks",
    "terms_url": "https://merchant.example.com/terms",
    "privacy_url": "https://merchant.example.com/privacy",
    "support_email": "help@merchant.example.com",
    "require_phone": "on",
    "fraud_flag_threshold": "5",
}
POSTS = {
    "defaults": VALID_DEFAULTS,
    "reveal": {},
    "rotate": {"confirm": "rotate"},
    "test_callback": {},
    "redeliver": {},
}


@pytest.fixture
def as_owner(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def as_member(client, member):
    client.force_login(member)
    return client


@pytest.fixture
def receiver():
    with CallbackReceiver() as receiver:
        yield receiver


def point_callbacks_at(org: Organization, url: str) -> None:
    Organization.objects.filter(pk=org.pk).update(callback_url=url)


def failed_delivery(org, django_capture_on_commit_callbacks, mode=Mode.TEST) -> CallbackDelivery:
    """A completed callback whose one attempt (immediate backend) found nobody listening."""
    session = make_session(org=org, mode=mode, callback_url=unused_local_url())
    with django_capture_on_commit_callbacks(execute=True):
        delivery = enqueue_session_callback(session=session, event_type=CallbackEvent.COMPLETED)
    delivery.refresh_from_db()
    assert delivery.status == CallbackDelivery.Status.FAILED
    return delivery


def snapshot(org) -> tuple:
    """Everything an action could change, to prove that a refused one changed nothing."""
    return (
        list(Organization.objects.filter(pk=org.pk).values()),
        list(CallbackSecret.objects.filter(org=org).values("secret", "expires_at")),
        list(CallbackDelivery.objects.filter(org=org).values("status", "attempts")),
        AuditEntry.objects.count(),
    )


# --- Who may do what ------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_log_in_from_the_page_and_every_action(client, org):
    assert client.get(PAGE)["Location"].startswith("/accounts/login/?next=")
    for name, url in action_urls(org.slug, "msg_" + "a" * 32).items():
        response = client.post(url, POSTS[name])
        assert response.status_code == 302, name
        assert response["Location"].startswith("/accounts/login/?next="), name


def test_another_orgs_member_gets_404_on_the_page_and_every_action(
    client, org, django_capture_on_commit_callbacks
):
    delivery = failed_delivery(org, django_capture_on_commit_callbacks)
    before = snapshot(org)
    client.force_login(MembershipFactory(org=OrganizationFactory(slug="rival")).user)
    assert client.get(PAGE).status_code == 404
    for name, url in action_urls(org.slug, delivery.public_id).items():
        assert client.post(url, POSTS[name]).status_code == 404, name
    assert snapshot(org) == before


def test_a_member_sees_the_values_and_a_masked_secret_and_no_action(as_member, org):
    Organization.objects.filter(pk=org.pk).update(
        callback_url="https://merchant.example.com/hooks", fraud_flag_threshold=4
    )
    secret = callback_secret_for(org=org, mode=Mode.TEST)

    response = as_member.get(PAGE)

    assert response.status_code == 200
    text = response.text
    assert 'value="https://merchant.example.com/hooks"' in text
    assert 'value="4"' in text
    assert secret.masked in text and secret.secret not in text
    for action in ("Save settings", "Reveal", "Rotate", "Send test callback", "Redeliver"):
        assert f">{action}" not in text, action
    form = response.context["form"]
    assert all(field.disabled for field in form.fields.values())
    assert "placeholder=" not in text.split('id="checkout-defaults"')[1].split("</section>")[0]
    assert "only the owners of Acme Test Co. can change them" in text


def test_a_member_gets_403_on_every_action_and_nothing_changes(
    as_member, org, receiver, django_capture_on_commit_callbacks
):
    point_callbacks_at(org, receiver.url)
    delivery = failed_delivery(org, django_capture_on_commit_callbacks)
    callback_secret_for(org=org, mode=Mode.TEST)
    before = snapshot(org)

    for name, url in action_urls(org.slug, delivery.public_id).items():
        for headers in ({}, HTMX):
            response = as_member.post(url, POSTS[name], headers=headers)
            assert response.status_code == 403, name
            assert "Only owners can do this" in response.text
            assert "whsec_" not in response.text.replace(delivery.public_id, "")

    assert snapshot(org) == before
    assert receiver.received == []


def test_an_owner_sees_every_action(as_owner):
    text = as_owner.get(PAGE).text
    assert 'placeholder="https://example.com/hooks"' in text
    assert "Created <time" in text and ">just now</time>" in text  # the secret made on first use
    for action in ("Save settings", "Reveal", "Rotate secret…"):
        assert f">{action}<" in text, action


def test_actions_are_posts_a_get_is_405_and_changes_nothing(
    as_owner, org, django_capture_on_commit_callbacks
):
    delivery = failed_delivery(org, django_capture_on_commit_callbacks)
    callback_secret_for(org=org, mode=Mode.TEST)
    before = snapshot(org)

    for name, url in action_urls(org.slug, delivery.public_id).items():
        assert as_owner.get(url, POSTS[name]).status_code == 405, name

    assert snapshot(org) == before


def test_every_action_needs_the_csrf_token(org, owner, django_capture_on_commit_callbacks):
    delivery = failed_delivery(org, django_capture_on_commit_callbacks)
    callback_secret_for(org=org, mode=Mode.TEST)
    before = snapshot(org)
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)

    for name, url in action_urls(org.slug, delivery.public_id).items():
        assert client.post(url, POSTS[name]).status_code == 403, name

    assert snapshot(org) == before


# --- Checkout defaults ----------------------------------------------------------------------


def test_an_owner_saves_the_defaults_and_is_sent_back_with_a_message(as_owner, org, owner):
    response = as_owner.post(action_urls(org.slug, "")["defaults"], VALID_DEFAULTS)

    assert response.status_code == 302
    assert response["Location"] == f"{PAGE}#checkout-defaults"
    org.refresh_from_db()
    assert (org.currency, org.callback_url, org.require_phone, org.fraud_flag_threshold) == (
        "EUR",
        "https://merchant.example.com/hooks",
        True,
        5,
    )
    entry = AuditEntry.objects.for_org(org).get()
    assert (entry.action, entry.user) == (AuditEntry.Action.SETTINGS_UPDATED, owner)
    assert entry.changes["fraud_flag_threshold"] == [3, 5]
    page = as_owner.get(response["Location"])
    assert "Checkout settings saved." in page.text
    assert "fraud_flag_threshold" in page.text  # the activity list names what changed
    assert "Checkout settings saved." not in as_owner.get(PAGE).text  # shown once


def test_the_support_email_is_stored_in_its_canonical_form(as_owner, org):
    as_owner.post(
        action_urls(org.slug, "")["defaults"],
        {**VALID_DEFAULTS, "support_email": "Help@MERCHANT.Bücher.example"},
    )

    org.refresh_from_db()
    assert org.support_email == "help@merchant.xn--bcher-kva.example"


def test_with_htmx_saving_answers_the_section_the_test_callback_and_the_activity(as_owner, org):
    response = as_owner.post(action_urls(org.slug, "")["defaults"], VALID_DEFAULTS, headers=HTMX)

    assert response.status_code == 200
    text = response.text
    assert "<html" not in text
    assert text.startswith('\n<section id="checkout-defaults"')
    assert "Checkout settings saved." in text
    assert re.search(r'<section id="test-callback"[^>]*hx-swap-oob="true"', text)
    assert "https://merchant.example.com/hooks" in text.split('id="test-callback"')[1]
    assert re.search(r'<section id="settings-activity"[^>]*hx-swap-oob="true"', text)


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("callback_url", "ftp://x", "Enter a full URL, starting with https:// (or http://)."),
        ("terms_url", "javascript:alert(1)", "Enter a full URL, starting with https://"),
        ("callback_url", "ftp://merchant.example.com/hooks", "must be http:// or https://"),
        ("callback_url", "https://merchant.example.com/" + "a" * 1980, "at most 2000 characters"),
        ("success_url", "https://merchant.example.com/\x00", "Null characters are not allowed."),
        ("support_email", "not an email", "Enter a valid email address."),
        ("currency", "XXX", "Select a valid choice."),
        ("currency", "", "This field is required."),
        ("fraud_flag_threshold", "0", "greater than or equal to 1"),
        ("fraud_flag_threshold", "101", "less than or equal to 100"),
        ("fraud_flag_threshold", "3\x00", "Enter a whole number."),
        ("fraud_flag_threshold", "", "This field is required."),
        ("fraud_flag_threshold", "1e3", "Enter a whole number."),
    ],
)
@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_a_bad_value_is_shown_next_to_its_field_and_nothing_is_saved(
    as_owner, org, field, value, error, htmx
):
    callback_secret_for(org=org, mode=Mode.TEST)  # made on first use, by any page view
    before = snapshot(org)

    response = as_owner.post(
        action_urls(org.slug, "")["defaults"],
        {**VALID_DEFAULTS, field: value},
        headers=HTMX if htmx else {},
    )

    assert response.status_code == 200
    assert error in response.context["form"].errors[field][0]
    assert re.search(
        rf'setting-field--invalid">\s*<label class="setting-label" for="id_{field}"', response.text
    )
    assert f'id="id_{field}_error"' in response.text
    assert re.search(rf'name="{field}"[^>]*aria-invalid="true"', response.text) or re.search(
        rf'aria-invalid="true"[^>]*name="{field}"', response.text
    )
    assert snapshot(org) == before
    assert ("<html" in response.text) is not htmx


def test_a_callback_url_on_a_private_network_is_refused_when_private_is_not_allowed(
    as_owner, org, settings
):
    settings.CALLBACK_ALLOW_PRIVATE = False
    response = as_owner.post(
        action_urls(org.slug, "")["defaults"],
        {**VALID_DEFAULTS, "callback_url": "http://127.0.0.1:8000/hooks"},
    )
    assert "non-public address" in response.context["form"].errors["callback_url"][0]
    assert Organization.objects.get(pk=org.pk).callback_url == ""


def test_an_org_with_threshold_2_flags_a_session_with_2_failed_attempts(as_member, org):
    Organization.objects.filter(pk=org.pk).update(fraud_flag_threshold=2)
    make_session(org=org, customer_email="once@example.com", failed_attempts=1)
    make_session(org=org, customer_email="twice@example.com", failed_attempts=2)

    response = as_member.get("/dashboard/acme-test/test/sessions/")

    assert response.text.count("Fraud risk") == 1
    row = response.text.split("twice@example.com")[1].split("</tr>")[0]
    assert "Fraud risk" in row


# --- The signing secret ---------------------------------------------------------------------


def test_each_modes_page_shows_its_own_secret_masked(as_owner, org):
    test_secret = callback_secret_for(org=org, mode=Mode.TEST)
    live_secret = callback_secret_for(org=org, mode=Mode.LIVE)

    test_page, live_page = as_owner.get(PAGE).text, as_owner.get(LIVE_PAGE).text

    assert test_secret.masked in test_page and live_secret.masked not in test_page
    assert live_secret.masked in live_page and test_secret.masked not in live_page
    assert test_secret.secret not in test_page and live_secret.secret not in live_page


def test_revealing_without_javascript_renders_the_page_with_the_secret_never_cached(
    as_owner, org, owner
):
    secret = callback_secret_for(org=org, mode=Mode.LIVE)

    response = as_owner.post(action_urls(org.slug, "", mode="")["reveal"])

    assert response.status_code == 200
    assert "<html" in response.text
    assert f">{secret.secret}</code>" in response.text
    assert "no-store" in response["Cache-Control"]
    assert signing_secret(org, Mode.TEST) not in response.text
    entry = AuditEntry.objects.for_org(org).get()
    assert (entry.action, entry.user, entry.mode, entry.target) == (
        AuditEntry.Action.SECRET_REVEALED,
        owner,
        Mode.LIVE,
        secret.masked,
    )
    assert secret.secret not in as_owner.get(LIVE_PAGE).text  # masked again


def test_revealing_with_htmx_answers_the_secret_section_never_cached(as_owner, org):
    secret = callback_secret_for(org=org, mode=Mode.TEST)

    response = as_owner.post(action_urls(org.slug, "")["reveal"], headers=HTMX)

    assert response.text.startswith('\n<section id="callback-secret"')
    assert f">{secret.secret}</code>" in response.text
    assert "no-store" in response["Cache-Control"]
    assert "Callback secret revealed" in response.text  # the activity list, out of band


def test_rotating_needs_the_confirmation(as_owner, org):
    secret = callback_secret_for(org=org, mode=Mode.TEST)

    response = as_owner.post(action_urls(org.slug, "")["rotate"], {})

    assert response.status_code == 200
    assert '<details class="confirm-rotate" open>' in response.text
    assert CallbackSecret.objects.for_org(org, Mode.TEST).get() == secret
    assert not AuditEntry.objects.exists()


def test_rotating_shows_the_new_masked_secret_and_until_when_the_old_one_verifies(as_owner, org):
    old = callback_secret_for(org=org, mode=Mode.TEST)
    rotated_at = timezone.now()

    response = as_owner.post(action_urls(org.slug, "")["rotate"], {"confirm": "rotate"})

    assert response["Location"] == f"{PAGE}#callback-secret"
    new = CallbackSecret.objects.for_org(org, Mode.TEST).current().get()
    assert new.masked != old.masked
    page = as_owner.get(response["Location"]).text
    assert f'aria-label="Signing secret, masked">{new.masked}</code>' in page
    until = page.split(f"Previous secret <code>{old.masked}</code> valid until ")[1]
    expected = rotated_at + timedelta(hours=24)
    assert until.startswith(f"{expected:%-d %b %Y, %H:%M} UTC") or until.startswith(
        f"{expected + timedelta(minutes=1):%-d %b %Y, %H:%M} UTC"
    )
    assert "The test signing secret was rotated." in page
    assert old.secret not in page and new.secret not in page
    assert CallbackSecret.objects.for_org(org, Mode.LIVE).count() == 0  # the live one untouched


def test_rotating_with_htmx_answers_the_secret_section(as_owner, org):
    old = callback_secret_for(org=org, mode=Mode.TEST)

    response = as_owner.post(
        action_urls(org.slug, "")["rotate"], {"confirm": "rotate"}, headers=HTMX
    )

    assert response.text.startswith('\n<section id="callback-secret"')
    assert f"Previous secret <code>{old.masked}</code> valid until" in response.text
    assert "Callback secret rotated" in response.text


# --- Test callback --------------------------------------------------------------------------


def test_a_test_callback_without_javascript_shows_status_time_and_body_once(
    as_owner, org, receiver
):
    point_callbacks_at(org, receiver.url)
    receiver.body = b'{"received": true}'

    response = as_owner.post(action_urls(org.slug, "")["test_callback"])

    assert response["Location"] == f"{PAGE}#test-callback"
    [callback] = receiver.received
    payload = Webhook(signing_secret(org, Mode.TEST)).verify(callback.body, callback.headers)
    assert payload["type"] == "callback.test"
    page = as_owner.get(response["Location"]).text
    assert '<strong class="callback-status">[200]</strong>' in page
    assert re.search(r"in \d+ ms", page)
    assert "{&quot;received&quot;: true}</pre>" in page
    assert callback.headers["webhook-id"] in page
    assert "callback-status" not in as_owner.get(PAGE).text  # shown once


def test_a_test_callback_with_htmx_answers_its_section(as_owner, org, receiver):
    point_callbacks_at(org, receiver.url)

    response = as_owner.post(action_urls(org.slug, "")["test_callback"], headers=HTMX)

    assert response.status_code == 200
    assert response.text.startswith('\n<section id="test-callback"')
    assert '<strong class="callback-status">[200]</strong>' in response.text
    assert "Test callback sent" in response.text  # the activity list, out of band
    assert len(receiver.received) == 1


def test_a_receivers_500_is_shown_as_its_500_with_the_body_escaped(as_owner, org):
    with CallbackReceiver(statuses=[500], body=b"<script>alert(1)</script> boom") as receiver:
        point_callbacks_at(org, receiver.url)
        response = as_owner.post(action_urls(org.slug, "")["test_callback"], headers=HTMX)

    assert response.status_code == 200
    assert '<strong class="callback-status">[500]</strong>' in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; boom" in response.text
    assert "<script>alert" not in response.text
    assert "callback-result--failed" in response.text


def test_a_refused_connection_is_shown_as_such(as_owner, org):
    point_callbacks_at(org, unused_local_url())

    response = as_owner.post(action_urls(org.slug, "")["test_callback"], headers=HTMX)

    assert response.status_code == 200
    assert "no response" in response.text
    assert "Connection refused" in response.text


def test_an_ssrf_refusal_is_shown_as_such(as_owner, org, receiver, settings):
    point_callbacks_at(org, receiver.url)
    settings.CALLBACK_ALLOW_PRIVATE = False

    response = as_owner.post(action_urls(org.slug, "")["test_callback"], headers=HTMX)

    assert "resolves to a non-public address" in response.text
    assert receiver.received == []


def test_without_a_callback_url_the_page_says_to_set_one(as_owner, org):
    assert "Send test callback" not in as_owner.get(PAGE).text

    response = as_owner.post(action_urls(org.slug, "")["test_callback"], follow=True)

    assert "Set a callback URL first" in response.text
    assert not AuditEntry.objects.exists()


# --- Deliveries log -------------------------------------------------------------------------


DELIVERY_NUMBERS = itertools.count()


def make_deliveries(org, count: int, *, mode=Mode.TEST, sessions: int = 5) -> list:
    """``count`` deliveries of ``org`` in ``mode``, newest last, over a few sessions."""
    owners = [make_session(org=org, mode=mode) for _ in range(min(sessions, count))]
    now, nobody_listens = timezone.now(), unused_local_url()
    statuses = list(CallbackDelivery.Status)
    return CallbackDelivery.objects.bulk_create(
        CallbackDelivery(
            public_id=f"msg_{mode}{next(DELIVERY_NUMBERS):030d}",
            session=owners[index % len(owners)],
            org=org,
            mode=mode,
            event_type=CallbackEvent.COMPLETED,
            url=nobody_listens,
            payload="{}",
            status=statuses[index % 3],
            attempts=index % 4,
            last_status_code=500 if index % 3 == 2 else None,
            last_error="HTTP 500" if index % 3 == 2 else "",
            next_attempt_at=now + timedelta(minutes=5) if index % 3 == 0 else None,
            created_at=now - timedelta(seconds=count - index),
        )
        for index in range(count)
    )


def test_the_log_shows_this_org_and_modes_deliveries_with_their_session_and_state(
    as_member, org, django_capture_on_commit_callbacks
):
    delivery = failed_delivery(org, django_capture_on_commit_callbacks)
    other_mode = failed_delivery(org, django_capture_on_commit_callbacks, mode=Mode.LIVE)
    other_org = failed_delivery(OrganizationFactory(), django_capture_on_commit_callbacks)

    text = as_member.get(PAGE).text

    assert delivery.public_id in text
    assert other_mode.public_id not in text and other_org.public_id not in text
    [row] = [row for row in text.split("<tr>") if delivery.public_id in row]
    assert f'href="/dashboard/acme-test/test/sessions/{delivery.session.public_id}"' in row
    assert "checkout.session.completed" in row
    assert "Failed (gave up)" in row
    assert "Connection refused" in row
    assert "Redeliver" not in row  # a member


def test_the_log_pages_newest_first_with_htmx_swapping_the_log_only(as_owner, org):
    deliveries = make_deliveries(org, 25)
    newest_first = [delivery.public_id for delivery in reversed(deliveries)]

    first = as_owner.get(PAGE)
    assert [row.public_id for row in first.context["deliveries"].rows] == newest_first[:20]
    assert first.context["newer_url"] is False
    older_url = first.context["older_url"]
    assert older_url == f"{PAGE}?after={newest_first[19]}#deliveries"

    older = as_owner.get(older_url.split("#")[0], headers={**HTMX, "HX-Target": "deliveries"})
    assert older.text.startswith('\n<section id="deliveries"')
    assert [row.public_id for row in older.context["deliveries"].rows] == newest_first[20:]
    assert older.context["older_url"] is False
    back = as_owner.get(older.context["newer_url"].split("#")[0])
    assert [row.public_id for row in back.context["deliveries"].rows] == newest_first[:20]


@pytest.mark.parametrize(
    "cursor", ["msg_\x00", "msg_" + "a" * 5000, "msg_ａｂｃ" + "a" * 30, "cs_test_x", "' OR 1=1"]
)
def test_a_junk_page_position_shows_the_first_page(as_owner, org, cursor):
    make_deliveries(org, 3)
    response = as_owner.get(PAGE, {"after": cursor, "before": cursor})
    assert response.status_code == 200
    assert len(response.context["deliveries"].rows) == 3


@pytest.mark.parametrize("role", ["owner", "member"])
def test_the_page_costs_the_same_queries_with_5_and_200_deliveries(
    client, org, role, request, django_assert_num_queries, django_assert_max_num_queries
):
    client.force_login(request.getfixturevalue(role))
    Organization.objects.filter(pk=org.pk).update(callback_url="https://merchant.example.com/h")
    make_deliveries(org, 5)
    client.get(PAGE)  # the secret is created on first use
    with django_assert_max_num_queries(10) as queries:
        assert client.get(PAGE).status_code == 200
    counted = len(queries.captured_queries)
    make_deliveries(org, 195, sessions=50)
    with django_assert_num_queries(counted):
        response = client.get(PAGE)
    assert len(response.context["deliveries"].rows) == 20


@pytest.mark.postgres
def test_the_log_reads_one_range_of_its_index_on_postgresql(org):
    make_deliveries(org, 300, sessions=10)
    make_deliveries(OrganizationFactory(), 300, sessions=10)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE checkout_callbackdelivery")
    deliveries = CallbackDelivery.objects.for_org(org, Mode.TEST).select_related("session")

    plan = deliveries.newest_first()[:21].explain()

    assert "callback_org_mode_created" in plan
    assert "Sort" not in plan


# --- Redelivery -----------------------------------------------------------------------------


# Real commits: the immediate task backend runs the attempt when the redelivery commits,
# inside the request, as it would outside the test suite.
@pytest.mark.django_db(transaction=True)
def test_redelivering_reaches_the_receiver_with_the_first_attempts_webhook_id(as_owner, org, owner):
    with CallbackReceiver(statuses=[500]) as receiver:
        session = make_session(org=org, callback_url=receiver.url)
        with transaction.atomic():
            delivery = enqueue_session_callback(session=session, event_type=CallbackEvent.COMPLETED)
        response = as_owner.post(action_urls(org.slug, delivery.public_id)["redeliver"])

    assert response["Location"] == f"{PAGE}#deliveries"
    first, again = receiver.received
    assert again.headers["webhook-id"] == first.headers["webhook-id"] == delivery.public_id
    Webhook(signing_secret(org)).verify(again.body, again.headers)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (CallbackDelivery.Status.DELIVERED, 2)
    entry = AuditEntry.objects.for_org(org).get()
    assert (entry.action, entry.user, entry.target) == (
        AuditEntry.Action.CALLBACK_REDELIVERED,
        owner,
        delivery.public_id,
    )
    page = as_owner.get(response["Location"]).text
    assert f"{delivery.public_id} was sent again and delivered (HTTP 200)." in page


@pytest.mark.django_db(transaction=True)
def test_redelivering_with_htmx_answers_the_log_on_the_same_page(as_owner, org):
    deliveries = make_deliveries(org, 25)
    failed = deliveries[2]  # on the second page
    response = as_owner.post(
        action_urls(org.slug, failed.public_id)["redeliver"],
        {"after": deliveries[5].public_id},
        headers=HTMX,
    )

    assert response.text.startswith('\n<section id="deliveries"')
    assert f"{failed.public_id} was sent again and failed" in response.text
    assert [row.public_id for row in response.context["deliveries"].rows] == [
        delivery.public_id for delivery in reversed(deliveries[:5])
    ]


def test_a_delivered_callback_is_not_redelivered(
    as_owner, org, receiver, django_capture_on_commit_callbacks
):
    session = make_session(org=org, callback_url=receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        delivery = enqueue_session_callback(session=session, event_type=CallbackEvent.COMPLETED)

    response = as_owner.post(action_urls(org.slug, delivery.public_id)["redeliver"], follow=True)

    assert "This callback was delivered already." in response.text
    assert len(receiver.received) == 1
    assert not AuditEntry.objects.exists()


def test_another_orgs_or_modes_delivery_is_404(as_owner, org, django_capture_on_commit_callbacks):
    other_org = failed_delivery(OrganizationFactory(), django_capture_on_commit_callbacks)
    live = failed_delivery(org, django_capture_on_commit_callbacks, mode=Mode.LIVE)
    before = list(CallbackDelivery.objects.values("status", "attempts"))

    assert as_owner.post(action_urls(org.slug, other_org.public_id)["redeliver"]).status_code == 404
    assert as_owner.post(action_urls(org.slug, live.public_id)["redeliver"]).status_code == 404
    assert list(CallbackDelivery.objects.values("status", "attempts")) == before
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize(
    "delivery_id",
    [
        "msg_" + "a" * 32,  # well formed, unknown
        "msg_%00" + "a" * 30,
        "msg_" + "a" * 5000,
        "msg_ａ" + "a" * 31,  # a full-width look-alike
        "cs_test_" + "a" * 32,
        "%E2%80%AE",
    ],
)
def test_an_unknown_or_malformed_delivery_id_is_404(as_owner, org, delivery_id):
    response = as_owner.post(
        f"/dashboard/{org.slug}/test/settings/deliveries/{delivery_id}/redeliver"
    )
    assert response.status_code == 404


def test_the_mode_switch_of_a_rendered_action_opens_the_other_modes_settings(as_owner, org):
    response = as_owner.post(action_urls(org.slug, "")["reveal"])
    assert response.context["request"].dashboard.other_mode_url == LIVE_PAGE
