"""Print where to click after `make run`: the dashboard, admin and a payment link."""

from django.core.management.base import BaseCommand

from orgs.models import Mode, PaymentLink


class Command(BaseCommand):
    help = "Print the demo's URLs (dashboard, admin, a payment link)."

    def add_arguments(self, parser):
        parser.add_argument("--base", default="http://127.0.0.1:8000")

    def handle(self, *args, base: str, **options):
        base = base.rstrip("/")
        link = (
            PaymentLink.objects.filter(org__slug="acme", mode=Mode.TEST, is_active=True)
            .order_by("pk")
            .first()
        )
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS("Ready. Log in as demo / demo:"))
        self.stdout.write(f"  Dashboard:     {base}/dashboard/")
        self.stdout.write(
            f"  Django admin:  {base}/admin/   (operators: manage.py createsuperuser)"
        )
        if link:
            self.stdout.write(f"  Payment link:  {base}/pay/{link.public_id}   ({link.name})")
        self.stdout.write(f"  API docs:      {base}/v0/docs")
        self.stdout.write("")
