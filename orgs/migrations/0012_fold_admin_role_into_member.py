"""The SPEC has two roles, owner and member. "admin" was never offered anywhere (the dashboard
treats anything but owner as a member), so any admin row becomes a member before 0099 removes
the choice and adds a check constraint."""

from django.db import migrations


def fold_admins_into_members(apps, schema_editor):
    Membership = apps.get_model("orgs", "Membership")
    Membership.objects.filter(role="admin").update(role="member")


class Migration(migrations.Migration):
    dependencies = [("orgs", "0011_organization_fraud_flag_threshold")]

    operations = [
        # Not reversed: nobody was an admin in any way that differed from a member.
        migrations.RunPython(fold_admins_into_members, migrations.RunPython.noop),
    ]
