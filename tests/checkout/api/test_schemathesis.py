"""Property-based contract test: schemathesis generates requests from /v0/openapi.json and checks
that no response is a 5xx and every response matches the published schema."""

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from config.wsgi import application
from tests.checkout.api.client import SEED_BODY

# Loaded from the running app (its openapi view needs no database), as a client would see it.
schema = schemathesis.openapi.from_wsgi("/v0/openapi.json", application)


@pytest.fixture
def keep_test_transaction():
    """Stop the WSGI handler from closing the test's database connection after each request
    (Django's own test client does the same)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def existing_session(api):
    return api.create(SEED_BODY).json()["id"]


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@pytest.mark.django_db
def test_api_never_errors_and_matches_its_schema(
    case, test_key, existing_session, keep_test_transaction
):
    # The real key replaces a generated one; a case generated without the header (a negative
    # case: "Authorization is required") is sent without it, and must be refused.
    has_authorization = "Authorization" in (case.headers or {})
    case.call_and_validate(
        headers={"Authorization": f"Bearer {test_key}"} if has_authorization else {},
        # Rules the schema cannot express (a currency ISO 4217 knows, an existing payment link,
        # a deliverable email address) are 400s by design, so "schema-valid" data may be refused.
        excluded_checks=[positive_data_acceptance],
    )
