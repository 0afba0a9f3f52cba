"""Factories with realistic defaults, for every test in the suite."""

from datetime import timedelta

import factory
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import override_settings
from django.utils import timezone

from checkout.actors import Actor
from checkout.choices import PaymentStatus, SessionSource
from checkout.services import LineItem, create_checkout_session
from checkout.timeline import record_event
from orgs.models import Membership, Mode, Organization, PaymentLink
from orgs.services import callback_secret_for


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"merchant{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password("correct horse battery staple")


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization
        django_get_or_create = ["slug"]

    name = factory.Sequence(lambda n: f"Merchant {n}")
    slug = factory.Sequence(lambda n: f"merchant-{n}")
    currency = "USD"
    terms_url = "https://merchant.example.com/terms"
    privacy_url = "https://merchant.example.com/privacy"
    support_email = "support@merchant.example.com"


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    org = factory.SubFactory(OrganizationFactory)
    user = factory.SubFactory(UserFactory)
    role = Membership.Role.OWNER


class PaymentLinkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PaymentLink

    org = factory.SubFactory(OrganizationFactory)
    mode = Mode.TEST
    name = "Espresso beans, 1 kg"
    description = "Single-origin, roasted this week."
    unit_price = 2400
    quantity = 1


def make_session(
    *,
    org: Organization | None = None,
    mode: str = Mode.TEST,
    items: list[LineItem] | None = None,
    link: PaymentLink | None = None,
    created_at=None,
    expires_in_minutes: int = 60,
    failed_attempts: int = 0,
    paid: bool = False,
    customer_email: str = "alice@example.com",
    **kwargs,
):
    """A session made through the real service, then moved to the wanted state."""
    org = org or (link.org if link else OrganizationFactory())
    if link is None and items is None:
        items = [LineItem(name="Custom widget", quantity=3, unit_price=2500)]
    # A live session exists only where a live processor was configured when it was made.
    live_processor = settings.LIVE_PAYMENT_PROCESSOR or "checkout.processors.test.TestProcessor"
    with override_settings(LIVE_PAYMENT_PROCESSOR=live_processor):
        session = create_checkout_session(
            org=org,
            mode=mode,
            source=SessionSource.PAYMENT_LINK if link else SessionSource.API,
            actor=Actor.system(),
            items=items,
            link=link,
            customer_email=customer_email,
            expires_in_minutes=expires_in_minutes,
            now=created_at,
            **kwargs,
        )
    if failed_attempts:
        session.failed_attempts = failed_attempts
        session.save(update_fields=["failed_attempts"])
    if paid:
        order = session.order
        order.payment_status = PaymentStatus.PAID
        order.paid_at = timezone.now()
        order.save(update_fields=["payment_status", "paid_at"])
        session.is_paid = True
        session.save(update_fields=["is_paid"])
    return session


def expired_session(**kwargs):
    """A session whose window closed a minute ago."""
    return make_session(created_at=timezone.now() - timedelta(minutes=61), **kwargs)


def session_ready_to_pay(**kwargs):
    """A session whose customer has finished step 1 (email given): the card step is next."""
    session = make_session(**kwargs)
    session.details_provided_at = timezone.now()
    session.save(update_fields=["details_provided_at"])
    return session


def card_form_data(number: str = "4242 4242 4242 4242", **overrides) -> dict[str, str]:
    """What the customer types into the card step: a valid future expiry and a 3-digit CVC."""
    future_year = (timezone.now().year + 3) % 100
    return {"number": number, "expiry": f"12 / {future_year:02d}", "cvc": "123", **overrides}


def signing_secret(org: Organization, mode: str = Mode.TEST) -> str:
    """The org's current callback secret for ``mode`` (what a merchant's handler verifies with)."""
    return callback_secret_for(org=org, mode=mode).secret


def timeline_event(session, kind: str, *, actor: Actor | None = None, **data):
    """An event on ``session``'s timeline, written as the services write them (its signal
    included), for histories no test needs to replay step by step (callbacks, many attempts)."""
    return record_event(session=session, kind=kind, actor=actor or Actor.system(), data=data)
