"""Demo data for `make run`: org ``acme``, user ``demo`` / ``demo``, payment links and a few
hundred test-mode sessions over the last 14 days in every status.

Each session is one customer's visit replayed through the same services real traffic uses
(create, save details, pay with Stripe's test cards, the expiry task), each step at its own
past time (time-machine), so the timelines are exactly what real checkouts produce. Live mode
gets payment links but no sessions: without a live processor nothing can be paid there.

Idempotent: a second run finds the demo sessions and adds nothing.
"""

import logging
import random
from contextlib import contextmanager
from datetime import timedelta

import time_machine
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.test import override_settings
from django.utils import timezone

from checkout.actors import Actor
from checkout.choices import DeviceType, SessionSource
from checkout.effective_settings import RequiredFieldSet, effective_settings
from checkout.expiry import expire_session
from checkout.models import CheckoutSession
from checkout.processors import CardDetails
from checkout.request_context import CustomerContext
from checkout.rollup import rebuild_rollup, status_counts
from checkout.services import (
    LineItem,
    create_checkout_session,
    pay_checkout_session,
    save_customer_details,
)
from orgs.models import Membership, Mode, Organization, PaymentLink

DEMO_ORG_SLUG = "acme"
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo"  # noqa: S105 - documented demo credentials for the local embedded default
DEMO_SESSIONS = {Mode.TEST: 300}
IMMEDIATE_TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
MEMORY_MAILER = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}

PAYMENT_LINKS = [
    # name, description, unit price (minor units), currency override, required fields, active
    ("Espresso beans, 1 kg", "Single-origin, roasted this week.", 2400, "", {}, True),
    (
        "Pour-over kit",
        "Dripper, filters and a glass server.",
        5900,
        "",
        {"shipping_address": True},
        True,
    ),
    ("Barista course", "Two evenings with our head barista.", 14900, "", {"phone": True}, True),
    ("Matcha tin", "Ceremonial grade, 40 g.", 1500, "JPY", {"location": True}, True),
    ("Summer blend (sold out)", "Back next year.", 1900, "", {}, False),
]

FIRST_NAMES = [
    "ada",
    "grace",
    "alan",
    "linus",
    "margaret",
    "ken",
    "barbara",
    "dennis",
    "radia",
    "edsger",
    "frances",
    "john",
    "katherine",
    "tim",
    "hedy",
    "guido",
    "sophie",
    "yuki",
]
DOMAINS = ["example.com", "example.org", "mail.example.net", "inbox.example.io"]
COUNTRIES = [
    ("US", "94107"),
    ("US", "10001"),
    ("GB", "EC1A 1BB"),
    ("DE", "10115"),
    ("FR", "75001"),
    ("JP", "100-0001"),
    ("CA", "M5V 2T6"),
    ("NL", "1012 AB"),
]
# Stripe's test cards (SPEC, "Payment processors"): the test processor answers each as real
# traffic would see it, so the demo's timelines are what the services write for real payments.
SUCCESS_CARDS = ["4242424242424242", "5555555555554444"]
DECLINING_CARDS = [
    "4000000000000002",  # card_declined / generic_decline
    "4000000000009995",  # card_declined / insufficient_funds
    "4000000000000069",  # expired_card
    "4000000000000127",  # incorrect_cvc
    "4000000000000119",  # processing_error
    "4000000000009987",  # card_declined / lost_card
    "4000000000009979",  # card_declined / stolen_card
    "4000000000006975",  # card_declined / card_velocity_exceeded
]
API_PRODUCTS = [
    ("Custom widget", 2500),
    ("Gift card", 5000),
    ("Coffee subscription (3 months)", 6600),
]
USER_AGENTS = {
    DeviceType.DESKTOP: "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    DeviceType.MOBILE: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) "
    "AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    DeviceType.TABLET: "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
}


@contextmanager
def quiet_logger(name: str):
    """Hide a logger's INFO lines (one per task run here) for the duration."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


class Command(BaseCommand):
    help = "Create the demo organization, user, payment links and sessions (idempotent)."

    def handle(self, *args, **options):
        org = self._organization()
        self._user(org)
        links = self._payment_links(org)
        for mode, target in DEMO_SESSIONS.items():
            existing = (
                CheckoutSession.objects.for_org(org, mode).filter(metadata__demo="true").count()
            )
            if existing >= target:
                self.stdout.write(
                    f"{mode}: {existing} demo sessions already present, nothing to add."
                )
                continue
            self._sessions(org, mode, links.get(mode, []), target - existing, seed=existing)
        rebuild_rollup()  # the demo sessions are backdated, some finished when written
        counts = status_counts(org, Mode.TEST)
        self.stdout.write(
            self.style.SUCCESS(
                "Demo data ready (test mode): "
                + ", ".join(f"{status} {count}" for status, count in counts.items())
            )
        )

    def _organization(self) -> Organization:
        org, created = Organization.objects.get_or_create(
            slug=DEMO_ORG_SLUG,
            defaults={
                "name": "Acme Coffee Co.",
                "currency": "USD",
                "terms_url": "https://acme.example.com/terms",
                "privacy_url": "https://acme.example.com/privacy",
                "support_email": "support@acme.example.com",
            },
        )
        self.stdout.write(f"Organization {org.slug}: {'created' if created else 'exists'}.")
        return org

    def _user(self, org: Organization) -> None:
        user, created = get_user_model().objects.get_or_create(
            username=DEMO_USERNAME, defaults={"email": "demo@acme.example.com"}
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
        Membership.objects.get_or_create(
            org=org, user=user, defaults={"role": Membership.Role.OWNER}
        )
        self.stdout.write(f"User {DEMO_USERNAME}: {'created' if created else 'exists'}.")

    def _payment_links(self, org: Organization) -> dict[str, list[PaymentLink]]:
        links: dict[str, list[PaymentLink]] = {Mode.TEST: [], Mode.LIVE: []}
        for mode in (Mode.TEST, Mode.LIVE):
            for name, description, price, currency, required, active in PAYMENT_LINKS:
                link, _ = PaymentLink.objects.get_or_create(
                    org=org,
                    mode=mode,
                    name=name,
                    defaults={
                        "description": description,
                        "unit_price": price,
                        "currency": currency,
                        "is_active": active,
                        **{f"require_{field}": value for field, value in required.items()},
                    },
                )
                if link.is_active:
                    links[mode].append(link)
        self.stdout.write(f"Payment links: {PaymentLink.objects.filter(org=org).count()}.")
        return links

    def _sessions(self, org, mode, links, count, seed) -> None:
        rng = random.Random(f"{mode}-{seed}")  # the same data on every machine
        now = timezone.now()
        # Tasks run in this process at each step's (travelled) time, receipts go to memory:
        # the timeline shows a receipt a few seconds after its payment, as in real traffic.
        with (
            override_settings(TASKS=IMMEDIATE_TASKS, MAILERS=MEMORY_MAILER),
            quiet_logger("django.tasks"),
        ):
            for index in range(count):
                self._one_session(org, mode, links, rng, now, index, count)
                if (index + 1) % 50 == 0 or index + 1 == count:
                    self.stdout.write(f"  {mode}: {index + 1}/{count} sessions")

    def _one_session(self, org, mode, links, rng, now, index, count) -> None:
        """One customer's visit, replayed through the services at its own past times."""
        # Outcome mix: most succeed, some fail, many are abandoned; the newest are still open.
        roll = rng.random()
        if index >= count - max(count // 12, 3):
            outcome, age = "open", timedelta(minutes=rng.randint(1, 50))
        else:
            age = timedelta(minutes=rng.randint(70, 14 * 24 * 60 - 10))
            outcome = "succeeded" if roll < 0.5 else "failed" if roll < 0.72 else "expired"
        created = now - age
        email = f"{rng.choice(FIRST_NAMES)}.{rng.randint(1, 999)}@{rng.choice(DOMAINS)}"
        with time_machine.travel(created, tick=False) as clock:
            if rng.random() < 0.35 or not links:
                name, price = rng.choice(API_PRODUCTS)
                session = create_checkout_session(
                    org=org,
                    mode=mode,
                    source=SessionSource.API,
                    actor=Actor.system(),
                    items=[LineItem(name=name, quantity=rng.randint(1, 3), unit_price=price)],
                    customer_email=email,
                    metadata={"demo": "true"},
                    required_fields=RequiredFieldSet(location=rng.random() < 0.3),
                )
            else:
                session = create_checkout_session(
                    org=org,
                    mode=mode,
                    source=SessionSource.PAYMENT_LINK,
                    actor=Actor.customer(),
                    link=rng.choice(links),
                    metadata={"demo": "true"},
                )
            if outcome == "expired" and rng.random() < 0.5:
                self._expire(session, clock)  # abandoned before typing anything
                return

            device = rng.choices(list(USER_AGENTS), weights=[55, 38, 7])[0]
            context = CustomerContext(
                ip_address=f"{rng.choice(['203.0.113', '198.51.100', '192.0.2'])}."
                f"{rng.randint(1, 254)}",
                user_agent=USER_AGENTS[device],
                device_type=device,
            )
            clock.shift(timedelta(seconds=rng.randint(20, 180)))
            session = save_customer_details(
                session=session, details=self._details(session, email, rng), context=context
            )

            attempts = {"open": rng.choice([0, 0, 1]), "expired": 0}.get(outcome, rng.randint(1, 3))
            if outcome == "succeeded":
                attempts = rng.choices([0, 1, 2], weights=[75, 18, 7])[0]
            for _attempt in range(attempts):
                clock.shift(timedelta(seconds=rng.randint(15, 120)))
                self._pay(session, rng.choice(DECLINING_CARDS), context)
            if outcome == "succeeded":
                clock.shift(timedelta(seconds=rng.randint(15, 120)))
                self._pay(session, rng.choice(SUCCESS_CARDS), context)
            elif outcome in ("expired", "failed"):
                self._expire(session, clock)

    @staticmethod
    def _details(session, email, rng) -> dict[str, str]:
        """What the customer types: email, plus each field the session requires."""
        required = effective_settings(session).required_fields
        country, postal_code = rng.choice(COUNTRIES)
        details = {"customer_email": email}
        if required.phone:
            details["customer_phone"] = f"+1 415 555 {rng.randint(1000, 9999)}"
        if required.location or required.shipping_address:
            details |= {"customer_country": country, "customer_postal_code": postal_code}
        if required.shipping_address:
            details |= {
                "shipping_name": email.split("@")[0].replace(".", " ").title(),
                "shipping_line1": f"{rng.randint(1, 999)} Market Street",
                "shipping_city": "San Francisco",
                "shipping_postal_code": postal_code,
                "shipping_country": country,
            }
        return details

    @staticmethod
    def _pay(session, number: str, context: CustomerContext) -> None:
        card = CardDetails(number=number, exp_month=12, exp_year=2099, cvc="123")
        pay_checkout_session(session=session, card=card, context=context)

    @staticmethod
    def _expire(session, clock) -> None:
        """Run the expiry task as the worker would, just after the session's window closed."""
        session.refresh_from_db(fields=["expires_at"])
        clock.move_to(session.expires_at + timedelta(seconds=1))
        expire_session.call(session.pk)
