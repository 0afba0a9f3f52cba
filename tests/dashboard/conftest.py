"""URLs of every dashboard page, for the authorization matrix and the HTMX checks."""

import pytest

from tests.factories import make_session


def dashboard_urls(slug: str, session_id: str, order_id: str) -> list[str]:
    """Every GET page of the dashboard so far, in test mode and live (a session's and an
    order's page in test mode, where they exist)."""
    urls = []
    for mode in ("test/", ""):
        base = f"/dashboard/{slug}/{mode}"
        urls += [
            base,
            f"{base}sessions/",
            f"{base}sessions/poll?since=0&v=x",
            f"{base}sessions/export.csv",
            f"{base}orders/",
            f"{base}links/",
            f"{base}settings/",
            f"{base}api-keys/",
            f"{base}team/",
        ]
    urls.append(f"/dashboard/{slug}/test/sessions/{session_id}")
    urls.append(f"/dashboard/{slug}/test/orders/{order_id}")
    return urls


@pytest.fixture
def test_session(org):
    return make_session(org=org, customer_email="jenny@example.com")
