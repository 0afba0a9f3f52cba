# Team invitations (orgs.team); the "admin" role is gone (0098 folded it into member).

import django.db.models.deletion
import django.utils.timezone
import orgs.models
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('orgs', '0012_fold_admin_role_into_member'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Invitation',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('email', models.EmailField(help_text='Canonical (orgs.emails.canonical_email).', max_length=254)),
                ('role', models.CharField(choices=[('owner', 'Owner'), ('member', 'Member')], default='member', max_length=10)),
                ('nonce', models.CharField(default=orgs.models.new_invitation_nonce, editable=False, max_length=32)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('sent_at', models.DateTimeField(blank=True, null=True)),
                ('send_error', models.CharField(blank=True, max_length=300)),
                ('accepted_at', models.DateTimeField(blank=True, null=True)),
                ('revoked_at', models.DateTimeField(blank=True, null=True)),
            ],
        ),
        migrations.AlterField(
            model_name='auditentry',
            name='action',
            field=models.CharField(choices=[('settings.updated', 'Checkout settings changed'), ('callback_secret.revealed', 'Callback secret revealed'), ('callback_secret.rotated', 'Callback secret rotated'), ('callback.test_sent', 'Test callback sent'), ('callback.redelivered', 'Callback redelivered'), ('payment_link.created', 'Payment link created'), ('payment_link.updated', 'Payment link changed'), ('payment_link.deactivated', 'Payment link deactivated'), ('payment_link.reactivated', 'Payment link reactivated'), ('api_key.created', 'API key created'), ('api_key.revoked', 'API key revoked'), ('team.invited', 'Member invited'), ('team.joined', 'Member joined'), ('team.role_changed', 'Role changed'), ('team.removed', 'Member removed'), ('team.invitation_revoked', 'Invitation revoked')], max_length=40),
        ),
        migrations.AlterField(
            model_name='membership',
            name='role',
            field=models.CharField(choices=[('owner', 'Owner'), ('member', 'Member')], default='member', max_length=10),
        ),
        migrations.AddConstraint(
            model_name='membership',
            constraint=models.CheckConstraint(condition=models.Q(('role__in', ['owner', 'member'])), name='membership_role_valid'),
        ),
        migrations.AddField(
            model_name='invitation',
            name='invited_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='invitation',
            name='org',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='invitations', to='orgs.organization'),
        ),
        migrations.AddIndex(
            model_name='invitation',
            index=models.Index(models.F('org'), models.OrderBy(models.F('created_at'), descending=True), name='invitation_org_created'),
        ),
        migrations.AddConstraint(
            model_name='invitation',
            constraint=models.UniqueConstraint(condition=models.Q(('accepted_at__isnull', True), ('revoked_at__isnull', True)), fields=('org', 'email'), name='invitation_one_open_per_email'),
        ),
        migrations.AddConstraint(
            model_name='invitation',
            constraint=models.CheckConstraint(condition=models.Q(('role__in', ['owner', 'member'])), name='invitation_role_valid'),
        ),
    ]
