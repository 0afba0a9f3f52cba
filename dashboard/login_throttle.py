"""Login lockouts (django-axes) as the rest of the site sees clients and pages: the client IP by
the trusted-proxy rule, IPv6 per /64 as every other limit counts it, and the lockout page in the
account look (429, ``Retry-After``) that never says whether the username exists.

Axes keeps its counts in the database (``AxesDatabaseHandler``), which every app server shares.
See README, "Limits".
"""

import ipaddress

from axes.middleware import AxesMiddleware
from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from checkout.limits import client_key
from checkout.request_context import client_ip


def login_client_ip(request: HttpRequest) -> str | None:
    """The address axes counts failures against: the client IP as ``checkout.request_context``
    finds it (``X-Forwarded-For`` only through ``TRUSTED_PROXY_COUNT`` proxies), an IPv6
    address as the first address of its /64 (one subscriber, one count)."""
    key = client_key(client_ip(request))
    if not key:
        return None
    # axes stores an address, not a network: the /64's first address names it.
    return str(ipaddress.ip_network(key).network_address) if "/" in key else key


def login_username(request: HttpRequest, credentials: dict | None) -> str | None:
    """The username axes counts failures against, cut to the longest a username can be.

    Django's login form does not enforce the username's length, and axes stores it in a
    255-character column: a 100,000-character guess would be a database error (a 500) on
    PostgreSQL. No account has a longer name, so every such guess is still one failure.
    """
    field = settings.AXES_USERNAME_FORM_FIELD
    username = (credentials or {}).get(field) or request.POST.get(field)
    if not isinstance(username, str):
        return None
    longest = get_user_model()._meta.get_field(get_user_model().USERNAME_FIELD).max_length
    return username[:longest].replace("\x00", "\ufffd")


# Request headers axes stores with each failure (in character columns): PostgreSQL refuses a NUL
# in text, so a header carrying one would turn a failed login into a 500.
STORED_HEADERS = ("HTTP_USER_AGENT", "HTTP_ACCEPT")


class LoginThrottleMiddleware(AxesMiddleware):
    """Axes' middleware (a lockout becomes ``lockout_response``), with the headers axes stores
    made storable first."""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        for header in STORED_HEADERS:
            value = request.META.get(header)
            if value and "\x00" in value:
                request.META[header] = value.replace("\x00", "\ufffd")
        return super().__call__(request)


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials=None
) -> HttpResponse:
    """The page a locked-out login gets: the same for every username, known or not."""
    minutes = settings.LOGIN_LOCKOUT_MINUTES
    response = render(
        request,
        "registration/locked_out.html",
        {"lockout_minutes": minutes},
        status=429,
    )
    response["Retry-After"] = str(minutes * 60)
    return response
