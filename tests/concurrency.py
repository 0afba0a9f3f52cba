"""Real concurrency for PostgreSQL tests: the same call from several threads at one instant."""

import threading
from collections.abc import Callable

from django.db import connection


def at_once[T](call: Callable[[], T], *, threads: int, timeout: float = 60) -> list[T]:
    """Run ``call`` in ``threads`` threads released together; their results, any order.

    Each thread has its own database connection (closed at the end). An exception in any
    thread fails the test: a thread must not die silently.
    """
    start = threading.Barrier(threads)
    results: list[T] = []
    errors: list[BaseException] = []

    def one():
        try:
            start.wait()
            results.append(call())
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    workers = [threading.Thread(target=one) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=timeout)
    assert errors == []
    assert len(results) == threads
    return results
