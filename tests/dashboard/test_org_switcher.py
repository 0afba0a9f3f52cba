"""The org switcher keeps the section: Orders → the other org's Orders; a page of one object
(which can't exist in another org) → that section's list; built without a query."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import resolve

from dashboard.access import org_switcher_links
from orgs.models import Membership
from tests.factories import MembershipFactory, OrganizationFactory, make_session

pytestmark = pytest.mark.django_db


@pytest.fixture
def zeta(member):
    return MembershipFactory(user=member, org=OrganizationFactory(slug="zeta", name="Zeta Tea"))


def switcher_links(response) -> dict[str, str]:
    """Org name → the link the switcher offers for it."""
    switcher = response.text.split('class="org-switcher"')[1].split("</details>")[0]
    return {name: url for url, name in re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', switcher)}


@pytest.mark.parametrize("section", ["sessions/", "orders/", "links/", "team/", "api-keys/"])
def test_switching_org_keeps_the_section(client, org, member, zeta, section):
    client.force_login(member)
    links = switcher_links(client.get(f"/dashboard/{org.slug}/test/{section}"))
    assert links == {
        "Acme Test Co.": f"/dashboard/{org.slug}/test/{section}",
        "Zeta Tea": f"/dashboard/zeta/test/{section}",
    }


def test_switching_org_keeps_the_mode(client, org, member, zeta):
    client.force_login(member)
    links = switcher_links(client.get(f"/dashboard/{org.slug}/team/"))
    assert links["Zeta Tea"] == "/dashboard/zeta/team/"


def test_from_a_sessions_page_the_switch_opens_the_other_orgs_list(client, org, member, zeta):
    session = make_session(org=org)
    client.force_login(member)
    links = switcher_links(client.get(f"/dashboard/{org.slug}/test/sessions/{session.public_id}"))
    assert links["Zeta Tea"] == "/dashboard/zeta/test/sessions/"
    assert client.get(links["Zeta Tea"]).status_code == 200


def test_the_current_org_is_marked(client, org, member, zeta):
    client.force_login(member)
    page = client.get(f"/dashboard/{org.slug}/test/team/").text
    assert (
        f'<a href="/dashboard/{org.slug}/test/team/" aria-current="true">Acme Test Co.</a>' in page
    )


def test_from_an_owners_only_page_an_org_where_you_are_a_member_opens_its_sessions(org, owner):
    member_elsewhere = MembershipFactory(
        user=owner, org=OrganizationFactory(slug="zeta"), role="member"
    )
    owner_elsewhere = MembershipFactory(
        user=owner, org=OrganizationFactory(slug="omega"), role="owner"
    )
    memberships = [Membership.objects.get(org=org, user=owner), member_elsewhere, owner_elsewhere]
    match = resolve(f"/dashboard/{org.slug}/test/team/")
    links = org_switcher_links(
        memberships, memberships[0], match, "test", switch_to=None, owner_only=True
    )
    assert [link.url for link in links] == [
        f"/dashboard/{org.slug}/test/team/",
        "/dashboard/zeta/test/sessions/",
        "/dashboard/omega/test/team/",
    ]
    assert [link.is_current for link in links] == [True, False, False]


def test_an_owners_action_page_switches_to_the_team_page(org, owner):
    other = MembershipFactory(user=owner, org=OrganizationFactory(slug="zeta"), role="owner")
    memberships = [Membership.objects.get(org=org, user=owner), other]
    match = resolve(f"/dashboard/{org.slug}/test/team/invite")
    links = org_switcher_links(
        memberships, memberships[0], match, "test", switch_to="dashboard:team", owner_only=True
    )
    assert [link.url for link in links] == [
        f"/dashboard/{org.slug}/test/team/",
        "/dashboard/zeta/test/team/",
    ]


def test_more_orgs_cost_no_query(client, org, member):
    client.force_login(member)
    url = f"/dashboard/{org.slug}/test/team/"
    with CaptureQueriesContext(connection) as one_org:
        client.get(url)
    for n in range(5):
        MembershipFactory(user=member, org=OrganizationFactory(slug=f"org-{n}"))
    with CaptureQueriesContext(connection) as six_orgs:
        response = client.get(url)
    assert len(switcher_links(response)) == 6
    assert len(six_orgs) == len(one_org)
