"""Print where to click after `make run`: the dashboard, each demo link and the test card."""

from django.core.management.base import BaseCommand

from checkout.money import format_money
from orgs.models import Mode, PaymentLink


def _what_it_shows(link: PaymentLink) -> str:
    """What trying this link demonstrates, for the banner."""
    if not link.is_active:
        return "deactivated: a clear page, nothing created"
    shows = [
        label
        for flag, label in (
            (link.require_phone, "asks for a phone number"),
            (link.require_location, "asks for country + postal code"),
            (link.require_shipping_address, "asks for a shipping address"),
            (bool(link.currency), f"priced in {link.currency}"),
        )
        if flag
    ]
    return ", ".join(shows) or "email and card only"


class Command(BaseCommand):
    help = "Print the demo's URLs: dashboard, payment links (and what each shows), test card."

    def add_arguments(self, parser):
        parser.add_argument("--base", default="http://127.0.0.1:8000")

    def handle(self, *args, base: str, **options):
        base = base.rstrip("/")
        links = PaymentLink.objects.filter(org__slug="acme", mode=Mode.TEST).select_related("org")
        write = self.stdout.write
        write("")
        write(self.style.SUCCESS(f"Ready on {base}/ (Ctrl-C stops the server and the worker)."))
        write(f"  Dashboard     {base}/dashboard/   log in as demo / demo")
        write("  Payment links (test mode), open one as a customer:")
        for link in links.order_by("pk"):
            price = format_money(link.unit_price, link.currency or link.org.currency)
            write(f"    {base}/pay/{link.public_id}")
            write(f"        {link.name}, {price}: {_what_it_shows(link)}")
        write("  Test card     4242 4242 4242 4242, any future expiry, any CVC")
        write("                (4000 0000 0000 0002 is declined; README lists every test card)")
        write(f"  API docs      {base}/v0/docs")
        write("                (a key: manage.py create_api_key --org acme --mode test)")
        write(f"  Django admin  {base}/admin/   for operators: manage.py createsuperuser first")
        write("")
