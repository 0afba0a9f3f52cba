"""Print an organization's callback signing secret (``whsec_…``) as the last line."""

from django.core.management.base import BaseCommand, CommandError

from orgs.models import Organization
from orgs.services import rotate_callback_secret


class Command(BaseCommand):
    help = "Print the callback signing secret of an organization (optionally rotating it first)."

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="Organization slug")
        parser.add_argument("--rotate", action="store_true", help="Replace the secret first")

    def handle(self, *args, org: str, rotate: bool, **options):
        try:
            organization = Organization.objects.get(slug=org)
        except Organization.DoesNotExist:
            raise CommandError(f"No organization with slug {org!r}.") from None
        secret = (
            rotate_callback_secret(org=organization) if rotate else organization.callback_secret
        )
        self.stdout.write(secret)
