"""Products → Payment links: the list (sessions and conversion per link), create and edit
through the service (prices in major units, errors beside their fields, nothing half-written),
deactivate / reactivate, the link's page (URL, QR code, sessions) and who may do what."""

import io
import re
from datetime import timedelta
from html import unescape

import pytest
import segno
from django.test import Client
from django.utils import timezone

from orgs.models import AuditEntry, Mode, PaymentLink
from tests.factories import (
    MembershipFactory,
    OrganizationFactory,
    PaymentLinkFactory,
    expired_session,
    make_session,
)

pytestmark = pytest.mark.django_db

BASE = "/dashboard/acme-test/test/"
LIST = f"{BASE}links/"
NEW = f"{BASE}links/new"


@pytest.fixture
def merchant(client, member):
    client.force_login(member)
    return client


def valid_form(**changes) -> dict:
    return {
        "name": "Espresso beans, 1 kg",
        "description": "Roasted this week.",
        "price": "12.50",
        "quantity": "1",
        "currency": "",
        "success_url": "",
        "callback_url": "",
        **changes,
    }


def field_error(response, field: str) -> str:
    """The error text shown right under ``field`` (its ``id_<field>_error`` list)."""
    match = re.search(rf'<ul class="field-errors" id="id_{field}_error">(.*?)</ul>', response.text)
    assert match, f"no error shown next to {field}"
    return unescape(re.sub(r"<[^>]+>", " ", match[1])).strip()


def rows(response) -> list[str]:
    return [row.link.name for row in response.context["rows"]]


# The list


def test_list_shows_each_links_price_status_sessions_and_conversion(merchant, org):
    beans = PaymentLinkFactory(org=org, name="Beans", unit_price=2400)
    mug = PaymentLinkFactory(org=org, name="Mug", unit_price=1500, is_active=False)
    make_session(link=beans, paid=True)
    make_session(link=beans, paid=True)
    make_session(link=beans, failed_attempts=1)
    expired_session(link=beans)
    make_session(link=beans)  # open: not counted as ended

    response = merchant.get(LIST)

    by_name = {row.link.name: row for row in response.context["rows"]}
    assert (by_name["Beans"].stats.sessions, by_name["Beans"].stats.paid) == (5, 2)
    assert by_name["Beans"].stats.conversion_percent == 50.0  # 2 paid of 4 ended
    assert by_name["Mug"].stats.sessions == 0
    assert by_name["Mug"].stats.conversion_percent is None
    assert "$24.00" in response.text and "$15.00" in response.text
    assert "Inactive" in response.text
    assert f'href="{BASE}sessions/?link={beans.public_id}">5' in response.text
    assert mug.public_id in response.text


def test_list_shows_only_this_orgs_links_of_the_urls_mode(merchant, org):
    PaymentLinkFactory(org=org, name="Test beans")
    PaymentLinkFactory(org=org, name="Live beans", mode=Mode.LIVE)
    PaymentLinkFactory(org=OrganizationFactory(), name="Rival beans")

    assert rows(merchant.get(LIST)) == ["Test beans"]
    assert rows(merchant.get("/dashboard/acme-test/links/")) == ["Live beans"]


def test_search_finds_links_by_name(merchant, org):
    PaymentLinkFactory(org=org, name="Espresso beans")
    PaymentLinkFactory(org=org, name="Filter beans")
    PaymentLinkFactory(org=org, name="Mug")

    assert sorted(rows(merchant.get(LIST, {"q": "BEANS"}))) == ["Espresso beans", "Filter beans"]
    response = merchant.get(LIST, {"q": "nothing"})
    assert "No payment links match" in response.text


@pytest.mark.parametrize("q", ["\x00", "beans\x00", "b" * 201, "%", "_", "' OR 1=1 --"])
def test_junk_searches_find_nothing_or_everything_never_a_server_error(merchant, org, q):
    PaymentLinkFactory(org=org, name="Beans")
    response = merchant.get(LIST, {"q": q})
    assert response.status_code == 200
    assert rows(response) in ([], ["Beans"])


def test_pages_of_25_newest_first(merchant, org):
    now = timezone.now()
    for number in range(30):
        PaymentLinkFactory(
            org=org, name=f"Link {number:02d}", created_at=now - timedelta(minutes=number)
        )

    first = merchant.get(LIST)
    second = merchant.get(LIST, {"page": "2"})

    assert rows(first)[:2] == ["Link 00", "Link 01"] and len(rows(first)) == 25
    assert rows(second) == [f"Link {number:02d}" for number in range(25, 30)]
    assert merchant.get(LIST, {"page": "junk\x00"}).status_code == 200


def test_htmx_search_gets_the_results_only(merchant, org):
    PaymentLinkFactory(org=org, name="Beans")
    response = merchant.get(LIST, {"q": "be"}, headers={"HX-Request": "true"})
    assert response.text.lstrip().startswith('<section id="link-results"')
    assert "Beans" in response.text
    assert "HX-Request" in response["Vary"]


def _links_with_sessions(org, count):
    for number in range(count):
        link = PaymentLinkFactory(org=org, name=f"Link {number}")
        if number % 10 == 0:
            make_session(link=link, paid=number % 20 == 0)


def test_list_query_count_is_the_same_for_5_and_200_links(
    merchant, org, django_assert_num_queries, django_assert_max_num_queries
):
    _links_with_sessions(org, 5)
    for link in PaymentLink.objects.all()[:3]:  # some Activity to show
        merchant.post(f"{BASE}links/{link.public_id}/deactivate")
    with django_assert_max_num_queries(12) as queries:
        merchant.get(LIST)
    _links_with_sessions(org, 195)

    with django_assert_num_queries(len(queries.captured_queries)):
        response = merchant.get(LIST)

    assert len(response.context["rows"]) == 25
    assert len(response.context["activity"]) == 3


def test_link_page_query_count_is_the_same_for_5_and_200_sessions(
    merchant, org, django_assert_num_queries, django_assert_max_num_queries
):
    link = PaymentLinkFactory(org=org)
    for _ in range(5):
        make_session(link=link)
    with django_assert_max_num_queries(12) as queries:
        merchant.get(f"{BASE}links/{link.public_id}")
    for number in range(195):
        make_session(link=link, paid=number % 2 == 0)

    with django_assert_num_queries(len(queries.captured_queries)):
        response = merchant.get(f"{BASE}links/{link.public_id}")

    assert response.context["counts"]["all"] == 200


def test_the_sessions_per_link_are_one_grouped_query(merchant, org, django_assert_max_num_queries):
    _links_with_sessions(org, 30)
    with django_assert_max_num_queries(12) as queries:
        merchant.get(LIST)
    on_sessions = [
        query["sql"]
        for query in queries.captured_queries
        if "checkout_checkoutsession" in query["sql"]
    ]
    assert len(on_sessions) == 1
    assert "GROUP BY" in on_sessions[0]


# Creating and editing


def test_creating_a_link_saves_it_in_minor_units_and_opens_its_page(merchant, org, member):
    response = merchant.post(NEW, valid_form())

    link = PaymentLink.objects.get()
    assert (link.org, link.mode, link.name, link.unit_price) == (
        org,
        "test",
        "Espresso beans, 1 kg",
        1250,
    )
    assert response.status_code == 302
    assert response["Location"] == f"{BASE}links/{link.public_id}"
    page = merchant.get(response["Location"])
    assert "Payment link created: Espresso beans, 1 kg." in page.text
    entry = AuditEntry.objects.for_org(org).get()
    assert (entry.action, entry.user, entry.target) == (
        "payment_link.created",
        member,
        link.public_id,
    )


def test_creating_in_live_mode_makes_a_live_link(merchant, org):
    merchant.post("/dashboard/acme-test/links/new", valid_form())
    assert PaymentLink.objects.get().mode == Mode.LIVE


def test_htmx_create_redirects_the_browser_to_the_new_link(merchant, org):
    response = merchant.post(NEW, valid_form(), headers={"HX-Request": "true"})
    link = PaymentLink.objects.get()
    assert response["HX-Redirect"] == f"{BASE}links/{link.public_id}"


@pytest.mark.parametrize(
    ("typed", "currency", "stored", "shown"),
    [
        ("12.50", "USD", 1250, "12.50"),
        ("1200", "JPY", 1200, "1200"),
        ("1.234", "KWD", 1234, "1.234"),
    ],
)
def test_prices_round_trip_in_the_currencys_own_exponent(
    merchant, org, typed, currency, stored, shown
):
    merchant.post(NEW, valid_form(price=typed, currency=currency))

    link = PaymentLink.objects.get()
    assert (link.unit_price, link.currency) == (stored, currency)
    edit = merchant.get(f"{BASE}links/{link.public_id}/edit")
    assert f'name="price" value="{shown}"' in edit.text


def test_the_orgs_currency_decides_the_exponent_without_an_override(merchant, org):
    org.currency = "JPY"
    org.save()
    response = merchant.post(NEW, valid_form(price="12.5", currency=""))
    assert (
        field_error(response, "price") == "Unit price can't have decimals in JPY: enter e.g. 1200."
    )
    merchant.post(NEW, valid_form(price="1200", currency=""))
    assert PaymentLink.objects.get().unit_price == 1200


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"name": ""}, "name", "This field is required."),
        ({"name": "Beans\r\nBcc: x@evil.example"}, "name", "control characters"),
        ({"name": "x" * 201}, "name", "at most 200 characters"),
        ({"name": "Beans\x00"}, "name", "Null characters are not allowed."),
        ({"price": ""}, "price", "This field is required."),
        ({"price": "twelve"}, "price", "Enter the unit price as a number"),
        ({"price": "12,50"}, "price", "Enter the unit price as a number"),
        (
            {"price": "12.505"},
            "price",
            "Unit price can have at most 2 decimals in USD: enter e.g. 12.50.",
        ),
        ({"price": "12.5", "currency": "JPY"}, "price", "Unit price can't have decimals in JPY"),
        (
            {"price": "1.2345", "currency": "KWD"},
            "price",
            "at most 3 decimals in KWD: enter e.g. 12.500.",
        ),
        ({"price": "0"}, "price", "Unit price must be from 0.01 to 100000000.00 USD."),
        ({"price": "100000000.01"}, "price", "Unit price must be from 0.01"),
        ({"quantity": "0"}, "quantity", "greater than or equal to 1"),
        ({"quantity": "10001"}, "quantity", "less than or equal to 10000"),
        ({"quantity": "1.5"}, "quantity", "Enter a whole number."),
        ({"currency": "DEM"}, "currency", "Select a valid choice."),
        ({"currency": "usd\x00"}, "currency", "Select a valid choice."),
        ({"success_url": "javascript:alert(1)"}, "success_url", "Enter a valid URL."),
        (
            {"callback_url": "ftp://example.com/hooks"},
            "callback_url",
            "must be http:// or https://",
        ),
        ({"success_url": "https://example.com/" + "a" * 2000}, "success_url", "at most 2000"),
    ],
)
def test_each_invalid_field_is_refused_with_its_message_beside_it(
    merchant, org, changes, field, message
):
    response = merchant.post(NEW, valid_form(**changes))

    assert response.status_code == 200
    assert message in field_error(response, field)
    assert f'aria-describedby="id_{field}_helptext id_{field}_error"' in response.text or (
        f'aria-describedby="id_{field}_error"' in response.text
    )
    assert not PaymentLink.objects.exists()
    assert not AuditEntry.objects.exists()


def test_a_callback_url_on_a_private_address_is_refused_by_the_ssrf_rule(merchant, org, settings):
    settings.CALLBACK_ALLOW_PRIVATE = False
    for url in (
        "http://127.0.0.1:8000/hooks",
        "http://[::ffff:10.0.0.1]/hooks",
        "http://localhost/x",
    ):
        response = merchant.post(NEW, valid_form(callback_url=url))
        assert "non-public address" in field_error(response, "callback_url"), url
    assert not PaymentLink.objects.exists()


def test_htmx_form_errors_come_back_as_the_form_partial(merchant, org):
    response = merchant.post(NEW, valid_form(price="1.001"), headers={"HX-Request": "true"})
    assert response.text.lstrip().startswith('<form id="link-form"')
    assert "at most 2 decimals" in field_error(response, "price")


def test_a_failure_half_way_leaves_nothing_written(merchant, org, monkeypatch):
    def broken_audit(**kwargs):
        raise RuntimeError("audit log unavailable")

    monkeypatch.setattr("orgs.services.record", broken_audit)
    merchant.raise_request_exception = False
    response = merchant.post(NEW, valid_form())

    assert response.status_code == 500
    assert not PaymentLink.objects.exists()


def test_editing_a_link_saves_and_audits_what_changed(merchant, org, member):
    link = PaymentLinkFactory(org=org, name="Beans", unit_price=2400, require_phone=False)
    form = valid_form(name="Beans, 1 kg", price="24.00", require_phone="on")

    response = merchant.post(f"{BASE}links/{link.public_id}/edit", form)

    assert response.status_code == 302
    link.refresh_from_db()
    assert (link.name, link.unit_price, link.require_phone) == ("Beans, 1 kg", 2400, True)
    entry = AuditEntry.objects.for_org(org).get()
    assert entry.action == "payment_link.updated" and entry.user == member
    assert entry.changes["name"] == ["Beans", "Beans, 1 kg"]
    assert entry.changes["require_phone"] == [False, True]
    assert "unit_price" not in entry.changes
    page = merchant.get(response["Location"])
    assert "requires phone" in page.text  # the Activity list on the link's page


def test_an_invalid_edit_changes_nothing(merchant, org, settings):
    settings.CALLBACK_ALLOW_PRIVATE = False
    link = PaymentLinkFactory(org=org, name="Beans", callback_url="")

    response = merchant.post(
        f"{BASE}links/{link.public_id}/edit",
        valid_form(name="Renamed", callback_url="http://10.0.0.1/hooks"),
    )

    assert "non-public address" in field_error(response, "callback_url")
    link.refresh_from_db()
    assert (link.name, link.callback_url) == ("Beans", "")
    assert not AuditEntry.objects.exists()


def test_the_edit_form_shows_the_links_values(merchant, org):
    link = PaymentLinkFactory(org=org, name="Beans", unit_price=999, currency="EUR", quantity=3)
    page = merchant.get(f"{BASE}links/{link.public_id}/edit")
    assert 'name="name" value="Beans"' in page.text
    assert 'name="price" value="9.99"' in page.text
    assert '<option value="EUR" selected>EUR</option>' in page.text
    assert 'name="quantity" value="3"' in page.text


# Deactivate / reactivate


def test_deactivating_and_reactivating_are_posts_with_a_message(merchant, org, member):
    link = PaymentLinkFactory(org=org)
    url = f"{BASE}links/{link.public_id}"

    assert merchant.get(f"{url}/deactivate").status_code == 405
    link.refresh_from_db()
    assert link.is_active

    response = merchant.post(f"{url}/deactivate", follow=True)
    link.refresh_from_db()
    assert not link.is_active
    assert "Payment link deactivated" in response.text
    assert merchant.get(f"/pay/{link.public_id}").status_code == 404  # the clear page

    merchant.post(f"{url}/reactivate")
    link.refresh_from_db()
    assert link.is_active
    actions = list(
        AuditEntry.objects.for_org(org).order_by("id").values_list("action", "user", "target")
    )
    assert actions == [
        ("payment_link.deactivated", member.pk, link.public_id),
        ("payment_link.reactivated", member.pk, link.public_id),
    ]


def test_htmx_deactivation_swaps_the_links_page(merchant, org):
    link = PaymentLinkFactory(org=org)
    response = merchant.post(
        f"{BASE}links/{link.public_id}/deactivate", headers={"HX-Request": "true"}
    )
    assert response.text.lstrip().startswith('<div id="link-page"')
    assert "Payment link deactivated" in response.text
    assert "Reactivate" in response.text


def test_deactivating_twice_records_once(merchant, org):
    link = PaymentLinkFactory(org=org)
    merchant.post(f"{BASE}links/{link.public_id}/deactivate")
    response = merchant.post(f"{BASE}links/{link.public_id}/deactivate", follow=True)
    assert "already inactive" in response.text
    assert AuditEntry.objects.count() == 1


# The link's page


def test_link_page_shows_its_public_url_qr_code_and_sessions(merchant, org, settings):
    settings.SITE_URL = "https://pay.example.com"
    link = PaymentLinkFactory(org=org, name="Beans", unit_price=2400, quantity=2)
    make_session(link=link, paid=True, customer_email="paid@example.com")
    make_session(link=link, failed_attempts=1, customer_email="declined@example.com")
    make_session(org=org, customer_email="elsewhere@example.com")  # not from this link

    response = merchant.get(f"{BASE}links/{link.public_id}")

    url = f"https://pay.example.com/pay/{link.public_id}"
    assert (
        f'id="link-url" class="copy-input mono" type="text" value="{url}" readonly' in response.text
    )
    assert f'src="{BASE}links/{link.public_id}/qr.svg"' in response.text
    assert "paid@example.com" in response.text and "declined@example.com" in response.text
    assert "elsewhere@example.com" not in response.text
    assert f'href="{BASE}sessions/?link={link.public_id}"' in response.text
    assert response.context["counts"]["all"] == 2
    assert "$48.00" in response.text  # the total: 2 × $24.00


def test_the_sessions_list_it_links_to_shows_this_links_sessions(merchant, org):
    link = PaymentLinkFactory(org=org)
    make_session(link=link, customer_email="from-link@example.com")
    make_session(org=org, customer_email="api@example.com")
    response = merchant.get(f"{BASE}sessions/", {"link": link.public_id})
    assert [session.customer_email for session in response.context["page"].rows] == [
        "from-link@example.com"
    ]


def test_qr_code_is_an_svg_of_the_public_url_without_inline_styles(merchant, org, settings):
    settings.SITE_URL = "https://pay.example.com"
    link = PaymentLinkFactory(org=org)

    response = merchant.get(f"{BASE}links/{link.public_id}/qr.svg")

    assert response["Content-Type"] == "image/svg+xml"
    svg = response.content.decode()
    assert "<svg" in svg and "style" not in svg and "<script" not in svg
    # The path drawn is the one segno draws for that URL (and not for another).
    path = re.search(r' d="([^"]+)"', svg.split('class="qrline"')[-1])[1]
    assert path in _svg_of(f"https://pay.example.com/pay/{link.public_id}")
    assert path not in _svg_of("https://pay.example.com/pay/plink_other")


def _svg_of(url: str) -> str:
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="svg", scale=8, border=4)
    return out.getvalue().decode()


def test_a_link_name_holding_markup_is_shown_as_text_everywhere(merchant, org):
    name = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    link = PaymentLinkFactory(org=org, name=name)
    merchant.post(f"{BASE}links/{link.public_id}/deactivate")

    for url in (LIST, f"{BASE}links/{link.public_id}", f"{BASE}links/{link.public_id}/edit"):
        page = merchant.get(url).text
        assert "<script>alert" not in page and "<img src=x" not in page, url
        assert "&lt;script&gt;alert(" in page, url
    assert "<script" not in merchant.get(f"{BASE}links/{link.public_id}/qr.svg").content.decode()


# Who may do what


def _link_urls(link_id: str, mode: str = "test/") -> dict[str, list[str]]:
    base = f"/dashboard/acme-test/{mode}links/"
    return {
        "get": [
            base,
            f"{base}new",
            f"{base}{link_id}",
            f"{base}{link_id}/edit",
            f"{base}{link_id}/qr.svg",
        ],
        "post": [
            f"{base}new",
            f"{base}{link_id}/edit",
            f"{base}{link_id}/deactivate",
            f"{base}{link_id}/reactivate",
        ],
    }


def test_anonymous_visitors_are_sent_to_log_in_and_change_nothing(client, org):
    link = PaymentLinkFactory(org=org, name="Beans")
    urls = _link_urls(link.public_id)
    for url in urls["get"]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(
            "/accounts/login/"
        ), url
    for url in urls["post"]:
        response = client.post(url, valid_form(name="Hacked"))
        assert response.status_code == 302 and response["Location"].startswith(
            "/accounts/login/"
        ), url
    link.refresh_from_db()
    assert (link.name, link.is_active, PaymentLink.objects.count()) == ("Beans", True, 1)


def test_members_of_another_org_get_404_and_change_nothing(client, org):
    link = PaymentLinkFactory(org=org, name="Beans")
    client.force_login(MembershipFactory(org=OrganizationFactory(slug="rival")).user)
    urls = _link_urls(link.public_id)
    for url in urls["get"]:
        assert client.get(url).status_code == 404, url
    for url in urls["post"]:
        assert client.post(url, valid_form(name="Hacked")).status_code == 404, url
    link.refresh_from_db()
    assert (link.name, link.is_active, PaymentLink.objects.count()) == ("Beans", True, 1)


def test_another_orgs_link_id_is_404_in_my_org(merchant, org):
    foreign = PaymentLinkFactory(org=OrganizationFactory(slug="rival"), name="Theirs")
    for url in _link_urls(foreign.public_id)["get"][2:]:
        assert merchant.get(url).status_code == 404, url
    for url in _link_urls(foreign.public_id)["post"][1:]:
        assert merchant.post(url, valid_form(name="Mine now")).status_code == 404, url
    foreign.refresh_from_db()
    assert (foreign.name, foreign.is_active) == ("Theirs", True)


def test_a_test_mode_link_is_404_in_live_mode(merchant, org):
    link = PaymentLinkFactory(org=org)
    for url in _link_urls(link.public_id, mode="")["get"][2:]:
        assert merchant.get(url).status_code == 404, url


@pytest.mark.parametrize(
    "link_id",
    [
        "plink_short",
        "plink_" + "a" * 57,
        "plink_abc%00defghijklmnopqrstuvwxyz",
        "cs_test_" + "a" * 32,
        "plink_ａｂｃdefghijklmnopqrstuvwxyz0123",
        "../../admin",
        "plink_" + "a" * 5000,
    ],
)
def test_junk_link_ids_are_404(merchant, org, link_id):
    assert merchant.get(f"{BASE}links/{link_id}").status_code == 404
    assert merchant.post(f"{BASE}links/{link_id}/deactivate").status_code == 404


@pytest.mark.parametrize("role", ["member", "owner"])
def test_members_and_owners_alike_manage_links(client, org, role, request):
    client.force_login(request.getfixturevalue(role))
    assert client.get(LIST).status_code == 200
    assert client.post(NEW, valid_form()).status_code == 302
    link = PaymentLink.objects.get()
    assert (
        client.post(f"{BASE}links/{link.public_id}/edit", valid_form(name="New")).status_code == 302
    )
    assert client.post(f"{BASE}links/{link.public_id}/deactivate").status_code == 302
    assert client.get(f"{BASE}links/{link.public_id}/qr.svg").status_code == 200


def test_every_form_carries_a_csrf_token(org, member):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(member)
    link = PaymentLinkFactory(org=org)
    assert strict.post(NEW, valid_form()).status_code == 403
    assert strict.post(f"{BASE}links/{link.public_id}/deactivate").status_code == 403
    page = strict.get(f"{BASE}links/{link.public_id}").text
    assert page.count('name="csrfmiddlewaretoken"') >= 1
    assert 'name="csrfmiddlewaretoken"' in strict.get(NEW).text
    link.refresh_from_db()
    assert link.is_active and PaymentLink.objects.count() == 1
