"""``make soak``, CI-sized: the same code (bench/soak.py) with 10 customers, 3 of them
submitting Pay to both servers at once, on the test database, so the soak cannot rot. Two
gunicorn servers and one ``db_worker``: PostgreSQL only (processes share the database)."""

import pytest

from bench.soak import PAID, soak
from tests.processes import collect_static, test_database_url

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CUSTOMERS = 10
DOUBLE_SUBMITS = 3


def test_customers_paying_through_two_servers_are_each_charged_and_told_exactly_once():
    collect_static()
    printed: list[str] = []

    report = soak(
        customers=CUSTOMERS,
        double_submits=DOUBLE_SUBMITS,
        database_url=test_database_url(),
        drain_seconds=40,
        log=printed.append,
    )

    print("\n".join(report.lines()))
    assert report.failures == []
    assert report.violations == []
    assert report.pay_answers[PAID] == CUSTOMERS
    assert report.pay_answers.total() == CUSTOMERS + DOUBLE_SUBMITS
    # create + page + details + pay each, a second Pay and the page it leads to per double submit
    assert report.requests.total() == 4 * CUSTOMERS + 2 * DOUBLE_SUBMITS
    assert set(report.requests) == {"A", "B"}
    assert (report.callbacks_received, report.receipts_received) == (CUSTOMERS, CUSTOMERS)
