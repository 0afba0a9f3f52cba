"""An org's support email is stored canonical (``orgs.emails``), like every other address:
the field, and the addresses already stored."""

from django.core.exceptions import ValidationError
from django.db import migrations

import orgs.emails


def canonicalize_support_emails(apps, schema_editor):
    Organization = apps.get_model("orgs", "Organization")
    for org in Organization.objects.exclude(support_email="").only("pk", "support_email"):
        try:
            canonical = orgs.emails.canonical_email(org.support_email)
        except ValidationError:
            continue  # left as it was: the settings page asks for a valid one when next saved
        if canonical != org.support_email:
            Organization.objects.filter(pk=org.pk).update(support_email=canonical)


class Migration(migrations.Migration):
    dependencies = [
        ("orgs", "0015_password_reset_request"),
    ]

    operations = [
        migrations.AlterField(
            model_name="organization",
            name="support_email",
            field=orgs.emails.CanonicalEmailField(blank=True, max_length=254),
        ),
        migrations.RunPython(canonicalize_support_emails, migrations.RunPython.noop, elidable=True),
    ]
