"""Order numbers stay unique and gapless per org when checkouts start at the same instant
(PostgreSQL: the counter's upsert row-locks it until each creating transaction commits)."""

import threading

import pytest
from django.db import connection

from checkout.models import Order, OrderCounter
from tests.factories import OrganizationFactory, make_session

THREADS = 10


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_checkouts_get_every_number_once():
    org = OrganizationFactory()
    start = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def one_checkout():
        try:
            start.wait()
            make_session(org=org)
        except BaseException as error:  # surfaced below; a thread must not die silently
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=one_checkout) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    numbers = sorted(Order.objects.filter(org=org).values_list("number", flat=True))
    assert numbers == list(range(1, THREADS + 1))
    assert OrderCounter.objects.get(org=org).last_number == THREADS
