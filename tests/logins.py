"""Logging in from a test the way the login page does: django-axes' backend (first in
AUTHENTICATION_BACKENDS) counts failures per client and refuses ``authenticate()`` without the
request, so ``Client.login()`` and ``authenticate()`` are given one (``force_login`` needs none)."""

from django.http import HttpRequest
from django.test import RequestFactory


def login_request(ip_address: str = "127.0.0.1") -> HttpRequest:
    """A POST to the login page from ``ip_address``, for ``authenticate(request, …)``."""
    return RequestFactory().post("/accounts/login/", REMOTE_ADDR=ip_address)
