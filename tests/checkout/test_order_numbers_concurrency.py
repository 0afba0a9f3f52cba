"""Order numbers stay unique and gapless per org when checkouts start at the same instant
(PostgreSQL: the counter's upsert row-locks it until each creating transaction commits)."""

import pytest

from checkout.models import Order, OrderCounter
from tests.concurrency import at_once
from tests.factories import OrganizationFactory, make_session

THREADS = 10


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_checkouts_get_every_number_once():
    org = OrganizationFactory()

    at_once(lambda: make_session(org=org), threads=THREADS)

    numbers = sorted(Order.objects.filter(org=org).values_list("number", flat=True))
    assert numbers == list(range(1, THREADS + 1))
    assert OrderCounter.objects.get(org=org).last_number == THREADS
