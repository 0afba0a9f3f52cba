"""Print an organization's callback signing secret (``whsec_…``) for one mode as the last line."""

from django.core.management.base import BaseCommand, CommandError

from orgs.models import Mode, Organization
from orgs.services import callback_secret_for, rotate_callback_secret


class Command(BaseCommand):
    help = (
        "Print the callback signing secret of an organization for one mode (test and live "
        "have different secrets), optionally rotating it first."
    )

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="Organization slug")
        # Required, not defaulted: printing or rotating the wrong mode's secret is an easy
        # mistake with real consequences (a live handler stops verifying).
        parser.add_argument("--mode", required=True, choices=Mode.values, help="test or live")
        parser.add_argument(
            "--rotate",
            action="store_true",
            help="Replace the secret first; the old one keeps verifying for 24 hours",
        )

    def handle(self, *args, org: str, mode: str, rotate: bool, **options):
        try:
            organization = Organization.objects.get(slug=org)
        except Organization.DoesNotExist:
            raise CommandError(f"No organization with slug {org!r}.") from None
        if rotate:
            callback_secret = rotate_callback_secret(org=organization, mode=mode)
            self.stdout.write(
                f"Rotated the {mode} secret; the previous one keeps verifying for 24 hours."
            )
        else:
            callback_secret = callback_secret_for(org=organization, mode=mode)
        self.stdout.write(callback_secret.secret)
