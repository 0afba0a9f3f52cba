"""``make soak``: the product deployed twice over, paid through by many customers at once.

Two gunicorn app servers (``config.wsgi`` with production settings: ``bench.settings``, as
``make bench`` serves it) and ONE ``db_worker``, all on one PostgreSQL database; a real callback
receiver and a real SMTP server (aiosmtpd) on 127.0.0.1 take what the worker delivers. Each
customer pays as a browser without JavaScript does, through the API and the hosted page
(create → GET page → POST details → POST pay), alternating servers; some double-submit: their
Pay POST goes to both servers at the same instant. Afterwards, in the database and at the two
receivers:

- every order is paid, with exactly one ``payment_succeeded`` event and no failed attempt;
- each double submit was charged once: one answer says paid, the other one "already being
  processed" or "already paid" (the page it redirects to says which), never an error;
- each session has one ``completed`` callback delivery, delivered; the receiver saw each
  ``webhook-id`` once, correctly signed, for the session it names;
- each customer got one receipt (one ``receipt_sent`` event, one message at the SMTP server);
- no request failed (anything but the expected answer of its step is a failure).

``python -m bench soak`` (``make soak``) prints the figures and exits 1 on any failure or
violation; see bench/__main__.py for its environment. ``tests/test_soak.py`` runs the same
code, smaller, on the test database, so it cannot rot.
"""

import http.client
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.db.models import Count, Q
from django.tasks import TaskResultStatus
from django.utils import timezone
from django.utils.crypto import get_random_string
from django_tasks_db.models import DBTaskResult
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from bench.load import (
    ROOT,
    HostedPage,
    Server,
    card_expiry,
    create_session,
    http_request,
    open_page,
    post_pay,
    save_details,
)
from bench.timings import BenchError
from checkout.choices import CallbackEvent, EventKind, PaymentStatus
from checkout.models import CallbackDelivery, CheckoutSession
from checkout.services import PAYMENT_IN_PROGRESS_MESSAGE
from checkout.views import ALREADY_PAID_MESSAGE
from orgs.models import Mode, Organization
from orgs.services import callback_secret_for, create_api_key
from tests.checkout.callback_receiver import CallbackReceiver
from tests.smtp_sink import SmtpSink

SERVER_NAMES = ("A", "B")
# What a double submit's second Pay answers, read on the page it redirects to.
IN_PROGRESS = "already being processed"
ALREADY_PAID = "already paid"
PAID_MEANWHILE = "already being processed, then paid"
PAID = "paid"


@dataclass
class SoakReport:
    customers: int
    double_submits: int
    servers: dict[str, int] = field(default_factory=dict)  # name → port
    requests: Counter = field(default_factory=Counter)  # server name → requests
    failures: list[str] = field(default_factory=list)
    pay_answers: Counter = field(default_factory=Counter)
    flow_seconds: float = 0.0
    drain_seconds: float = 0.0
    callbacks_received: int = 0
    receipts_received: int = 0
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures and not self.violations

    def lines(self) -> list[str]:
        total = sum(self.requests.values())
        per_server = ", ".join(
            f"{name} (127.0.0.1:{port}) {self.requests[name]}"
            for name, port in self.servers.items()
        )
        answers = ", ".join(f"{answer} {count}" for answer, count in self.pay_answers.items())
        rate = total / self.flow_seconds if self.flow_seconds else 0.0
        lines = [
            f"make soak: {self.customers} customers ({self.double_submits} submitting Pay to "
            f"both servers at once), {len(self.servers)} app servers, 1 worker",
            f"  requests   {total} ({per_server}); failed {len(self.failures)}",
            f"  pay        {answers}",
            f"  duration   customers {self.flow_seconds:.1f} s ({rate:.1f} requests/s); "
            f"worker done {self.drain_seconds:.1f} s later",
            f"  delivered  {self.callbacks_received} callbacks, "
            f"{self.receipts_received} receipts at the SMTP server",
        ]
        lines += [f"  FAILED     {failure}" for failure in self.failures[:20]]
        lines += [f"  VIOLATION  {violation}" for violation in self.violations[:50]]
        lines.append(
            "  result     OK: every order paid once; one payment_succeeded, one completed "
            "callback and one receipt each"
            if self.ok
            else f"  result     {len(self.failures)} failed requests, "
            f"{len(self.violations)} violations"
        )
        return lines


class Worker:
    """``manage.py db_worker`` (checkout's) with ``env``; its output goes to ``log_path``."""

    def __init__(self, *, env: dict[str, str], log_path: Path):
        self.log_path = log_path
        self.log = log_path.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "db_worker",
                "--no-reload",
                "--no-startup-delay",
                "--interval=0.1",
            ],
            cwd=ROOT,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings", **env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def __enter__(self) -> "Worker":
        return self

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise BenchError(
                f"db_worker exited with {self.process.returncode}:\n{self.log_path.read_text()}"
            )


def _merchant(callback_url: str) -> tuple[Organization, str, str]:
    """A new org whose callbacks go to ``callback_url``: it, a test API key, its secret."""
    org = Organization.objects.create(
        slug=f"soak-{get_random_string(8).lower()}",
        name="Soak Coffee Co.",
        callback_url=callback_url,
        support_email="support@shop.example.com",
    )
    _key, api_key = create_api_key(org=org, mode=Mode.TEST, name="make soak")
    secret = callback_secret_for(org=org, mode=Mode.TEST).secret
    return org, api_key, secret


def _set_cookie(headers, name: str) -> str | None:
    for header, value in headers:
        if header == "Set-Cookie" and value.startswith(f"{name}="):
            return value.split(";", 1)[0]
    return None


class Customers:
    """The customers' side: each pays, counted per server; failures are collected, never
    raised, so one customer's failure is reported with everything else."""

    def __init__(self, report: SoakReport, *, api_key: str):
        self.report = report
        self.api_key = api_key
        self.expiry = card_expiry()
        self.lock = threading.Lock()

    def _on(self, name: str):
        with self.lock:
            self.report.requests[name] += 1
        return self.report.servers[name]

    def _answer(self, answer: str) -> None:
        with self.lock:
            self.report.pay_answers[answer] += 1

    def _fail(self, message: str) -> None:
        with self.lock:
            self.report.failures.append(message)

    def pay(self, index: int, *, double_submit: bool) -> None:
        """One customer: create, page, details on their server; Pay there (and on the other
        server at the same instant, for a double submit)."""
        home, other = SERVER_NAMES[index % 2], SERVER_NAMES[(index + 1) % 2]
        try:
            session_id = create_session(self._on(home), self.api_key)
            page = open_page(self._on(home), session_id)
            save_details(self._on(home), page, f"customer-{index:03d}@example.com")
        except (BenchError, OSError, http.client.HTTPException) as error:
            self._fail(f"customer {index} on {home}: {error}")
            return
        names = [home, other] if double_submit else [home]
        start = threading.Barrier(len(names))
        answers: dict[str, str | None] = {}

        def submit(name: str) -> None:
            start.wait()
            answers[name] = self._pay_answer(index, name, page)

        threads = [threading.Thread(target=submit, args=(name,)) for name in names]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        paid = [name for name, answer in answers.items() if answer == PAID]
        if len(paid) != 1 and all(answer is not None for answer in answers.values()):
            self._fail(f"customer {index}: Pay answered paid {len(paid)} times: {answers}")

    def _pay_answer(self, index: int, name: str, page: HostedPage) -> str | None:
        where = f"customer {index}, Pay on {name}"
        try:
            status, headers, body = post_pay(self._on(name), page, self.expiry)
            location = dict(headers).get("Location", "")
            if status == 303 and location == f"{page.path}/thank-you":
                self._answer(PAID)
                return PAID
            if status != 303 or location != page.path:
                self._fail(f"{where}: {status} {location} {body[:200]!r}")
                return None
            # The second Pay: the page it redirects to says why nothing was charged.
            cookies = [page.form_headers["Cookie"], _set_cookie(headers, "messages") or ""]
            status, _, body = http_request(
                self._on(name), "GET", page.path, headers={"Cookie": "; ".join(cookies)}
            )
        except (BenchError, OSError, http.client.HTTPException) as error:
            self._fail(f"{where}: {error}")
            return None
        html = body.decode()
        if status == 200 and PAYMENT_IN_PROGRESS_MESSAGE in html:
            answer = IN_PROGRESS
        elif status == 200 and ALREADY_PAID_MESSAGE in html:
            answer = ALREADY_PAID
        elif status == 200 and "This order is paid" in html:
            answer = PAID_MEANWHILE
        else:
            self._fail(f"{where}: redirected to a page ({status}) that says nothing of it")
            return None
        self._answer(answer)
        return answer


def _queue_is_drained() -> bool:
    """No task running, none due: what is left is scheduled for later (session expiries)."""
    now = timezone.now()
    due = Q(run_after__isnull=True) | Q(run_after__lte=now)
    return not DBTaskResult.objects.filter(
        Q(status=TaskResultStatus.RUNNING) | (Q(status=TaskResultStatus.READY) & due)
    ).exists()


def _wait_for_the_worker(
    *, org: Organization, customers: int, mail: SmtpSink, worker: Worker, seconds: float
) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        worker.check_alive()
        delivered = CallbackDelivery.objects.filter(
            session__org=org, status=CallbackDelivery.Status.DELIVERED
        ).count()
        if delivered >= customers and len(mail.messages) >= customers and _queue_is_drained():
            return True
        time.sleep(0.2)
    return False


def _violations(
    *,
    org: Organization,
    customers: int,
    secret: str,
    received: list,
    mail: SmtpSink,
) -> list[str]:
    """Every broken promise, in words; none when all is well."""
    found: list[str] = []
    sessions = CheckoutSession.objects.filter(org=org).annotate(
        succeeded=Count("events", filter=Q(events__kind=EventKind.PAYMENT_SUCCEEDED)),
        failed=Count(
            "events", filter=Q(events__kind__in=[EventKind.PAYMENT_FAILED, EventKind.PAYMENT_ERROR])
        ),
        receipts=Count("events", filter=Q(events__kind=EventKind.RECEIPT_SENT)),
        receipt_failures=Count("events", filter=Q(events__kind=EventKind.RECEIPT_FAILED)),
    )
    rows = list(sessions.select_related("order"))
    if len(rows) != customers:
        found.append(f"{len(rows)} sessions, expected {customers}")
    for session in rows:
        name = f"{session.public_id} (order #{session.order.number})"
        if session.order.payment_status != PaymentStatus.PAID or not session.is_paid:
            found.append(f"{name} is not paid")
        if session.succeeded != 1:
            found.append(f"{name} has {session.succeeded} payment_succeeded events")
        if session.failed:
            found.append(f"{name} has {session.failed} failed or errored payment attempts")
        if session.receipts != 1 or session.receipt_failures:
            found.append(
                f"{name}: {session.receipts} receipt_sent, {session.receipt_failures} "
                "receipt_failed events"
            )

    deliveries = {
        delivery.public_id: delivery
        for delivery in CallbackDelivery.objects.filter(session__org=org).select_related("session")
    }
    per_session = Counter(delivery.session.public_id for delivery in deliveries.values())
    for session in rows:
        if per_session[session.public_id] != 1:
            found.append(
                f"{session.public_id} has {per_session[session.public_id]} callback deliveries"
            )
    for delivery in deliveries.values():
        if delivery.event_type != CallbackEvent.COMPLETED:
            found.append(f"delivery {delivery.public_id} is {delivery.event_type}")
        if delivery.status != CallbackDelivery.Status.DELIVERED:
            found.append(f"delivery {delivery.public_id} is {delivery.status}")

    seen = Counter()
    webhook = Webhook(secret)
    for callback in received:
        headers = {name.lower(): value for name, value in callback.headers.items()}
        message_id = headers.get("webhook-id", "")
        seen[message_id] += 1
        try:
            event = webhook.verify(callback.body, headers)
        except WebhookVerificationError as error:
            found.append(f"callback {message_id} does not verify: {error}")
            continue
        delivery = deliveries.get(message_id)
        if delivery is None:
            found.append(f"callback {message_id} names no delivery")
        elif (event["type"], event["data"]["id"]) != (
            delivery.event_type,
            delivery.session.public_id,
        ):
            found.append(f"callback {message_id} is {event['type']} for {event['data']['id']}")
    found += [f"webhook-id {mid} received {n} times" for mid, n in seen.items() if n != 1]
    if set(seen) != set(deliveries):
        found.append(f"the receiver saw {len(seen)} webhook-ids for {len(deliveries)} deliveries")

    recipients = Counter(address for message in mail.messages for address in message.envelope_to)
    expected = {f"customer-{index:03d}@example.com" for index in range(customers)}
    if len(mail.messages) != customers:
        found.append(f"the SMTP server got {len(mail.messages)} messages, expected {customers}")
    if set(recipients) != expected or any(count != 1 for count in recipients.values()):
        wrong = {address: n for address, n in recipients.items() if n != 1}
        missing = sorted(expected - set(recipients))[:5]
        found.append(f"receipts: missing {missing}…, more than one {wrong}")
    return found


def soak(
    *,
    customers: int,
    double_submits: int,
    database_url: str,
    drain_seconds: float = 120,
    log: Callable[[str], None] = print,
) -> SoakReport:
    """Run the soak against ``database_url`` (the in-process Django must be on that database,
    migrated, with static files collected); its report, violations included."""
    if not 0 <= double_submits <= customers:
        raise ValueError("double_submits must be between 0 and customers")
    report = SoakReport(customers=customers, double_submits=double_submits)
    with (
        tempfile.TemporaryDirectory(prefix="soak-") as folder,
        CallbackReceiver() as receiver,
        SmtpSink() as mail,
    ):
        org, api_key, secret = _merchant(receiver.url)
        env = {
            "DATABASE_URL": database_url,
            "TASKS_BACKEND": "database",
            "EMAIL_URL": mail.url,
            # The receiver is on 127.0.0.1, which production refuses (SSRF guard).
            "CALLBACK_ALLOW_PRIVATE": "true",
        }
        with (
            Server(env=env) as server_a,
            Server(env=env) as server_b,
            Worker(env=env, log_path=Path(folder) / "worker.log") as worker,
        ):
            report.servers = dict(zip(SERVER_NAMES, (server_a.port, server_b.port), strict=True))
            log(
                f"Soak: {customers} customers, {double_submits} double submits; servers "
                + ", ".join(f"{name} :{port}" for name, port in report.servers.items())
            )
            side = Customers(report, api_key=api_key)
            threads = [
                threading.Thread(
                    target=side.pay, args=(index,), kwargs={"double_submit": index < double_submits}
                )
                for index in range(customers)
            ]
            started = time.monotonic()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            report.flow_seconds = time.monotonic() - started
            drained = _wait_for_the_worker(
                org=org, customers=customers, mail=mail, worker=worker, seconds=drain_seconds
            )
            report.drain_seconds = time.monotonic() - started - report.flow_seconds
            if not drained:
                report.violations.append(
                    f"the worker had not delivered everything after {drain_seconds:g} s"
                )
        report.callbacks_received = len(receiver.received)
        report.receipts_received = len(mail.messages)
        report.violations += _violations(
            org=org, customers=customers, secret=secret, received=receiver.received, mail=mail
        )
    return report
