"""The limit that first refused a payment of a session, on the session (the dashboard's list
flags it without reading timelines), filled from the ``payment_blocked`` events already
recorded; when a card-testing alarm was emailed to the org's owners."""

from django.db import migrations, models

BLOCK_LIMITS = ("session_declines", "ip_declines")


def fill_from_events(apps, schema_editor):
    CheckoutSession = apps.get_model("checkout", "CheckoutSession")
    TimelineEvent = apps.get_model("checkout", "TimelineEvent")
    first_blocks = (
        TimelineEvent.objects.filter(kind="payment_blocked")
        .order_by("session_id", "created_at", "id")
        .values_list("session_id", "data")
    )
    seen = set()
    for session_id, data in first_blocks.iterator(chunk_size=2000):
        if session_id in seen:
            continue
        seen.add(session_id)
        limit = (data or {}).get("limit")
        CheckoutSession.objects.filter(pk=session_id).update(
            payment_blocked=limit if limit in BLOCK_LIMITS else "session_declines"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("checkout", "0016_insights_rollup_and_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="checkoutsession",
            name="payment_blocked",
            field=models.CharField(
                blank=True,
                choices=[
                    ("session_declines", "too many declines on this session"),
                    ("ip_declines", "too many declines from this IP address"),
                ],
                editable=False,
                max_length=20,
            ),
        ),
        migrations.AddField(
            model_name="declinealarm",
            name="emailed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(fill_from_events, migrations.RunPython.noop, elidable=True),
    ]
