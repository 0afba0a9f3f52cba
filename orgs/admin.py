"""Admin for organizations, members and API keys (payment links: checkout/admin.py, for money)."""

from django.contrib import admin

from orgs.models import (
    ApiKey,
    AuditEntry,
    CallbackSecret,
    Invitation,
    Membership,
    Mode,
    Organization,
    PasswordResetRequest,
)
from orgs.services import callback_secret_for, revoke_api_key, save_organization
from orgs.team import add_member


class MembershipInline(admin.TabularInline):
    """The org's team, read-only: roles and removals go through the dashboard's Team page,
    which keeps an owner (orgs.team); members are added on the Membership page."""

    model = Membership
    extra = 0
    fields = readonly_fields = ["user", "role", "created_at"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "currency", "support_email", "created_at"]
    search_fields = ["name", "slug", "support_email"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]
    # Secrets are never typed by hand:
    # `manage.py callback_secret --org <slug> --mode test|live --rotate`.
    readonly_fields = ["test_callback_secret", "live_callback_secret", "created_at"]

    @admin.display(description="Test callback secret")
    def test_callback_secret(self, org: Organization) -> str:
        return self._callback_secret(org, Mode.TEST)

    @admin.display(description="Live callback secret")
    def live_callback_secret(self, org: Organization) -> str:
        return self._callback_secret(org, Mode.LIVE)

    def save_model(self, request, obj: Organization, form, change) -> None:
        save_organization(org=obj, user=request.user)

    def _callback_secret(self, org: Organization, mode: str) -> str:
        if org.pk is None:
            return "Generated on first use, one per mode."
        # Created on first use, like everywhere else: an org saved here has none yet.
        return callback_secret_for(org=org, mode=mode).secret


@admin.register(CallbackSecret)
class CallbackSecretAdmin(admin.ModelAdmin):
    list_display = ["masked", "org", "mode", "created_at", "expires_at"]
    list_filter = ["mode", "org"]
    search_fields = ["org__name", "org__slug"]
    list_select_related = ["org"]
    # Rotated only through `manage.py callback_secret --rotate` (or the dashboard), which keeps
    # the previous secret valid for 24 h; never typed, edited or deleted by hand here.
    readonly_fields = ["org", "mode", "secret", "created_by", "created_at", "expires_at"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    """Operators add members (the first owner of a new org); roles and removals are the
    owners' to change on the dashboard's Team page, where the last owner is kept."""

    list_display = ["user", "org", "role", "created_at"]
    list_filter = ["role", "org"]
    search_fields = ["user__username", "user__email", "org__name", "org__slug"]
    autocomplete_fields = ["user", "org"]
    list_select_related = ["user", "org"]

    def get_readonly_fields(self, request, obj=None) -> list[str]:
        return ["user", "org", "role", "created_at"] if obj else ["created_at"]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj: Membership, form, change) -> None:
        if not change:
            saved = add_member(org=obj.org, user=obj.user, role=obj.role, by=request.user)
            obj.pk, obj.created_at = saved.pk, saved.created_at


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    """Invitations as owners sent them (orgs.team): read-only; owners revoke on Team."""

    list_display = ["email", "org", "role", "invited_by", "created_at", "accepted_at", "revoked_at"]
    list_filter = ["role", "org"]
    search_fields = ["email", "org__name", "org__slug"]
    list_select_related = ["org", "invited_by"]
    exclude = ["nonce"]  # signs the link: never shown

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["masked", "name", "org", "mode", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["mode", "org"]
    search_fields = ["name", "prefix", "org__name", "org__slug"]
    list_select_related = ["org"]
    # Keys are created through `manage.py create_api_key` or the dashboard (shown once there).
    readonly_fields = [
        "org",
        "mode",
        "prefix",
        "last4",
        "key_hash",
        "created_by",
        "created_at",
        "last_used_at",
    ]
    actions = ["revoke_keys"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Revoke selected keys")
    def revoke_keys(self, request, queryset):
        for api_key in queryset:
            revoke_api_key(api_key=api_key, user=request.user)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records written only by their own code (bookkeeping, logs): shown for diagnosis."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class LimitRecordAdmin(ReadOnlyAdmin):
    """What an abuse limit counted: read-only, but an operator may delete rows, which lifts
    the client's block at once."""

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.has_perm(f"{self.opts.app_label}.delete_{self.opts.model_name}")


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    """The audit log, read-only: entries are written by the services, never by hand."""

    list_display = ["created_at", "org", "mode", "actor", "action", "target"]
    list_filter = ["action", "mode"]
    search_fields = ["org__slug", "actor", "target"]
    list_select_related = ["org"]
    date_hierarchy = "created_at"


@admin.register(PasswordResetRequest)
class PasswordResetRequestAdmin(LimitRecordAdmin):
    """The password-reset limit's counts (a hash of the address, the client), read-only; an
    operator lifts a limit by deleting a client's rows."""

    list_display = ["created_at", "address_key", "ip_key"]
    search_fields = ["address_key", "ip_key"]
    date_hierarchy = "created_at"
