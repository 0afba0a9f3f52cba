"""`make run` runs the product as production does: the web server and a task worker together,
on the database task backend over one SQLite file. A customer's Pay never waits for the
merchant's endpoint; the worker delivers the callback and retries it."""

import http.cookiejar
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from standardwebhooks import Webhook

from tests.checkout.callback_receiver import CallbackReceiver

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.2)
    raise AssertionError(f"Timed out after {timeout} s waiting for {what}")


class Customer:
    """A browser without JavaScript: cookies, CSRF tokens, form posts."""

    def __init__(self, base: str):
        self.base = base
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=30) as response:
            return response.read().decode()

    def post(self, path: str, fields: dict[str, str]) -> str:
        csrf = next(cookie.value for cookie in self.cookies if cookie.name == "csrftoken")
        body = urllib.parse.urlencode({**fields, "csrfmiddlewaretoken": csrf}).encode()
        request = urllib.request.Request(self.base + path, data=body, method="POST")
        request.add_header("Referer", self.base + path)
        with self.opener.open(request, timeout=30) as response:
            return response.read().decode()


@pytest.fixture(scope="module")
def make_run(tmp_path_factory):
    """`make run` on a fresh SQLite file and a free port; stopped (both processes) at the end."""
    folder = tmp_path_factory.mktemp("make-run")
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}",
        "PORT": str(port),
    }
    for name in ("DJANGO_SETTINGS_MODULE", "TASKS_BACKEND", "DJANGO_ALLOW_ASYNC_UNSAFE"):
        env.pop(name, None)
    log = (folder / "make-run.log").open("w+")
    process = subprocess.Popen(
        ["make", "run", f"PORT={port}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"

    def output() -> str:
        log.flush()
        return (folder / "make-run.log").read_text()

    def serving() -> bool:
        assert process.poll() is None, output()
        try:
            with urllib.request.urlopen(base + "/v0/openapi.json", timeout=2):
                return "worker.1 | Starting worker" in output()
        except OSError:
            return False

    try:
        wait_until(serving, 240, "make run to serve")

        def manage(*args: str) -> str:
            result = subprocess.run(
                [str(ROOT / ".venv/bin/python"), "manage.py", *args],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            return result.stdout.strip().splitlines()[-1]

        yield {"base": base, "manage": manage, "output": output}
    finally:
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise
        log.close()


def create_session(make_run, callback_url: str) -> str:
    key = make_run["manage"]("create_api_key", "--org", "acme", "--mode", "test")
    request = urllib.request.Request(
        make_run["base"] + "/v0/checkout/sessions",
        data=json.dumps(
            {
                "items": [{"name": "Espresso beans", "quantity": 1, "unitPrice": 2400}],
                "callbackUrl": callback_url,
            }
        ).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["id"]


def pay(make_run, session_id: str) -> float:
    """Pay as a customer through the hosted page; returns the seconds the Pay POST took."""
    customer = Customer(make_run["base"])
    customer.get(f"/checkout/{session_id}")
    customer.post(f"/checkout/{session_id}/details", {"email": "jenny.rosen@example.com"})
    started = time.monotonic()
    page = customer.post(
        f"/checkout/{session_id}/pay",
        {"number": "4242 4242 4242 4242", "expiry": "12 / 34", "cvc": "123"},
    )
    took = time.monotonic() - started
    assert re.search(r"Thank you|Payment successful|paid", page), page[:2000]
    return took


@pytest.mark.embedded
def test_make_run_pays_at_once_while_the_worker_delivers_to_a_slow_endpoint(make_run):
    with CallbackReceiver(delays=[6]) as receiver:
        session_id = create_session(make_run, receiver.url)

        took = pay(make_run, session_id)

        # The receiver sleeps 6 s: a Pay that waited for it would take longer than that.
        assert took < 4, f"Pay took {took:.1f} s"
        wait_until(lambda: receiver.received, 30, "the callback")
    secret = make_run["manage"]("callback_secret", "--org", "acme", "--mode", "test")
    payload = Webhook(secret).verify(receiver.received[0].body, receiver.received[0].headers)
    assert payload["type"] == "checkout.session.completed"
    assert payload["data"]["id"] == session_id


@pytest.mark.embedded
def test_make_run_worker_retries_a_callback_answered_with_500(make_run):
    with CallbackReceiver(statuses=[500, 200]) as receiver:
        session_id = create_session(make_run, receiver.url)
        pay(make_run, session_id)

        wait_until(lambda: len(receiver.received) >= 2, 40, "the retry")
    first, retry = receiver.received[:2]
    assert first.headers["webhook-id"] == retry.headers["webhook-id"]
    assert "| Task" in make_run["output"]()  # the worker's log, prefixed, in the same output
