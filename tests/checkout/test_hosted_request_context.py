"""What the hosted page records about the customer's browser: the client IP honours only the
configured number of trusted proxies; the device type comes from the User-Agent."""

import pytest
from django.test import RequestFactory

from checkout.request_context import client_ip, customer_context, customer_locale, device_type

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
IPAD = "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)"
MAC_CHROME = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/126.0 Safari/537.36"
)
ANDROID_PHONE = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36"
)


def request(remote_addr="198.51.100.7", forwarded=None, **headers):
    meta = {"REMOTE_ADDR": remote_addr}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", headers=headers, **meta)


def test_without_trusted_proxies_a_forwarded_header_is_ignored(settings):
    settings.TRUSTED_PROXY_COUNT = 0

    assert client_ip(request(forwarded="203.0.113.66")) == "198.51.100.7"


def test_behind_one_proxy_the_last_forwarded_address_is_the_client(settings):
    settings.TRUSTED_PROXY_COUNT = 1

    # The customer tried to spoof 1.2.3.4; our proxy appended the address it really saw.
    assert client_ip(request(forwarded="1.2.3.4, 203.0.113.66")) == "203.0.113.66"


def test_behind_two_proxies_the_second_to_last_forwarded_address_is_the_client(settings):
    settings.TRUSTED_PROXY_COUNT = 2

    forwarded = "1.2.3.4, 203.0.113.66, 10.0.0.2"
    assert client_ip(request(remote_addr="10.0.0.3", forwarded=forwarded)) == "203.0.113.66"


def test_a_request_that_skipped_the_proxies_falls_back_to_remote_addr(settings):
    settings.TRUSTED_PROXY_COUNT = 2

    assert client_ip(request(forwarded="203.0.113.66")) == "198.51.100.7"
    assert client_ip(request()) == "198.51.100.7"


def test_garbage_in_the_forwarded_header_falls_back_to_remote_addr(settings):
    settings.TRUSTED_PROXY_COUNT = 1

    assert client_ip(request(forwarded="<script>, not-an-ip")) == "198.51.100.7"


def test_ipv6_addresses_are_kept(settings):
    settings.TRUSTED_PROXY_COUNT = 0

    assert client_ip(request(remote_addr="2001:db8::1")) == "2001:db8::1"


@pytest.mark.parametrize(
    ("user_agent", "expected"),
    [
        (IPHONE, "mobile"),
        (ANDROID_PHONE, "mobile"),
        (IPAD, "tablet"),
        (MAC_CHROME, "desktop"),
        ("curl/8.5.0", "other"),
        ("", "other"),
    ],
)
def test_device_type_comes_from_the_user_agent(user_agent, expected):
    assert device_type(user_agent) == expected


def test_context_truncates_a_huge_user_agent(settings):
    settings.TRUSTED_PROXY_COUNT = 0

    context = customer_context(request(**{"User-Agent": MAC_CHROME + "x" * 10_000}))

    assert len(context.user_agent) == 500
    assert context.device_type == "desktop"
    assert context.ip_address == "198.51.100.7"


@pytest.mark.parametrize(
    ("header", "expected"),
    [("de-DE,de;q=0.9", "de_DE"), ("", "en_US"), ("*", "en_US"), ("xx-garbage", "en_US")],
)
def test_locale_is_the_first_accept_language_babel_knows(header, expected):
    assert customer_locale(request(**{"Accept-Language": header})) == expected
