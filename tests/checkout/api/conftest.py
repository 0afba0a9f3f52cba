"""Fixtures for the JSON API tests: keys, and clients that speak JSON with a bearer key."""

import pytest

from orgs.services import create_api_key
from tests.checkout.api.client import ApiClient
from tests.factories import OrganizationFactory


@pytest.fixture
def test_key(org) -> str:
    return create_api_key(org=org, mode="test")[1]


@pytest.fixture
def api(test_key) -> ApiClient:
    return ApiClient(test_key)


@pytest.fixture
def live_api(org) -> ApiClient:
    return ApiClient(create_api_key(org=org, mode="live")[1])


@pytest.fixture
def other_org_api(db) -> ApiClient:
    other = OrganizationFactory(slug="globex", name="Globex")
    return ApiClient(create_api_key(org=other, mode="test")[1])
