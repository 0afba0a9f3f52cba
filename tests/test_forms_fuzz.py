"""Every dashboard form and the hosted forms not fuzzed in tests/checkout/test_hosted_bad_input.py
(the payment link's POST, the portal's query) take whatever Hypothesis sends — NUL bytes,
huge strings, look-alike letters, numbers as strings — as a form error or an ordinary answer,
never a 5xx. The fields are read from each page's own HTML, so a field added later is fuzzed
too. Posted as a logged-in owner, on whichever database DATABASE_URL names."""

import re

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkout.portal import PortalScope, portal_path
from orgs.models import Invitation
from orgs.team import invitation_token
from tests.factories import PaymentLinkFactory, make_session

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
HOSTILE = [
    "",
    "\x00",
    "a\x00b",
    "x" * 100_000,
    "ｊｅｎｎｙ",
    "gmaıl.com",
    "раypal",
    "\u202eevil",
    "-1",
    "0",
    "1e309",
    "NaN",
    "99999999999999999999999",
    "0x10",
    "2026-02-30",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "%00",
]
value = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=200),  # surrogates are not text a browser can send; Hypothesis omits them
    st.integers().map(str),
    st.decimals(allow_nan=False).map(str),
)
FIELD = re.compile(r'<(?:input|select|textarea)[^>]*\bname="([^"]+)"')
SKIPPED_FIELDS = {"csrfmiddlewaretoken"}


def field_names(html: str) -> list[str]:
    return sorted(set(FIELD.findall(html)) - SKIPPED_FIELDS)


def fields_strategy(names: list[str]) -> st.SearchStrategy[dict]:
    """Some of the fields (a missing one is input too), each hostile, some given twice."""
    return st.dictionaries(st.sampled_from(names), st.one_of(value, st.lists(value, max_size=3)))


@pytest.fixture
def owner_client(org, owner):
    client = Client()
    client.force_login(owner)
    return client


@pytest.fixture
def objects(org, owner):
    link = PaymentLinkFactory(org=org)
    session = make_session(org=org)
    paid = make_session(org=org, paid=True)
    invitation = Invitation.objects.create(org=org, email="new@example.com", role="member")
    return {"link": link, "session": session, "paid": paid, "invitation": invitation}


def dashboard_url(name, org, **kwargs):
    return reverse(f"dashboard:{name}", kwargs={"org_slug": org.slug, "mode": "test", **kwargs})


# (page to read the fields from, URL the form posts to); lambdas see (org, objects).
DASHBOARD_FORMS = {
    "extend expiry": lambda org, o: (
        dashboard_url("session_detail", org, session_id=o["session"].public_id),
        dashboard_url("session_extend_expiry", org, session_id=o["session"].public_id),
    ),
    "recover": lambda org, o: (
        dashboard_url("session_detail", org, session_id=o["session"].public_id),
        dashboard_url("session_recover", org, session_id=o["session"].public_id),
    ),
    "payment link create": lambda org, o: (
        dashboard_url("link_create", org),
        dashboard_url("link_create", org),
    ),
    "payment link edit": lambda org, o: (
        dashboard_url("link_edit", org, link_id=o["link"].public_id),
        dashboard_url("link_edit", org, link_id=o["link"].public_id),
    ),
    "api key create": lambda org, o: (
        dashboard_url("api_keys", org),
        dashboard_url("api_key_create", org),
    ),
    "checkout settings defaults": lambda org, o: (
        dashboard_url("settings", org),
        dashboard_url("settings_defaults", org),
    ),
    "team invite": lambda org, o: (dashboard_url("team", org), dashboard_url("team_invite", org)),
}
LIST_PAGES = ["sessions", "sessions_poll", "sessions_export", "orders", "links", "api_keys", "team"]


@pytest.mark.parametrize("form", list(DASHBOARD_FORMS))
def test_dashboard_form_never_answers_5xx(owner_client, org, objects, form):
    page, action = DASHBOARD_FORMS[form](org, objects)
    names = field_names(owner_client.get(page).text)
    assert names, f"no fields found on {page}"

    @FUZZ
    @given(data=fields_strategy(names), htmx=st.booleans())
    def post(data, htmx):
        headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
        assert owner_client.post(action, data, **headers).status_code < 500

    post()


@pytest.mark.parametrize("list_page", LIST_PAGES)
def test_dashboard_list_query_never_answers_5xx(owner_client, org, objects, list_page):
    url = dashboard_url(list_page, org)
    names = field_names(owner_client.get(dashboard_url("sessions", org)).text) + [
        "q",
        "page",
        "status",
        "sort",
        "from",
        "to",
        "cursor",
    ]

    @FUZZ
    @given(query=fields_strategy(names))
    def get(query):
        assert owner_client.get(url, query).status_code < 500

    get()


def test_team_role_form_never_answers_5xx(owner_client, org, owner, objects):
    membership = owner.memberships.get(org=org)
    url = dashboard_url("team_role", org, membership_id=membership.pk)

    @FUZZ
    @given(data=fields_strategy(["role"]))
    def post(data):
        assert owner_client.post(url, data).status_code < 500

    post()


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/", "/accounts/password_reset/"])
def test_account_form_never_answers_5xx(org, path):
    names = field_names(Client().get(path).text)

    @FUZZ
    @given(data=fields_strategy(names), ip=st.sampled_from(["198.51.100.1", "2001:db8::1", ""]))
    def post(data, ip):
        assert Client().post(path, data, REMOTE_ADDR=ip).status_code < 500

    post()


def test_invitation_accept_form_never_answers_5xx(org, objects):
    url = reverse("dashboard:invitation", args=[invitation_token(objects["invitation"])])
    names = field_names(Client().get(url).text) or ["username", "password", "password2"]

    @FUZZ
    @given(data=fields_strategy(names + ["action"]))
    def post(data):
        assert Client().post(url, data).status_code < 500

    post()


def test_payment_link_post_never_answers_5xx(org, objects):
    url = f"/pay/{objects['link'].public_id}"

    @FUZZ
    @given(data=fields_strategy(["quantity", "action", "next"]), agent=value)
    def post(data, agent):
        assert Client().post(url, data, HTTP_USER_AGENT=agent).status_code < 500

    post()


def test_portal_query_never_answers_5xx(org, objects):
    url = portal_path(objects["paid"].order, scope=PortalScope.ORDER)

    @FUZZ
    @given(query=fields_strategy(["page", "order", "scope", "q"]))
    def get(query):
        assert Client().get(url, query).status_code < 500

    get()
