"""Production settings (DEBUG off, configured from the environment) pass `check --deploy`, and
refuse to start (or to pass the deploy check) without each variable production must set."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "a-production-secret-key-that-is-long-and-random-0123456789-abcdefghijkl",
    "ALLOWED_HOSTS": "pay.example.com",
    "SITE_URL": "https://pay.example.com",
    "EMAIL_URL": "smtp+tls://mailer:secret@smtp.example.com:587",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, **PRODUCTION_ENV, **env}
    environment = {name: value for name, value in environment.items() if value}
    # `check` opens the database; without DATABASE_URL, the default var/ file may not exist.
    environment.setdefault("DATABASE_URL", "sqlite://:memory:")
    # Set by the browser tests' conftest for Playwright; production never has it.
    for name in ("DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE"):
        environment.pop(name, None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_reports_nothing_in_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("variable", ["SECRET_KEY", "ALLOWED_HOSTS", "SITE_URL"])
def test_production_refuses_to_start_without_each_required_variable(variable):
    result = manage("check", **{variable: ""})

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert f"Set the {variable} environment variable" in result.stderr


@pytest.mark.parametrize("variable", ["ALLOWED_HOSTS", "SITE_URL"])
def test_production_refuses_a_variable_set_but_empty(variable):
    # manage() drops empty values, so "set but blank" is spaces here.
    result = manage("check", **{variable: " "})

    assert result.returncode != 0
    assert variable in result.stderr


def test_production_refuses_testserver_in_allowed_hosts():
    result = manage("check", ALLOWED_HOSTS="pay.example.com,testserver")

    assert result.returncode != 0
    assert "ALLOWED_HOSTS must not include testserver" in result.stderr


@pytest.mark.parametrize("email_url", ["", "consolemail://", "memorymail://", "dummymail://"])
def test_check_deploy_fails_without_a_real_mail_server(email_url):
    result = manage("check", "--deploy", EMAIL_URL=email_url)

    assert result.returncode != 0
    assert "checkout.E001" in result.stderr
    assert "EMAIL_URL" in result.stderr


def test_the_embedded_default_needs_none_of_them():
    unset = {name: "" for name in PRODUCTION_ENV}
    result = manage("check", **unset)

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "site_url",
    [
        "pay.example.com",
        "ftp://pay.example.com",
        "https://",
        "https://pay.example.com/checkout",
        "https://pay.example.com?x=1",
        "https://user:pw@pay.example.com",
    ],
)
def test_a_site_url_that_is_not_the_sites_root_fails_the_check(site_url):
    result = manage("check", SITE_URL=site_url)

    assert result.returncode != 0
    assert "checkout.E002" in result.stderr
    assert "SITE_URL" in result.stderr


def test_check_deploy_refuses_a_plain_http_site_url():
    assert manage("check", SITE_URL="http://pay.example.com").returncode == 0

    result = manage("check", "--deploy", SITE_URL="http://pay.example.com")

    assert result.returncode != 0
    assert "checkout.E003" in result.stderr
