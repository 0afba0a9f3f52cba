"""Login and password-reset throttles: django-axes locks out a username (from any IP) and a
client IP (for any username) after LOGIN_FAILURES_BEFORE_LOCKOUT failures, for
LOGIN_LOCKOUT_MINUTES, on the dashboard's and the admin's login alike; the lockout page never
says whether the username exists. Password reset requests are limited per address and per
client IP; past a limit the page is the same and nothing is sent."""

import logging
import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.utils import timezone

from orgs.models import PasswordResetRequest
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/"
RESET = "/accounts/password_reset/"


@pytest.fixture
def jenny():
    return UserFactory(username="jenny", email="jenny@example.com")


@pytest.fixture(autouse=True)
def limits(settings):
    settings.LOGIN_FAILURES_BEFORE_LOCKOUT = settings.AXES_FAILURE_LIMIT = 5
    settings.LOGIN_LOCKOUT_MINUTES = 15
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)
    settings.TRUSTED_PROXY_COUNT = 0
    settings.PASSWORD_RESETS_PER_ADDRESS_PER_HOUR = 3
    settings.PASSWORD_RESETS_PER_IP_PER_HOUR = 10


def log_in(username, password, ip="198.51.100.1", path=LOGIN, **headers):
    return Client().post(
        path, {"username": username, "password": password}, REMOTE_ADDR=ip, **headers
    )


def logged_in(response) -> bool:
    return response.status_code == 302 and "_auth_user_id" in response.client.session


def without_csrf(html: str) -> str:
    """The page without what differs on every response anyway (CSRF tokens, CSP nonces)."""
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", html)
    html = re.sub(r'"X-CSRFToken": "[^"]*"', "", html)
    return re.sub(r'nonce="[^"]*"', "", html)


def test_five_failures_for_a_username_from_different_ips_lock_it_out_everywhere(jenny):
    for n in range(5):
        log_in("jenny", "wrong", ip=f"198.51.100.{n + 1}")
    response = log_in("jenny", PASSWORD, ip="203.0.113.9")
    assert response.status_code == 429
    assert "Too many login attempts" in response.text
    assert response["Retry-After"] == str(15 * 60)
    assert "_auth_user_id" not in response.client.session


def test_four_failures_do_not_lock_out(jenny):
    for _ in range(4):
        log_in("jenny", "wrong")
    assert logged_in(log_in("jenny", PASSWORD))


def test_five_failures_from_one_ip_across_usernames_lock_out_that_ip_only(jenny):
    for n in range(5):
        log_in(f"guess{n}", "wrong", ip="198.51.100.7")
    assert log_in("jenny", PASSWORD, ip="198.51.100.7").status_code == 429
    assert logged_in(log_in("jenny", PASSWORD, ip="198.51.100.8"))


def test_an_ipv6_client_is_locked_out_across_its_whole_64(jenny):
    for n in range(5):
        log_in(f"guess{n}", "wrong", ip=f"2001:db8:1:2::{n + 1}")
    assert log_in("jenny", PASSWORD, ip="2001:db8:1:2:ffff::1").status_code == 429
    assert logged_in(log_in("jenny", PASSWORD, ip="2001:db8:1:3::1"))


def test_the_lockout_ends_after_the_cool_off(jenny):
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        for _ in range(5):
            log_in("jenny", "wrong")
        traveller.shift(timedelta(minutes=14))
        assert log_in("jenny", PASSWORD).status_code == 429
        # That refused attempt started the wait again.
        traveller.shift(timedelta(minutes=16))
        assert logged_in(log_in("jenny", PASSWORD))


def test_a_successful_login_clears_earlier_failures(jenny):
    for _ in range(4):
        log_in("jenny", "wrong")
    assert logged_in(log_in("jenny", PASSWORD))
    for _ in range(4):
        log_in("jenny", "wrong")
    assert logged_in(log_in("jenny", PASSWORD))


def test_unknown_username_and_wrong_password_get_the_same_page(jenny):
    unknown = log_in("nobody-here", "wrong", ip="198.51.100.1")
    wrong = log_in("jenny", "wrong", ip="198.51.100.2")
    assert unknown.status_code == wrong.status_code == 200
    assert without_csrf(unknown.text).replace("nobody-here", "NAME") == without_csrf(
        wrong.text
    ).replace("jenny", "NAME")


def test_the_lockout_page_is_the_same_for_unknown_and_existing_usernames(jenny):
    for _ in range(5):
        log_in("jenny", "wrong", ip="198.51.100.1")
        log_in("nobody-here", "wrong", ip="198.51.100.2")
    existing = log_in("jenny", "wrong", ip="198.51.100.3")
    unknown = log_in("nobody-here", "wrong", ip="198.51.100.4")
    assert existing.status_code == unknown.status_code == 429
    assert without_csrf(existing.text) == without_csrf(unknown.text)
    assert "jenny" not in existing.text


def test_every_lockout_is_logged(jenny, caplog):
    with caplog.at_level(logging.WARNING, logger="axes"):
        for _ in range(5):
            log_in("jenny", "wrong")
    assert any("Locking out" in record.getMessage() for record in caplog.records)


def test_the_admin_login_is_locked_out_too(jenny):
    jenny.is_staff = jenny.is_superuser = True
    jenny.save()
    for _ in range(5):
        log_in("jenny", "wrong", path=ADMIN_LOGIN)
    response = log_in("jenny", PASSWORD, path=ADMIN_LOGIN)
    assert response.status_code == 429
    assert log_in("jenny", PASSWORD).status_code == 429  # one count for both doors


def test_the_admin_login_logs_a_staff_member_in_and_refuses_others(jenny):
    assert not logged_in(log_in("jenny", PASSWORD, path=ADMIN_LOGIN))  # not staff
    jenny.is_staff = True
    jenny.save()
    assert logged_in(log_in("jenny", PASSWORD, path=ADMIN_LOGIN))


def test_a_spoofed_x_forwarded_for_does_not_dodge_the_ip_lockout(jenny):
    for n in range(5):
        log_in(f"guess{n}", "wrong", HTTP_X_FORWARDED_FOR=f"10.9.8.{n}")
    response = log_in("jenny", PASSWORD, HTTP_X_FORWARDED_FOR="10.9.8.200")
    assert response.status_code == 429


def test_behind_a_trusted_proxy_the_forwarded_client_is_locked_out(jenny, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    for n in range(5):
        log_in(f"guess{n}", "wrong", ip="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.50")
    proxy = "10.0.0.1"
    assert (
        log_in("jenny", PASSWORD, ip=proxy, HTTP_X_FORWARDED_FOR="198.51.100.50").status_code == 429
    )
    # Another customer behind the same proxy is not locked out.
    assert logged_in(log_in("jenny", PASSWORD, ip=proxy, HTTP_X_FORWARDED_FOR="198.51.100.51"))


@pytest.mark.parametrize(
    "username", ["jen\x00ny", "\x00", "j" * 100_000, "ｊｅｎｎｙ", "jenny\u202e", "' OR 1=1 --"]
)
def test_junk_usernames_are_an_ordinary_failure(jenny, username):
    response = log_in(username, "wrong")
    assert response.status_code in (200, 429)
    assert "_auth_user_id" not in response.client.session


def test_a_locked_out_login_can_be_opened_again_with_zero_limit(jenny, settings):
    for _ in range(5):
        log_in("jenny", "wrong")
    settings.AXES_ENABLED = False  # what LOGIN_FAILURES_BEFORE_LOCKOUT=0 sets
    assert logged_in(log_in("jenny", PASSWORD))


# Password reset


def request_reset(email, ip="198.51.100.1"):
    return Client().post(RESET, {"email": email}, REMOTE_ADDR=ip, follow=True)


def test_three_resets_per_address_an_hour_then_the_same_page_and_no_email(jenny, caplog):
    for n in range(3):
        request_reset("jenny@example.com", ip=f"198.51.100.{n + 1}")
    assert len(mail.outbox) == 3
    with caplog.at_level(logging.WARNING, logger="dashboard.password_reset_limits"):
        response = request_reset("Jenny@Example.com", ip="203.0.113.9")
    assert response.redirect_chain[-1][0] == "/accounts/password_reset/done/"
    assert "Check your email" in response.text
    assert len(mail.outbox) == 3
    assert "Password reset refused" in caplog.text
    assert "jenny@example.com" not in caplog.text.lower()


def test_ten_resets_per_ip_an_hour_across_addresses(jenny, caplog):
    for n in range(10):
        request_reset(f"someone{n}@example.com", ip="198.51.100.5")
    with caplog.at_level(logging.WARNING, logger="dashboard.password_reset_limits"):
        response = request_reset("jenny@example.com", ip="198.51.100.5")
    assert "Check your email" in response.text
    assert mail.outbox == []
    assert "Password reset refused" in caplog.text
    request_reset("jenny@example.com", ip="198.51.100.6")
    assert len(mail.outbox) == 1


def test_reset_limits_look_back_one_hour(jenny):
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        for _ in range(3):
            request_reset("jenny@example.com")
        traveller.shift(timedelta(minutes=61))
        request_reset("jenny@example.com")
    assert len(mail.outbox) == 4


def test_refused_resets_are_not_recorded(jenny):
    for _ in range(6):
        request_reset("jenny@example.com")
    assert PasswordResetRequest.objects.count() == 3


def test_reset_rows_hold_no_address(jenny):
    request_reset("jenny@example.com")
    row = PasswordResetRequest.objects.get()
    assert "jenny" not in row.address_key and len(row.address_key) == 64
    assert row.ip_key == "198.51.100.1"


def test_reset_with_junk_input_is_never_a_server_error(jenny):
    for email in ["a\x00@example.com", "x" * 100_000, "jenny@exаmple.com"]:
        assert request_reset(email).status_code < 500


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_USER_AGENT": "Mozilla\x00/5.0"},
        {"HTTP_ACCEPT": "text/html\x00"},
        {"HTTP_USER_AGENT": "M" * 10_000, "HTTP_ACCEPT": "a" * 10_000},
    ],
)
def test_junk_headers_on_a_failed_login_are_never_a_server_error(jenny, headers):
    assert log_in("jenny", "wrong", **headers).status_code == 200
