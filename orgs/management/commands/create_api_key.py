"""Print a new API key for an organization; the key is the last line of output."""

from django.core.management.base import BaseCommand, CommandError

from orgs.models import Mode, Organization
from orgs.services import create_api_key
from orgs.text import sentence_end


class Command(BaseCommand):
    help = "Create an API key for an organization and mode. The key is printed once, last."

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="Organization slug")
        parser.add_argument("--mode", required=True, choices=Mode.values)
        parser.add_argument("--name", default="", help="A label for the key")

    def handle(self, *args, org: str, mode: str, name: str, **options):
        try:
            organization = Organization.objects.get(slug=org)
        except Organization.DoesNotExist:
            raise CommandError(f"No organization with slug {org!r}.") from None
        api_key, plain_key = create_api_key(org=organization, mode=mode, name=name)
        created = f"Created {mode} key {api_key.masked} for {organization.name}"
        self.stdout.write(sentence_end(created))
        self.stdout.write("Store it now: it is shown only once.")
        self.stdout.write(plain_key)
