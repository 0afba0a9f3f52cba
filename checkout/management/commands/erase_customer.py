"""Erase one customer's personal data from an organization's sessions and orders (both modes),
as Settings → Customer data does: ``checkout.erasure.erase_customer``."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from checkout.actors import Actor
from checkout.choices import ActorKind
from checkout.erasure import erase_customer
from orgs.models import Organization

# The timeline names who erased: an operator at the command line.
OPERATOR = Actor(ActorKind.SYSTEM, "operator (manage.py erase_customer)")


class Command(BaseCommand):
    help = (
        "Erase a customer's email, phone, addresses, IP address and user agent from every "
        "session and order of an organization (test and live); amounts, items and statuses stay."
    )

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="Organization slug")
        parser.add_argument("--email", required=True, help="The customer's email address")

    def handle(self, *args, org: str, email: str, **options):
        try:
            organization = Organization.objects.get(slug=org)
        except Organization.DoesNotExist:
            raise CommandError(f"No organization with slug {org!r}.") from None
        try:
            erasure = erase_customer(org=organization, email=email, actor=OPERATOR)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        if not erasure.found:
            self.stdout.write("No session or order of this customer: nothing to erase.")
            return
        self.stdout.write(
            f"Erased the customer's data from {erasure.sessions} session(s) and "
            f"{erasure.orders} order(s)."
        )
