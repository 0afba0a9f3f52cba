"""Demo data for `make run`: org ``acme``, user ``demo`` / ``demo``, payment links and a few
hundred sessions over the last 14 days in every status, with realistic timelines.

Idempotent: a second run finds the demo sessions and adds nothing.
"""

import random
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from checkout.actors import Actor
from checkout.choices import DeviceType, EventKind, PaymentStatus, SessionSource
from checkout.effective_settings import RequiredFieldSet
from checkout.models import CheckoutSession
from checkout.processors.test import CUSTOMER_MESSAGES
from checkout.rollup import rebuild_rollup, status_counts
from checkout.services import LineItem, create_checkout_session
from checkout.timeline import record_event
from orgs.models import Membership, Mode, Organization, PaymentLink

DEMO_ORG_SLUG = "acme"
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo"  # noqa: S105 - documented demo credentials for the local embedded default
DEMO_SESSIONS = {Mode.TEST: 300, Mode.LIVE: 40}

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
CARDS = [("visa", "4242"), ("mastercard", "4444"), ("visa", "1881"), ("amex", "8431")]
DECLINES = [
    ("card_declined", "generic_decline"),
    ("card_declined", "insufficient_funds"),
    ("expired_card", ""),
    ("incorrect_cvc", ""),
    ("processing_error", ""),
    ("card_declined", "lost_card"),
    ("card_declined", "stolen_card"),
    ("card_declined", "card_velocity_exceeded"),
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
        for index in range(count):
            with transaction.atomic():
                self._one_session(org, mode, links, rng, now, index, count)
            if (index + 1) % 50 == 0 or index + 1 == count:
                self.stdout.write(f"  {mode}: {index + 1}/{count} sessions")

    def _one_session(self, org, mode, links, rng, now, index, count) -> None:
        # Outcome mix: most succeed, some fail, many are abandoned; the newest are still open.
        roll = rng.random()
        if index >= count - max(count // 12, 3):
            outcome, age = "open", timedelta(minutes=rng.randint(1, 50))
        else:
            age = timedelta(minutes=rng.randint(70, 14 * 24 * 60 - 10))
            outcome = "succeeded" if roll < 0.5 else "failed" if roll < 0.72 else "expired"
        created = now - age
        email = f"{rng.choice(FIRST_NAMES)}.{rng.randint(1, 999)}@{rng.choice(DOMAINS)}"
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
                now=created,
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
                now=created,
            )
        if outcome == "expired" and rng.random() < 0.5:
            return  # abandoned before typing anything

        device = rng.choices(list(USER_AGENTS), weights=[55, 38, 7])[0]
        country, postal_code = rng.choice(COUNTRIES)
        session.customer_email = email
        session.customer_country, session.customer_postal_code = country, postal_code
        session.ip_address = (
            f"{rng.choice(['203.0.113', '198.51.100', '192.0.2'])}.{rng.randint(1, 254)}"
        )
        session.device_type = device
        session.user_agent = USER_AGENTS[device]
        step = created + timedelta(seconds=rng.randint(20, 180))
        session.details_provided_at = step
        self._event(session, EventKind.DETAILS_PROVIDED, step, {"fields": ["email", "location"]})

        attempts = {"open": rng.choice([0, 0, 1]), "expired": 0}.get(outcome, rng.randint(1, 3))
        if outcome == "succeeded":
            attempts = rng.choices([0, 1, 2], weights=[75, 18, 7])[0]
        for attempt in range(1, attempts + 1):
            step += timedelta(seconds=rng.randint(15, 120))
            code, decline_code = rng.choice(DECLINES)
            brand, last4 = rng.choice(CARDS)
            self._event(
                session,
                EventKind.PAYMENT_FAILED,
                step,
                {
                    "code": code,
                    "decline_code": decline_code,
                    "message": CUSTOMER_MESSAGES[decline_code or code],
                    "brand": brand,
                    "last4": last4,
                    "attempt": attempt,
                },
            )
            session.failed_attempts = attempt
            session.payment_method_brand, session.payment_method_last4 = brand, last4
        if outcome == "open" and attempts:
            outcome = "failed"  # a declined open session is a recovery target

        if outcome == "succeeded":
            step += timedelta(seconds=rng.randint(15, 120))
            brand, last4 = rng.choice(CARDS)
            session.payment_method_brand, session.payment_method_last4 = brand, last4
            order = session.order
            order.payment_status, order.paid_at = PaymentStatus.PAID, step
            order.customer_email = email
            order.payment_method_brand, order.payment_method_last4 = brand, last4
            order.payment_reference = f"ch_test_demo{session.pk:08d}"
            order.save()
            session.is_paid = True
            self._event(
                session,
                EventKind.PAYMENT_SUCCEEDED,
                step,
                {
                    "reference": order.payment_reference,
                    "brand": brand,
                    "last4": last4,
                    "amount": order.amount_total,
                    "currency": order.currency,
                },
            )
            self._event(session, EventKind.RECEIPT_SENT, step + timedelta(seconds=2), {"to": email})
        session.save()

    def _event(self, session, kind, at, data) -> None:
        event = record_event(session=session, kind=kind, actor=Actor.customer(), data=data)
        event.created_at = at
        event.save(update_fields=["created_at"])
