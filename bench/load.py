"""Step 3: the app served as in production (gunicorn, 2 sync workers, ``DEBUG=false``, tasks
queued on the database backend, ``CONN_MAX_AGE`` as configured) and loaded with wrk; the pay
flow (API create → hosted page → details → pay) by a threaded Python driver. Every run is
compared with the bare Django view of the same server, in the same run."""

import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from django.utils import timezone
from django.utils.crypto import get_random_string

from bench.generate import Dataset
from bench.timings import BenchError
from checkout.models import CheckoutSession
from orgs.models import Mode

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
LUA = BENCH_DIR / "wrk" / "checkout.lua"
WORKERS = 2
THREADS = 2
CONNECTIONS = 8
CREATE_BODY = json.dumps(
    {"items": [{"name": "Bench widget", "quantity": 2, "unitPrice": 1250}]}
).encode()
CSRF_INPUT = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')
CSRF_COOKIE = re.compile(r"csrftoken=([^;]+)")
TARGETS = {
    "bare": "Bare Django view (bench/urls.py)",
    "page": "Hosted page GET /checkout/<open session>",
    "retrieve": "API retrieve GET /v0/checkout/sessions/<id>",
    "create": "API create POST /v0/checkout/sessions",
    "create_keyed": "API create with Idempotency-Key",
}


@dataclass(frozen=True)
class LoadResult:
    name: str
    what: str
    requests_per_second: float
    requests: int
    latency: str = ""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _server_environment(port: int) -> dict[str, str]:
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    env.setdefault("SITE_URL", f"http://127.0.0.1:{port}")
    return env


class Server:
    """gunicorn serving ``wsgi`` (``config.wsgi``) with ``bench.settings`` on a free local port;
    ``env`` is added to the environment it inherits (``make soak``, the fault drills)."""

    def __init__(self, *, wsgi: str = "config.wsgi", env: dict[str, str] | None = None):
        self.port = free_port()
        gunicorn = Path(sys.executable).with_name("gunicorn")
        self.process = subprocess.Popen(
            [
                str(gunicorn),
                wsgi,
                f"--bind=127.0.0.1:{self.port}",
                f"--workers={WORKERS}",
                "--worker-class=sync",
                "--log-level=warning",
            ],
            cwd=ROOT,
            env={**_server_environment(self.port), **(env or {})},
        )

    def __enter__(self) -> "Server":
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"gunicorn exited with {self.process.returncode}")
            try:
                status, _, _ = http_request(self.port, "GET", "/bench/bare")
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        raise BenchError("gunicorn did not answer /bench/bare within 30 s")

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def http_request(port: int, method: str, path: str, body: bytes | None = None, headers=None):
    """One request to 127.0.0.1:``port`` on a new connection: status, headers, body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        connection.close()


def wrk(port: int, target: str, *, seconds: int, env: dict[str, str]) -> LoadResult:
    """One wrk run; raises BenchError on any non-2xx response or socket error."""
    command = [
        "wrk",
        f"-t{THREADS}",
        f"-c{CONNECTIONS}",
        f"-d{seconds}s",
        "--latency",
        "-s",
        str(LUA),
        f"http://127.0.0.1:{port}",
    ]
    completed = subprocess.run(
        command,
        env={**os.environ, **env, "BENCH_TARGET": target},
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
    )
    output = completed.stdout
    if completed.returncode != 0:
        raise BenchError(f"wrk {target} failed ({completed.returncode}): {completed.stderr}")
    bad = re.search(r"non-2xx: (\d+)", output)
    if bad is None or int(bad[1]):
        raise BenchError(f"wrk {target}: responses outside 2xx:\n{output}")
    if errors := re.search(r"Socket errors: (.*)", output):
        raise BenchError(f"wrk {target}: socket errors ({errors[1]}):\n{output}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1])
    total = int(re.search(r"(\d+) requests in", output)[1])
    latency = re.search(r"Latency Distribution.*?50%\s+(\S+).*?99%\s+(\S+)", output, re.S)
    return LoadResult(
        target,
        TARGETS[target],
        rps,
        total,
        f"p50 {latency[1]}, p99 {latency[2]}" if latency else "",
    )


def _expect(status: int, expected: int, step: str, body: bytes) -> None:
    if status != expected:
        raise BenchError(f"pay flow, {step}: {status} (expected {expected}): {body[:300]!r}")


@dataclass(frozen=True)
class HostedPage:
    """The hosted page as a browser without JavaScript holds it: its path, and the CSRF cookie
    and token its forms post back (any server of one deployment accepts them)."""

    path: str
    form_headers: dict[str, str]
    csrf_field: str


def create_session(port: int, api_key: str, body: bytes = CREATE_BODY) -> str:
    """``POST /v0/checkout/sessions`` (201 expected); the new session's id."""
    auth = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    status, _, answer = http_request(port, "POST", "/v0/checkout/sessions", body, auth)
    _expect(status, 201, "create", answer)
    return json.loads(answer)["id"]


def open_page(port: int, session_id: str) -> HostedPage:
    """``GET /checkout/<id>`` (200 expected), keeping its CSRF cookie and token."""
    path = f"/checkout/{session_id}"
    status, headers, body = http_request(port, "GET", path)
    _expect(status, 200, "page", body)
    cookie = next(
        (
            m[1]
            for name, value in headers
            if name == "Set-Cookie" and (m := CSRF_COOKIE.match(value))
        ),
        None,
    )
    token = CSRF_INPUT.search(body)
    if cookie is None or token is None:
        raise BenchError("pay flow: the hosted page set no CSRF cookie or token")
    return HostedPage(
        path=path,
        form_headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={cookie}",
        },
        csrf_field=f"csrfmiddlewaretoken={token[1].decode()}",
    )


def save_details(port: int, page: HostedPage, email: str = "payer@example.com") -> None:
    """Step 1, ``POST /checkout/<id>/details`` (303 expected)."""
    body = f"{page.csrf_field}&{urlencode({'email': email})}".encode()
    status, _, answer = http_request(port, "POST", f"{page.path}/details", body, page.form_headers)
    _expect(status, 303, "details", answer)


def card_expiry() -> str:
    """A form-encoded expiry two years ahead."""
    return f"12%2F{(timezone.now().year + 2) % 100:02d}"


def post_pay(port: int, page: HostedPage, expiry: str):
    """Step 2, ``POST /checkout/<id>/pay`` with the test Visa: status, headers, body, unchecked
    (a success and a payment already under way are both 303s, to different pages)."""
    card = f"{page.csrf_field}&number=4242424242424242&expiry={expiry}&cvc=123"
    return http_request(port, "POST", f"{page.path}/pay", card.encode(), page.form_headers)


def _pay_once(port: int, api_key: str, expiry: str) -> None:
    """API create → hosted page → details → pay with the test card; 4 requests."""
    page = open_page(port, create_session(port, api_key))
    save_details(port, page)
    status, _, body = post_pay(port, page, expiry)
    _expect(status, 303, "pay", body)


def pay_flow(port: int, api_key: str, *, seconds: int) -> LoadResult:
    """Customers paying, ``CONNECTIONS`` at a time, for ``seconds``: flows × 4 requests / s."""
    expiry = card_expiry()
    flows, failures = [], []
    deadline = time.monotonic() + seconds

    def customer() -> None:
        done = 0
        try:
            while time.monotonic() < deadline:
                _pay_once(port, api_key, expiry)
                done += 1
        except (BenchError, OSError) as error:
            failures.append(error)
        flows.append(done)

    started = time.monotonic()
    customers = [threading.Thread(target=customer) for _ in range(CONNECTIONS)]
    for thread in customers:
        thread.start()
    for thread in customers:
        thread.join()
    elapsed = time.monotonic() - started
    if failures:
        raise BenchError(f"pay flow failed: {failures[0]}")
    requests = 4 * sum(flows)
    return LoadResult(
        "pay_flow",
        f"Pay flow: API create → GET page → POST details → POST pay ({sum(flows)} flows, "
        f"{sum(flows) / elapsed:.1f} flows/s)",
        requests / elapsed,
        requests,
    )


def serve_and_load(
    dataset: Dataset, *, seconds: int, log: Callable[[str], None] = print
) -> list[LoadResult]:
    """Every step-3 run against one gunicorn, bare view first."""
    if shutil.which("wrk") is None:
        raise BenchError("wrk is not installed (Debian: apt-get install wrk)")
    session = (
        CheckoutSession.objects.for_org(dataset.org, Mode.TEST)
        .open()
        .filter(details_provided_at__isnull=True)
        .newest_first()
        .first()
    )
    if session is None:
        raise BenchError("no open session without details to load the hosted page with")
    env = {
        "BENCH_API_KEY": dataset.api_key,
        "BENCH_SESSION_ID": session.public_id,
        "BENCH_RUN_ID": get_random_string(8),
    }
    results = []
    with Server() as server:
        log(
            f"  gunicorn on 127.0.0.1:{server.port}, {WORKERS} sync workers; wrk -t{THREADS} "
            f"-c{CONNECTIONS} -d{seconds}s"
        )
        for target in TARGETS:
            result = wrk(server.port, target, seconds=seconds, env=env)
            log(f"  {target:<14} {result.requests_per_second:9.1f} requests/s  ({result.latency})")
            results.append(result)
        result = pay_flow(server.port, dataset.api_key, seconds=seconds)
        log(f"  {'pay_flow':<14} {result.requests_per_second:9.1f} requests/s  ({result.what})")
        results.append(result)
    return results
