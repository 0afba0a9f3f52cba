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


def together(*calls: Callable[[], object], timeout: float = 60) -> list[object]:
    """Run each of ``calls`` in its own thread, all released at one instant (``at_once``);
    their results, in the order of ``calls``."""
    turns = iter(enumerate(calls))
    lock = threading.Lock()
    results: dict[int, object] = {}

    def one() -> None:
        with lock:
            index, call = next(turns)
        results[index] = call()

    at_once(one, threads=len(calls), timeout=timeout)
    return [results[index] for index in range(len(calls))]
