"""Django's async-safety check stays on outside the browser tests: only tests/e2e (Playwright's
event loop in the test thread) turns it off, for its own modules. This file is collected after
tests/e2e, so a setting that leaks out of the browser tests fails it in a full run."""

import asyncio
import os

import pytest
from django.core.exceptions import SynchronousOnlyOperation

from orgs.models import Organization


def test_async_unsafe_orm_calls_are_not_allowed_outside_the_browser_tests():
    assert "DJANGO_ALLOW_ASYNC_UNSAFE" not in os.environ


@pytest.mark.django_db
def test_the_orm_refuses_to_run_inside_an_event_loop_outside_the_browser_tests():
    async def count_organizations():
        return Organization.objects.count()

    with pytest.raises(SynchronousOnlyOperation):
        asyncio.run(count_organizations())
