"""config/wsgi.py behind a real gunicorn: a ``Transfer-Encoding: chunked`` body (no
Content-Length) is read, within the same size limit as any other body."""

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from checkout.models import CheckoutSession
from orgs.services import create_api_key
from tests.checkout.api.client import SEED_BODY

ROOT = Path(__file__).resolve().parents[1]

# gunicorn runs in its own process, so it must see the test's rows: committed, in PostgreSQL.
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def gunicorn():
    database = connection.settings_dict
    port = _free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}"
        f"/{database['NAME']}",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.1)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)


def post_chunked(port: int, key: str, chunks: list[bytes]) -> tuple[int, dict]:
    server = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    server.request(
        "POST",
        "/v0/checkout/sessions",
        body=iter(chunks),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        encode_chunked=True,  # Transfer-Encoding: chunked, no Content-Length
    )
    response = server.getresponse()
    body = json.loads(response.read())
    server.close()
    return response.status, body


def test_a_chunked_body_is_read(gunicorn, org):
    key = create_api_key(org=org, mode="test")[1]
    body = json.dumps(SEED_BODY).encode()

    status, session = post_chunked(gunicorn, key, [body[:20], body[20:]])

    assert status == 201, session
    assert session["order"]["amountTotal"] == 7500
    assert CheckoutSession.objects.filter(public_id=session["id"]).exists()


def test_a_chunked_body_over_the_limit_is_413(gunicorn, org):
    key = create_api_key(org=org, mode="test")[1]
    padding = b"x" * (256 * 1024)

    status, error = post_chunked(
        gunicorn, key, [b'{"metadata": {"p": "'] + [padding] * 5 + [b'"}}']
    )

    assert status == 413
    assert error["error"]["code"] == "request_too_large"
    assert not CheckoutSession.objects.exists()


def test_an_empty_chunked_body_names_the_missing_items(gunicorn, org):
    key = create_api_key(org=org, mode="test")[1]

    status, error = post_chunked(gunicorn, key, [])

    assert status == 400
    assert error["error"]["param"] == "items"
