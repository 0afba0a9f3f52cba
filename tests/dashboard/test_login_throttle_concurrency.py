"""Login lockouts are exact under concurrency (PostgreSQL advisory locks): a burst of simultaneous
wrong passwords — one username from many addresses, or many usernames from one client — gets
exactly LOGIN_FAILURES_BEFORE_LOCKOUT password checks, on the dashboard's login and the admin's
alike; every other request of the burst gets the lockout page without one.

The window is the real one: each password check is a full PBKDF2 hash (hundreds of
milliseconds), so without the lock every request of the burst passes axes' check before the first
failure is recorded. What is counted is the password checks themselves: axes records a refused
attempt during a lockout as a failure too (it restarts the cool-off), so its counts are the same
with or without the lock."""

import functools
import itertools
import threading

import pytest
from django.contrib.auth.backends import ModelBackend
from django.test import Client

from tests.concurrency import at_once
from tests.factories import UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"
LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/"
BURST = 12
LIMIT = 5


@pytest.fixture(autouse=True)
def limits(settings):
    settings.LOGIN_FAILURES_BEFORE_LOCKOUT = settings.AXES_FAILURE_LIMIT = LIMIT
    settings.TRUSTED_PROXY_COUNT = 0


@pytest.fixture
def jenny():
    return UserFactory(username="jenny", is_staff=True, is_superuser=True)


@pytest.fixture
def password_checks(monkeypatch) -> list[str]:
    """The usernames whose password was tested (ModelBackend, after axes' backend let the
    attempt through; an unknown username is hashed all the same)."""
    checked: list[str] = []
    lock = threading.Lock()
    authenticate = ModelBackend.authenticate

    @functools.wraps(authenticate)
    def counted(self, request, username=None, password=None, **kwargs):
        with lock:
            checked.append(username)
        return authenticate(self, request, username=username, password=password, **kwargs)

    monkeypatch.setattr(ModelBackend, "authenticate", counted)
    return checked


def log_in(username, password, ip, path=LOGIN):
    """A POST from a browser of its own (each thread has its own ``Client``)."""
    return Client().post(path, {"username": username, "password": password}, REMOTE_ADDR=ip)


def burst(attempt) -> list[int]:
    """``attempt(n)`` for n = 1…BURST from BURST threads released together; the status codes."""
    numbers = itertools.count(1)  # next() on it is atomic: each thread gets its own n
    return sorted(at_once(lambda: attempt(next(numbers)).status_code, threads=BURST))


# Four failures show the form again; the fifth locks out at once (429), as does every attempt
# after it, without a password check.
LOCKOUT_STATUSES = [200] * (LIMIT - 1) + [429] * (BURST - LIMIT + 1)


def test_a_burst_for_one_username_gets_five_password_checks(jenny, password_checks):
    statuses = burst(lambda n: log_in("jenny", "wrong", ip=f"198.51.100.{n}"))
    assert len(password_checks) == LIMIT
    assert statuses == LOCKOUT_STATUSES


def test_a_burst_from_one_client_across_usernames_gets_five_password_checks(jenny, password_checks):
    statuses = burst(lambda n: log_in(f"guess{n}", "wrong", ip="203.0.113.7"))
    assert len(password_checks) == LIMIT
    assert statuses == LOCKOUT_STATUSES


def test_a_burst_on_the_admin_login_gets_five_password_checks(jenny, password_checks):
    statuses = burst(lambda n: log_in("jenny", "wrong", ip=f"198.51.100.{n}", path=ADMIN_LOGIN))
    assert len(password_checks) == LIMIT
    assert statuses == LOCKOUT_STATUSES


@pytest.mark.parametrize("path", [LOGIN, ADMIN_LOGIN])
def test_after_a_burst_the_right_password_is_refused(jenny, password_checks, path):
    burst(lambda n: log_in("jenny", "wrong", ip=f"198.51.100.{n}", path=path))
    response = log_in("jenny", PASSWORD, ip="192.0.2.1", path=path)
    assert response.status_code == 429
    assert "_auth_user_id" not in response.client.session
    assert len(password_checks) == LIMIT
