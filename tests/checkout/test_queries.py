"""The list reads shared by the API and the dashboard: search, filters and keyset pages."""

from datetime import timedelta

import pytest
from django.utils import timezone

from checkout.choices import SessionSource
from checkout.models import CheckoutSession
from checkout.queries import Cursor
from tests.factories import PaymentLinkFactory, make_session

pytestmark = pytest.mark.django_db


def listed(org, mode="test"):
    return CheckoutSession.objects.for_org(org, mode)


def test_search_finds_a_session_by_its_id(org):
    wanted, _other = make_session(org=org), make_session(org=org)

    assert list(listed(org).search(wanted.public_id)) == [wanted]


def test_search_finds_a_session_by_its_order_id_and_number(org):
    wanted, _other = make_session(org=org), make_session(org=org)

    assert list(listed(org).search(wanted.order.public_id)) == [wanted]
    assert list(listed(org).search(str(wanted.order.number))) == [wanted]
    assert list(listed(org).search(f"#{wanted.order.number}")) == [wanted]


def test_search_finds_emails_exactly_and_by_prefix(org):
    jenny = make_session(org=org, customer_email="jenny.rosen@example.com")
    make_session(org=org, customer_email="alice@example.com")

    assert list(listed(org).search("jenny.rosen@example.com")) == [jenny]
    assert list(listed(org).search("jenny")) == [jenny]
    assert list(listed(org).search("  JENNY.R ")) == [jenny]
    assert list(listed(org).search("rosen")) == []  # a prefix, not a substring


def test_search_never_leaves_the_org_and_mode(org):
    other_org_session = make_session(customer_email="jenny@example.com")
    live = make_session(org=org, mode="live", customer_email="jenny@example.com")

    assert list(listed(org).search("jenny@example.com")) == []
    assert list(listed(org).search(other_org_session.public_id)) == []
    assert list(listed(org).search(live.public_id)) == []


def test_filters_by_payment_link_source_and_date_range(org):
    link = PaymentLinkFactory(org=org)
    now = timezone.now()
    from_link = make_session(link=link, created_at=now - timedelta(days=2))
    from_api = make_session(org=org, created_at=now - timedelta(days=5))

    assert list(listed(org).for_payment_link(link)) == [from_link]
    assert list(listed(org).from_source(SessionSource.API)) == [from_api]
    assert list(listed(org).created_between(now - timedelta(days=3), now)) == [from_link]
    assert list(listed(org).created_between(end=now - timedelta(days=3))) == [from_api]


def test_keyset_pages_walk_every_row_once_even_when_created_at_ties(org):
    same_moment = timezone.now() - timedelta(minutes=5)
    sessions = [make_session(org=org, created_at=same_moment) for _ in range(4)]
    sessions += [
        make_session(org=org, created_at=same_moment - timedelta(seconds=s)) for s in (1, 2, 3)
    ]
    expected = list(listed(org).newest_first())

    seen, cursor = [], None
    while True:
        page = listed(org).page(limit=3, after=cursor)
        seen += page.rows
        if not page.has_older:
            break
        cursor = Cursor.of(page.rows[-1])

    assert seen == expected
    assert len(seen) == len(sessions)


def test_keyset_page_before_a_cursor_returns_the_newer_rows_newest_first(org):
    start = timezone.now() - timedelta(hours=1)
    for minute in range(7):
        make_session(org=org, created_at=start + timedelta(minutes=minute))
    newest_first = list(listed(org).newest_first())

    older_page = listed(org).page(limit=3, after=Cursor.of(newest_first[2]))
    back = listed(org).page(limit=3, before=Cursor.of(older_page.rows[0]))

    assert older_page.rows == newest_first[3:6]
    assert back.rows == newest_first[0:3]
    assert back.has_newer is False and back.has_older is True
