"""CSV export of the current view: streamed, every matching row, safe in a spreadsheet."""

import csv
import io

import pytest
from django.http import StreamingHttpResponse

from checkout.models import CheckoutSession
from checkout.services import LineItem
from dashboard import csv_export
from dashboard.csv_export import spreadsheet_safe
from tests.factories import make_session

pytestmark = pytest.mark.django_db

EXPORT = "/dashboard/acme-test/test/sessions/export.csv"


@pytest.fixture
def merchant(client, member):
    client.force_login(member)
    return client


def read_csv(response) -> list[dict[str, str]]:
    assert isinstance(response, StreamingHttpResponse)
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_export_streams_every_matching_row_not_one_page(merchant, org, monkeypatch):
    monkeypatch.setattr(csv_export, "CHUNK_SIZE", 7)
    made = [make_session(org=org, customer_email=f"c{n}@example.com") for n in range(30)]
    response = merchant.get(EXPORT)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="checkout-sessions-')
    rows = read_csv(response)
    assert [row["id"] for row in rows] == [s.public_id for s in reversed(made)]
    assert rows[0]["amount"] == "75.00" and rows[0]["currency"] == "USD"
    assert rows[0]["status"] == "open" and rows[0]["product"] == "Custom widget"


def test_export_keeps_the_tab_and_search(merchant, org):
    make_session(org=org, customer_email="jenny@example.com", paid=True)
    make_session(org=org, customer_email="jenny.r@example.com")
    make_session(org=org, customer_email="bob@example.com", paid=True)
    rows = read_csv(merchant.get(EXPORT, {"status": "succeeded", "q": "jenny"}))
    assert [row["customer_email"] for row in rows] == ["jenny@example.com"]


def test_export_holds_the_modes_sessions_only(merchant, org):
    make_session(org=org, customer_email="tester@example.com")
    make_session(org=org, mode="live", customer_email="buyer@example.com")
    assert [r["customer_email"] for r in read_csv(merchant.get(EXPORT))] == ["tester@example.com"]


def test_the_list_links_to_the_export_of_its_view(merchant, org):
    response = merchant.get("/dashboard/acme-test/test/sessions/", {"status": "failed", "q": "x"})
    assert response.context["export_url"] == f"{EXPORT}?status=failed&q=x"


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_cells_that_a_spreadsheet_would_run_are_text(start):
    assert spreadsheet_safe(f"{start}1+1") == f"'{start}1+1"


def test_plain_cells_are_unchanged():
    assert spreadsheet_safe("jenny@example.com") == "jenny@example.com"
    assert spreadsheet_safe(None) == ""
    assert spreadsheet_safe(3) == "3"


def test_formulas_and_markup_from_customers_are_neutralised_in_the_file(merchant, org):
    session = make_session(
        org=org,
        items=[LineItem(name='=HYPERLINK("http://evil.example","x")', quantity=1, unit_price=100)],
    )
    CheckoutSession.objects.filter(pk=session.pk).update(
        customer_email='"><img src=x onerror=alert(1)>@example.com'
    )
    other = make_session(org=org)
    CheckoutSession.objects.filter(pk=other.pk).update(customer_email="@SUM(1+1)")
    rows = read_csv(merchant.get(EXPORT))
    by_id = {row["id"]: row for row in rows}
    assert by_id[session.public_id]["product"] == '\'=HYPERLINK("http://evil.example","x")'
    # Markup is data in a CSV (the file is an attachment, never rendered as HTML).
    assert (
        by_id[session.public_id]["customer_email"] == '"><img src=x onerror=alert(1)>@example.com'
    )
    assert by_id[other.public_id]["customer_email"] == "'@SUM(1+1)"
