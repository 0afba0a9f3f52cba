"""Every form a browser can post here (the dashboard's, the account pages', the invitation's, the
hosted checkout's two steps, the payment link's button), every page's URL parameters, every id in
a path and the request headers we read take whatever a client sends as a form error, a 404 or an
ordinary answer: never a 5xx. A form that refuses a post writes nothing, and another org's ids
are "not found" in this org's dashboard.

Each form gets two passes:

- a sweep: a post the form accepts, with one field at a time left out or replaced by each
  ``SHARP`` value (a NUL byte, 10,000 characters, a too-long value of a shape the field's own
  parser accepts, line breaks and bidi controls, look-alike letters, non-ASCII digits, int64 + 1,
  the last date). The guards behind validation (a column's length when a service
  saves, a parse after ``is_valid()``) only run when every other field is valid, which random
  data rarely is, so the sweep is what reaches them;
- Hypothesis: random posts (fields missing or given twice, or an accepted post with one field
  replaced by anything), with and without HTMX.

Field names are read from each form's own HTML, so a field added later is fuzzed too. The
dashboard posts as a logged-in owner, everyone else from a fresh client and a fresh client IP (so
no per-IP limit answers in place of the code under test), on whichever database DATABASE_URL
names. Mutation-checked (README, "Tests and CI"): removing an input guard turns them red, unless
another layer repeats it (a service's full_clean behind a form's max_length).
"""

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from django import forms
from django.core import signing
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import ContextList
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkout.effective_settings import RequiredFieldSet
from checkout.models import CheckoutSession, Order, PaymentAttempt, TimelineEvent
from checkout.portal import PORTAL_SALT, PortalScope, portal_path, portal_token
from checkout.request_context import CustomerContext
from checkout.services import save_customer_details
from orgs.models import ApiKey, AuditEntry, Invitation, Membership, Organization, PaymentLink
from orgs.team import invitation_token
from tests.factories import (
    MembershipFactory,
    OrganizationFactory,
    PaymentLinkFactory,
    card_form_data,
    expired_session,
    make_session,
)

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's
LONG = "x" * 10_000  # past every max_length here, and past what a btree index row takes
# One value of each kind that has broken a form somewhere. The sweep puts each, in turn, in every
# free-text field of an otherwise accepted post.
SHARP = [
    "",
    "a\x00b",
    LONG,
    # Too long, but of a shape the field's own parser accepts: past the parser, only the
    # field's max_length stands between the value and the column.
    "+1 415 555 0100" + "-" * 1000,
    "x" * 300 + "@example.com",
    "https://example.com/" + "a" * 2100,
    "4242424242424242" * 25,  # 400 digits that pass the Luhn check
    "\r\n\t\x1b[31m\u202eevil\u2028",
    "jenny@gmaıl.com",  # dotless ı: a look-alike domain
    "１２３٤٥",  # fullwidth and Arabic-Indic digits: str.isdigit() and int() take them
    "-1",
    "9223372036854775808",  # int64 + 1
    "1e309",
    "9999-12-31",  # the last date: no day after it
]
# URL parameters get more (a GET is cheap): numbers past any column, the first date.
PARAMETER_SHARP = [*SHARP, "99999999999999999999999", "0001-01-01", "#9999999999999999999"]
# A field that takes listed values only (a select, a checkbox, a hidden or button value) must
# refuse anything else; these say whether it does as well as all of SHARP would.
NOT_A_CHOICE = ["", "a\x00b", LONG, "-1", "１２３٤٥"]
MISSING = object()
value = st.one_of(
    st.sampled_from(SHARP),
    st.text(max_size=300),  # Hypothesis' text has no lone surrogates, which HTTP can't carry
    st.integers(min_value=-(2**64), max_value=2**64).map(str),
    st.decimals(allow_nan=False).map(str),
    st.dates().map(str),  # 0001-01-01 to 9999-12-31
)
# The request headers we read, and client addresses good and bad.
HEADERS = ["HTTP_USER_AGENT", "HTTP_ACCEPT", "HTTP_ACCEPT_LANGUAGE", "HTTP_X_FORWARDED_FOR"]
HEADER_SHARP = [
    "",
    "a\x00b",
    LONG,
    "\r\n\x1b[31m\u202e",
    "１２３٤٥",
    "junk",
    "999.1.1.1",
    "::ffff:198.51.100.7",
    "2001:db8::1%eth0",
    "198.51.100.7, 203.0.113.9",
]
header_value = st.one_of(st.sampled_from(HEADER_SHARP), st.text(max_size=300))
headers_strategy = st.dictionaries(st.sampled_from([*HEADERS, "REMOTE_ADDR"]), header_value)
FORM = re.compile(r"<form\b(?P<attrs>[^>]*)>(?P<body>.*?)</form>", re.DOTALL)
FIELD = re.compile(r"<(?P<tag>input|select|textarea|button)\b(?P<attrs>[^>]*)>")
CHOICE_INPUTS = {"checkbox", "radio", "hidden", "submit"}
SKIPPED_FIELDS = {"csrfmiddlewaretoken"}
client_numbers = itertools.count(1)
# What a refused post must not have written rows of.
COUNTED = [AuditEntry, TimelineEvent, PaymentLink, ApiKey, Invitation, Membership]
COUNTED += [CheckoutSession, Order, PaymentAttempt]


def fresh_address() -> str:
    """A client address no request used before (an IPv6 client counts per /64: one each)."""
    n = next(client_numbers)
    return f"2001:db8:{n:x}::1" if n % 2 else f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"


def form_fields(html: str, action: str) -> dict[str, bool]:
    """The fields of the form on ``html`` that posts to ``action`` (a form without an action
    posts to its page), each with whether it takes listed values only."""
    for form in FORM.finditer(html):
        target = re.search(r'\b(?:action|hx-post)="([^"]*)"', form["attrs"])
        if target is not None and target[1] not in ("", action):
            continue
        fields = {}
        for tag in FIELD.finditer(form["body"]):
            name = re.search(r'\bname="([^"]+)"', tag["attrs"])
            kind = re.search(r'\btype="([^"]+)"', tag["attrs"])
            if name is None or name[1] in SKIPPED_FIELDS:
                continue
            fields[name[1]] = tag["tag"] in ("select", "button") or (
                tag["tag"] == "input" and kind is not None and kind[1] in CHOICE_INPUTS
            )
        return fields
    raise AssertionError(f"no form posting to {action}")


def written_rows() -> tuple:
    """What a write changes: row counts, sessions with details, the orgs' settings."""
    name = connection.ops.quote_name
    tables = [name(model._meta.db_table) for model in COUNTED]
    tables.append(f"{name(CheckoutSession._meta.db_table)} WHERE details_provided_at IS NOT NULL")
    # One query for all the counts (it runs after every post), of our own table names only.
    counts = ", ".join(f"(SELECT COUNT(*) FROM {table})" for table in tables)  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {counts}")
        rows = cursor.fetchone()
    return (*rows, list(Organization.objects.order_by("pk").values()))


def refused(response) -> bool:
    """The answer shows a bound form's errors: a form refused the post."""
    contexts = response.context
    if contexts is None:
        return False
    if not isinstance(contexts, ContextList):
        contexts = [contexts]
    return any(
        isinstance(item, forms.BaseForm) and item.is_bound and bool(item.errors)
        for context in contexts
        for item in context.flatten().values()
    )


def shown(data: dict) -> dict:
    """``data`` for a failure message (a long value cut short)."""
    return {name: str(item)[:60] for name, item in data.items()}


@dataclass
class Form:
    """A form: ``open()`` gives the page it is on and the URL it posts to, ``valid`` a post
    it accepts, ``client()`` who posts. A ``fresh`` form's object (a session, an invitation)
    may be used up by a post the form did not refuse: it is opened anew after one."""

    open: Callable[[], tuple[str, str]]
    valid: dict
    client: Callable[[], Client]
    fresh: bool = False
    target: tuple[str, str] | None = None
    rows: tuple | None = None

    def where(self) -> tuple[str, str]:
        if self.target is None:
            self.target = self.open()
        return self.target

    def fields(self) -> dict[str, bool]:
        page, action = self.where()
        fields = form_fields(self.client().get(page, REMOTE_ADDR=fresh_address()).text, action)
        assert fields, f"no fields in the form posting to {action}"
        return fields

    def post(self, data: dict, *, htmx: bool = False, **headers) -> None:
        """Post ``data``: never a 5xx; refused, nothing written."""
        if self.target is None or self.rows is None:
            self.where()
            self.rows = written_rows()  # after open(): a new object is no write of the post
        action = self.target[1]
        headers = {"REMOTE_ADDR": fresh_address(), **headers}
        if htmx:
            headers["HTTP_HX_REQUEST"] = "true"
        response = self.client().post(action, data, **headers)
        assert response.status_code < 500, f"{response.status_code}: {action} {shown(data)}"
        rows, self.rows = self.rows, written_rows()
        if refused(response):
            assert self.rows == rows, f"refused, yet written: {action} {shown(data)}"
        elif self.fresh:
            self.target = None


def sweep(form: Form, fields: dict[str, bool]) -> None:
    """Post ``form.valid`` with each field, in turn, left out and given each value."""
    for name, is_choice in fields.items():
        for index, replacement in enumerate([MISSING, *(NOT_A_CHOICE if is_choice else SHARP)]):
            data = {key: item for key, item in form.valid.items() if key != name}
            if replacement is not MISSING:
                data[name] = replacement
            form.post(data, htmx=bool(index % 2))


def submissions(names: list[str], valid: dict) -> st.SearchStrategy[dict]:
    """Some of the fields (a missing one is input too), each anything, some given twice; or
    an accepted post with one field replaced."""
    one = st.one_of(value, st.lists(value, min_size=2, max_size=3))
    return st.one_of(
        st.dictionaries(st.sampled_from(names), one),
        st.tuples(st.sampled_from(names), one).map(lambda pair: {**valid, pair[0]: pair[1]}),
    )


# --- Who posts, and what the forms act on -------------------------------------------------------


@pytest.fixture(autouse=True)
def quick_password_hashing():
    """Every login attempt runs the password hasher (for unknown usernames too): MD5 here, so
    the forms' own code is what takes the time (the owner's password is hashed with it too)."""
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture
def owner_client(org, owner):
    client = Client()
    client.force_login(owner)
    return client


@pytest.fixture
def foreign(db) -> dict[str, str]:
    """The ids of another org's session, order and payment link: "not found" here."""
    other = OrganizationFactory(slug="other-org", name="Other Org")
    paid = make_session(org=other, paid=True)
    return {
        "session": paid.public_id,
        "order": paid.order.public_id,
        "link": PaymentLinkFactory(org=other).public_id,
    }


@pytest.fixture
def objects(org, owner):
    return {
        "link": PaymentLinkFactory(org=org),
        "session": make_session(org=org),
        "expired": expired_session(org=org),
        "paid": make_session(org=org, paid=True),
        "member": MembershipFactory(org=org, role=Membership.Role.MEMBER),
        "invitation": Invitation.objects.create(org=org, email="new@example.com", role="member"),
    }


def dashboard_url(name, org, **kwargs):
    return reverse(f"dashboard:{name}", kwargs={"org_slug": org.slug, "mode": "test", **kwargs})


def new_invitation(org) -> tuple[str, str]:
    """A new invitation's link (its page and its form's action): accepting uses it up."""
    email = f"invited{next(client_numbers)}@example.com"
    url = reverse(
        "dashboard:invitation",
        args=[invitation_token(Invitation.objects.create(org=org, email=email, role="member"))],
    )
    return url, url


def new_checkout(org, required: RequiredFieldSet, *, step: str) -> tuple[str, str]:
    """A new session's page and the URL of its ``step`` (details; pay, once details are in)."""
    session = make_session(org=org, customer_email="", required_fields=required)
    if step == "pay":
        details = {"customer_email": "zoe@example.com"}
        save_customer_details(session=session, details=details, context=CustomerContext())
    return f"/checkout/{session.public_id}", f"/checkout/{session.public_id}/{step}"


PAYMENT_LINK = {
    "name": "Espresso beans",
    "description": "1 kg, whole",
    "price": "12.50",
    "quantity": "2",
    "currency": "",
    "success_url": "https://example.com/thanks",
    "callback_url": "",
    "require_phone": "on",
}
DETAILS = {
    "email": "zoe@example.com",
    "phone": "+1 415 555 0100",
    "country": "US",
    "postal_code": "94107",
    "shipping_name": "Zoë Adams",
    "shipping_line1": "1 Main St",
    "shipping_line2": "Apt 2",
    "shipping_city": "Springfield",
    "shipping_state": "CA",
    "shipping_postal_code": "94107",
    "shipping_country": "US",
}
EVERYTHING_REQUIRED = RequiredFieldSet(phone=True, shipping_address=True)


@pytest.fixture
def all_forms(org, owner, owner_client, objects) -> dict[str, Form]:
    session, expired, link = objects["session"], objects["expired"], objects["link"]
    member = objects["member"]

    def as_owner() -> Client:
        return owner_client

    def on_page(page: str, action: str, **ids) -> Callable[[], tuple[str, str]]:
        return lambda: (dashboard_url(page, org, **ids), dashboard_url(action, org, **ids))

    return {
        "extend expiry": Form(
            on_page("session_detail", "session_extend_expiry", session_id=session.public_id),
            {"minutes": "15"},
            as_owner,
        ),
        "recover": Form(
            on_page("session_detail", "session_recover", session_id=expired.public_id),
            {"send": "mailto"},
            as_owner,
        ),
        "payment link create": Form(on_page("link_create", "link_create"), PAYMENT_LINK, as_owner),
        "payment link edit": Form(
            on_page("link_edit", "link_edit", link_id=link.public_id), PAYMENT_LINK, as_owner
        ),
        "api key create": Form(
            on_page("api_keys", "api_key_create"), {"name": "Production web server"}, as_owner
        ),
        "checkout settings": Form(
            on_page("settings", "settings_defaults"),
            {
                "currency": "EUR",
                "success_url": "https://example.com/thanks",
                "callback_url": "",
                "terms_url": "https://example.com/terms",
                "privacy_url": "example.com/privacy",
                "support_email": "help@example.com",
                "require_location": "on",
                "fraud_flag_threshold": "5",
            },
            as_owner,
        ),
        "rotate secret": Form(
            on_page("settings", "secret_rotate"), {"confirm": "rotate"}, as_owner
        ),
        "team invite": Form(
            on_page("team", "team_invite"), {"email": "new@example.com", "role": "member"}, as_owner
        ),
        "team role": Form(
            lambda: (
                dashboard_url("team", org),
                dashboard_url("team_role", org, membership_id=member.pk),
            ),
            {"role": "member"},
            as_owner,
        ),
        "erase customer": Form(
            on_page("privacy", "privacy_erase"),
            {"email": "alice@example.com", "email_again": "Alice@Example.com"},
            as_owner,
        ),
        "invitation accept": Form(
            lambda: new_invitation(org),
            {"username": "newcomer", "password": PASSWORD, "password_again": PASSWORD},
            Client,
            fresh=True,
        ),
        "login": Form(
            lambda: ("/accounts/login/", "/accounts/login/"),
            {"username": owner.username, "password": PASSWORD, "next": "/dashboard/"},
            Client,
        ),
        "admin login": Form(
            lambda: ("/admin/login/", "/admin/login/"),
            {"username": owner.username, "password": PASSWORD, "next": "/admin/"},
            Client,
        ),
        "password reset": Form(
            lambda: ("/accounts/password_reset/", "/accounts/password_reset/"),
            {"email": owner.email},
            Client,
        ),
        "password change": Form(
            lambda: ("/accounts/password_change/", "/accounts/password_change/"),
            {
                "old_password": PASSWORD,
                "new_password1": "a new one, 2026!",
                "new_password2": "a new one, 2026!",
            },
            as_owner,
        ),
        "hosted details": Form(
            lambda: new_checkout(org, EVERYTHING_REQUIRED, step="details"), DETAILS, Client
        ),
        "hosted details, location": Form(
            lambda: new_checkout(org, RequiredFieldSet(location=True), step="details"),
            DETAILS,
            Client,
        ),
        "hosted pay": Form(
            lambda: new_checkout(org, RequiredFieldSet(), step="pay"),
            card_form_data(),
            Client,
            fresh=True,
        ),
    }


# Swept: one form of each class (an edit form's class is swept through its create form; the
# other account forms are Django's own).
SWEPT = [
    "extend expiry",
    "recover",
    "payment link create",
    "api key create",
    "checkout settings",
    "rotate secret",
    "team invite",
    "team role",
    "erase customer",
    "invitation accept",
    "login",
    "password reset",
    "hosted details",
    "hosted pay",
]
FUZZED = [
    *SWEPT,
    "payment link edit",
    "admin login",
    "password change",
    "hosted details, location",
]


@pytest.mark.parametrize("name", SWEPT)
def test_form_sweep_never_answers_5xx_and_a_refusal_writes_nothing(all_forms, name):
    form = all_forms[name]
    sweep(form, form.fields())


@pytest.mark.parametrize("name", FUZZED)
def test_form_fuzz_never_answers_5xx_and_a_refusal_writes_nothing(all_forms, name):
    form = all_forms[name]
    names = sorted(form.fields())

    @FUZZ
    @given(data=submissions(names, form.valid), htmx=st.booleans())
    def post(data, htmx):
        form.post(data, htmx=htmx)

    post()


# --- Headers -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["login", "hosted details"])
@override_settings(TRUSTED_PROXY_COUNT=1)  # so X-Forwarded-For is read too
def test_headers_we_read_never_answer_5xx(all_forms, name):
    """The client address, User-Agent, Accept, Accept-Language and X-Forwarded-For, each
    hostile in an accepted post: the login throttle stores some of them, the hosted page the
    customer's context it reads from them."""
    form = all_forms[name]
    for header in [*HEADERS, "REMOTE_ADDR"]:
        for hostile in HEADER_SHARP:
            form.post(form.valid, **{header: hostile})

    @FUZZ
    @given(headers=headers_strategy)
    def post(headers):
        form.post(form.valid, **headers)

    post()


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_payment_link_post_never_answers_5xx(org, objects):
    """The payment link's button (a new session per client address): its headers each hostile,
    then Hypothesis with a body too (it reads none)."""
    url = f"/pay/{objects['link'].public_id}"

    def post(data, headers):
        response = Client().post(url, data, **{"REMOTE_ADDR": fresh_address(), **headers})
        assert response.status_code < 500, f"{response.status_code}: {shown(headers)}"

    for header in [*HEADERS, "REMOTE_ADDR"]:
        for hostile in HEADER_SHARP:
            post({}, {header: hostile})

    @FUZZ
    @given(data=submissions(["quantity", "action", "next"], {}), headers=headers_strategy)
    def fuzzed(data, headers):
        post(data, headers)

    fuzzed()


# --- URL parameters ------------------------------------------------------------------------------

SESSION_FILTERS = ["q", "status", "link", "source", "step", "reason", "from", "to", "period"]
# Every page that reads parameters, and the names it reads.
QUERY_PAGES = {
    "sessions": [*SESSION_FILTERS, "after", "before"],
    "sessions_poll": [*SESSION_FILTERS, "after", "before", "since", "v"],
    "sessions_export": [*SESSION_FILTERS, "after", "before"],
    "orders": ["q", "status", "after", "before"],
    "links": ["q", "page"],
    "api_keys": ["page"],
    "settings": ["after", "before"],
    "session_detail": ["draft"],
}
# Pages with more than one parameter get Hypothesis too (the others: each value is enough).
COMBINED = ["sessions", "sessions_poll", "sessions_export", "orders", "links", "settings"]


@pytest.mark.parametrize("page_name", QUERY_PAGES)
def test_page_parameters_never_answer_5xx(owner_client, org, objects, foreign, page_name):
    """Each value in every parameter at once (each is read on its own), with HTMX for the poll
    (it reads ``since`` only then), then random combinations."""
    ids = {"session_detail": {"session_id": objects["session"].public_id}}
    url = dashboard_url(page_name, org, **ids.get(page_name, {}))
    names = QUERY_PAGES[page_name]

    def get(query, htmx):
        headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
        response = owner_client.get(url, query, **headers)
        assert response.status_code < 500, f"{response.status_code}: {url} {shown(query)}"

    for hostile in [*PARAMETER_SHARP, *foreign.values()]:
        get(dict.fromkeys(names, hostile), htmx=page_name == "sessions_poll")
    if page_name not in COMBINED:
        return

    @FUZZ
    @given(query=submissions(names, {}), htmx=st.booleans())
    def fuzzed(query, htmx):
        get(query, htmx)

    fuzzed()


# --- Ids in paths --------------------------------------------------------------------------------

# Dashboard URLs with an id in the path: the id's keyword and kind, and the method.
DASHBOARD_IDS = [
    ("session_detail", "session_id", "session", "get"),
    ("session_extend_expiry", "session_id", "session", "post"),
    ("session_recover", "session_id", "session", "post"),
    ("session_resend_receipt", "session_id", "session", "post"),
    ("order_detail", "order_id", "order", "get"),
    ("link_detail", "link_id", "link", "get"),
    ("link_edit", "link_id", "link", "post"),
    ("link_qr", "link_id", "link", "get"),
    ("link_deactivate", "link_id", "link", "post"),
    ("redeliver", "delivery_id", "delivery", "post"),
    ("api_key_revoke", "key_id", "number", "post"),
    ("team_role", "membership_id", "number", "post"),
    ("team_remove", "membership_id", "number", "post"),
    ("team_revoke", "invitation_id", "number", "post"),
]
ID_SHAPES = {
    "session": st.from_regex(r"\Acs_(test|live)_[A-Za-z0-9]{24,56}\Z"),
    "order": st.from_regex(r"\Aord_[A-Za-z0-9]{1,60}\Z"),
    "link": st.from_regex(r"\Aplink_[A-Za-z0-9]{24,56}\Z"),
    "delivery": st.from_regex(r"\Amsg_[A-Za-z0-9]{24,56}\Z"),
    "number": st.integers(min_value=-(2**70), max_value=2**70).map(str),
}
# An id of each kind's shape, to build a URL with and then replace.
PLACEHOLDER_IDS = {
    "session": "cs_test_" + "Q" * 32,
    "order": "ord_" + "Q" * 32,
    "link": "plink_" + "Q" * 32,
    "delivery": "msg_" + "Q" * 32,
    "number": "987654321",
}
NUMBERS = ["0", "9223372036854775807", "9223372036854775808", "99999999999999999999999"]


def near_misses(kind: str) -> list[str]:
    """Ids of ``kind``'s shape but for one thing: a NUL byte, a look-alike letter, a column's
    length. Only the shape check in the URL stands between them and the query."""
    good = PLACEHOLDER_IDS[kind]
    return [good + "\x00", good[:-1] + "Ꮪ", good + "Q" * 64, "\x00" + good]


def ids(kind: str) -> st.SearchStrategy[str]:
    """Ids of ``kind``'s shape, or of it with junk after, or junk."""
    return st.one_of(ID_SHAPES[kind], st.tuples(ID_SHAPES[kind], value).map("".join), value)


@pytest.mark.parametrize(("name", "kwarg", "kind", "method"), DASHBOARD_IDS)
def test_dashboard_ids_never_answer_5xx_and_another_orgs_are_not_found(
    owner_client, org, objects, foreign, name, kwarg, kind, method
):
    """Junk where an id goes is a 404 (or an ordinary answer), never a 5xx; another org's
    session, order and link are a 404 on every page that takes one."""
    placeholder = PLACEHOLDER_IDS[kind]
    prefix, _, suffix = dashboard_url(name, org, **{kwarg: placeholder}).rpartition(placeholder)

    def request(hostile: str) -> int:
        url = f"{prefix}{quote(hostile, safe='')}{suffix}"
        response = getattr(owner_client, method)(url)
        assert response.status_code < 500, f"{response.status_code}: {url[:200]}"
        return response.status_code

    for hostile in [*PARAMETER_SHARP, *NUMBERS, *near_misses(kind)]:
        request(hostile)
    for kind_of_id, foreign_id in foreign.items():
        status = request(foreign_id)
        assert status == 404, f"another org's {kind_of_id} {foreign_id}: {status} on {name}"

    @FUZZ
    @given(hostile=ids(kind))
    def fuzzed(hostile):
        request(hostile)

    fuzzed()


HOSTED_IDS = {
    "/checkout/{}": "session",
    "/checkout/{}/details": "session",
    "/checkout/{}/pay": "session",
    "/checkout/{}/thank-you": "session",
    "/pay/{}": "link",
}


@pytest.mark.parametrize("pattern", HOSTED_IDS)
def test_hosted_ids_never_answer_5xx(db, pattern):
    def request(hostile):
        url = pattern.format(quote(hostile, safe=""))
        for method in (Client().get, Client().post):
            response = method(url, REMOTE_ADDR=fresh_address())
            assert response.status_code < 500, f"{response.status_code}: {url[:200]}"

    for hostile in [*SHARP, *near_misses(HOSTED_IDS[pattern])]:
        request(hostile)

    @FUZZ
    @given(hostile=ids(HOSTED_IDS[pattern]))
    def fuzzed(hostile):
        request(hostile)

    fuzzed()


def tampered(token: str) -> st.SearchStrategy[str]:
    """``token`` with one character changed, cut short, or lengthened."""
    return st.one_of(
        st.tuples(st.integers(0, len(token) - 1), st.sampled_from("aZ0-_:.")).map(
            lambda change: token[: change[0]] + change[1] + token[change[0] + 1 :]
        ),
        st.integers(0, len(token) - 1).map(lambda end: token[:end]),
        st.text(alphabet="abcXYZ019-_:", min_size=1, max_size=50).map(token.__add__),
    )


# Claims of other shapes, signed with our key and salt (as an older release might have).
odd_claims = st.one_of(
    st.none(),
    st.integers(),
    st.lists(st.sampled_from(["order", "scope", "ord_x", 1])),
    st.dictionaries(
        st.sampled_from(["order", "scope", "email", "org"]),
        st.one_of(st.sampled_from(["order", "customer", "ord_x", ""]), st.integers(), st.none()),
    ),
)


def test_portal_token_never_answers_5xx(org, objects, foreign):
    """A tampered token, junk of a token's shape, claims of another shape under our signature,
    another org's order: the 404 page, never a 5xx."""
    order = objects["paid"].order
    token = portal_token(order, scope=PortalScope.ORDER)
    base = portal_path(order, scope=PortalScope.ORDER).removesuffix(token)
    orders = st.sampled_from([foreign["order"], order.public_id])

    def get(hostile):
        url = f"{base}{quote(hostile, safe='')}"
        response = Client().get(url)
        assert response.status_code < 500, f"{response.status_code}: {url[:200]}"

    get(token[:-1] + ("A" if token[-1] != "A" else "B"))  # another signature
    for claims in [None, 1, [], ["order", "scope"], {"order": order.public_id}, {"scope": "x"}]:
        get(signing.dumps(claims, salt=PORTAL_SALT))

    @FUZZ
    @given(
        hostile=st.one_of(
            tampered(token),
            st.from_regex(r"\A\.?[A-Za-z0-9_-]{1,200}:[A-Za-z0-9]{1,20}:[A-Za-z0-9_-]{1,60}\Z"),
            odd_claims.map(lambda claims: signing.dumps(claims, salt=PORTAL_SALT)),
            orders.map(lambda id_: signing.dumps({"order": id_, "scope": "x"}, salt=PORTAL_SALT)),
            value,
        )
    )
    def fuzzed(hostile):
        get(hostile)

    fuzzed()


def test_invitation_token_never_answers_5xx(org, objects):
    token = invitation_token(objects["invitation"])

    @FUZZ
    @given(hostile=st.one_of(tampered(token), value))
    def fuzzed(hostile):
        url = reverse("dashboard:invitation", args=["TOKEN"]).replace(
            "TOKEN", quote(hostile, safe="")
        )
        assert Client().get(url).status_code < 500
        assert Client().post(url, {"username": "someone"}).status_code < 500

    fuzzed()
