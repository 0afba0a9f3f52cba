# A delivery's org and mode, copied from its session, for the dashboard's deliveries log
# (one index range per org and mode instead of a join through every session of the org).

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def copy_org_and_mode_from_sessions(apps, schema_editor):
    CallbackDelivery = apps.get_model("checkout", "CallbackDelivery")
    CheckoutSession = apps.get_model("checkout", "CheckoutSession")
    session = CheckoutSession.objects.filter(pk=OuterRef("session_id"))
    CallbackDelivery.objects.update(
        org_id=Subquery(session.values("org_id")[:1]),
        mode=Subquery(session.values("mode")[:1]),
    )


class Migration(migrations.Migration):

    dependencies = [
        ("checkout", "0012_session_payment_link_status_index"),
        ("orgs", "0011_organization_fraud_flag_threshold"),
    ]

    operations = [
        migrations.AddField(
            model_name="callbackdelivery",
            name="org",
            field=models.ForeignKey(
                db_index=False,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="orgs.organization",
            ),
        ),
        migrations.AddField(
            model_name="callbackdelivery",
            name="mode",
            field=models.CharField(
                choices=[("test", "Test"), ("live", "Live")],
                default="",
                editable=False,
                max_length=4,
            ),
            preserve_default=False,
        ),
        migrations.RunPython(copy_org_and_mode_from_sessions, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="callbackdelivery",
            name="org",
            field=models.ForeignKey(
                db_index=False,
                editable=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="orgs.organization",
            ),
        ),
        migrations.AddIndex(
            model_name="callbackdelivery",
            index=models.Index(
                models.F("org"),
                models.F("mode"),
                models.OrderBy(models.F("created_at"), descending=True),
                models.OrderBy(models.F("id"), descending=True),
                name="callback_org_mode_created",
            ),
        ),
    ]
