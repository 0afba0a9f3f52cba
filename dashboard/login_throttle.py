"""Login lockouts (django-axes) as the rest of the site sees clients and pages: the client IP by
the trusted-proxy rule, IPv6 per /64 as every other limit counts it, and the lockout page in the
account look (429, ``Retry-After``) that never says whether the username exists.

Axes keeps its counts in the database (``AxesDatabaseHandler``), which every app server shares,
but checks them without a lock. The login forms here (the dashboard's and the admin's) hold one
lock per username and one per client around axes' check, the password test and axes' record of a
failure, so a burst of simultaneous guesses gets exactly the allowed number of password checks.
See README, "Limits".
"""

import ipaddress

from axes.middleware import AxesMiddleware
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from checkout.limits import client_key, serialize_on
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


def serialize_login(request: HttpRequest, username: str) -> None:
    """Hold the locks of the counts a login attempt for ``username`` reads and adds to, until
    the current transaction ends (call inside one): the username's, then the client's."""
    # Always the username first, then the client: one order, so no two attempts wait on each
    # other in a circle. The keys are the ones axes counts under.
    field = settings.AXES_USERNAME_FORM_FIELD
    serialize_on("login_username", login_username(request, {field: username}))
    client = login_client_ip(request)
    if client:
        serialize_on("login_client", client)


class SerializedLoginMixin:
    """For a login form: axes' check, the password test and axes' record of a failure (all
    inside ``authenticate()``) as one critical section per username and per client, so that
    attempts counted together are counted one after the other, on every app server.

    The locks last one password hash and a few queries; the page is rendered after.
    """

    def clean(self):
        if not settings.AXES_ENABLED or self.cleaned_data.get("username") is None:
            return super().clean()
        with transaction.atomic():
            serialize_login(self.request, self.cleaned_data["username"])
            try:
                return super().clean()
            except ValidationError as error:
                # A refused login is a counted one: leave the transaction normally, so that
                # axes' record of the failure commits, and refuse after.
                refusal = error
        raise refusal


class LoginForm(SerializedLoginMixin, AuthenticationForm):
    """The dashboard's login form."""


class AdminLoginForm(SerializedLoginMixin, AdminAuthenticationForm):
    """The admin's login form (``admin.site.login_form``)."""
