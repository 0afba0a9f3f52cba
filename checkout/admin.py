"""Operator admin for checkout records; money is shown formatted, ids and events read-only.

A session's and an order's facts (mode, org, amounts, customer, payment) are read-only: they
change only through the services (paying, extending), never by typing over them here.
"""

import json

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from checkout.choices import SessionStatus
from checkout.models import (
    ApiRequestWindow,
    CallbackDelivery,
    CheckoutSession,
    DeclineAlarm,
    DeclineRollup,
    IdempotencyRecord,
    Order,
    OrderCounter,
    OrderItem,
    PaymentAttempt,
    PaymentLinkOpen,
    RollupWatermark,
    SessionRollup,
    TimelineEvent,
)
from checkout.money import format_money
from orgs.admin import LimitRecordAdmin, ReadOnlyAdmin
from orgs.models import PaymentLink
from orgs.services import save_payment_link, set_payment_links_active


class DerivedStatusFilter(admin.SimpleListFilter):
    """Filters by the derived status through the same SQL rule as the dashboard and API."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return SessionStatus.choices

    def queryset(self, request, queryset):
        if self.value() in SessionStatus.values:
            return queryset.in_status(self.value())
        return queryset


class OrderItemInline(admin.TabularInline):
    model = OrderItem
    extra = 0
    fields = ["position", "name", "quantity", "unit_price", "amount_formatted"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Amount")
    def amount_formatted(self, item: OrderItem) -> str:
        return format_money(item.amount, item.order.currency) if item.pk else "–"


class CallbackDeliveryInline(admin.TabularInline):
    model = CallbackDelivery
    extra = 0
    fields = [
        "public_id",
        "event_type",
        "url",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
    ]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


def _all_fields_read_only(model) -> list[str]:
    return [field.name for field in model._meta.concrete_fields]


@admin.register(CheckoutSession)
class CheckoutSessionAdmin(admin.ModelAdmin):
    list_display = [
        "public_id",
        "status_display",
        "org",
        "mode",
        "customer_email",
        "amount",
        "failed_attempts",
        "created_at",
        "expires_at",
    ]
    list_filter = [DerivedStatusFilter, "mode", "source", "device_type", "org"]
    search_fields = ["public_id", "customer_email", "order__public_id"]
    list_select_related = ["org", "order"]
    date_hierarchy = "created_at"
    inlines = [CallbackDeliveryInline]
    show_full_result_count = False  # a COUNT(*) over every session on each page is wasted work
    fieldsets = [
        (
            None,
            {
                "fields": [
                    ("public_id", "status_display"),
                    ("org", "mode", "source"),
                    ("order", "amount", "payment_link"),
                    ("created_at", "expires_at", "failed_attempts"),
                    "line_items",
                    "timeline",
                ]
            },
        ),
        (
            "Customer and context",
            {
                "fields": [
                    ("customer_email", "customer_phone"),
                    ("customer_country", "customer_postal_code"),
                    ("shipping_name", "shipping_line1", "shipping_line2"),
                    ("shipping_city", "shipping_state", "shipping_postal_code", "shipping_country"),
                    "details_provided_at",
                    ("ip_address", "device_type"),
                    "user_agent",
                    ("payment_method_brand", "payment_method_last4"),
                ]
            },
        ),
        (
            "Overrides",
            {
                "classes": ["collapse"],
                "fields": [
                    "success_url",
                    "callback_url",
                    ("require_phone", "require_location", "require_shipping_address"),
                    "metadata",
                    "recovered_from",
                ],
            },
        ),
    ]

    def get_readonly_fields(self, request, obj=None):
        return [
            *_all_fields_read_only(CheckoutSession),
            "status_display",
            "amount",
            "line_items",
            "timeline",
        ]

    def has_add_permission(self, request) -> bool:
        return False  # sessions are created through the API, payment links or recovery

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .with_status()
            .select_related("order", "org", "payment_link")
            .prefetch_related("order__items", "events")
        )

    @admin.display(description="Status", ordering="status")
    def status_display(self, session: CheckoutSession) -> str:
        return SessionStatus(session.status).label

    @admin.display(description="Amount", ordering="order__amount_total")
    def amount(self, session: CheckoutSession) -> str:
        return format_money(session.order.amount_total, session.order.currency)

    @admin.display(description="Line items")
    def line_items(self, session: CheckoutSession) -> str:
        currency = session.order.currency
        return format_html(
            "<table><tr><th>Item</th><th>Quantity</th><th>Unit price</th><th>Amount</th></tr>"
            "{}</table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                (
                    (
                        item.name,
                        item.quantity,
                        format_money(item.unit_price, currency),
                        format_money(item.amount, currency),
                    )
                    for item in session.order.items.all()
                ),
            ),
        )

    @admin.display(description="Timeline")
    def timeline(self, session: CheckoutSession) -> str:
        """Oldest first, to the second, with who did it and the event's data."""
        return format_html(
            "<table><tr><th>Time (UTC)</th><th>Event</th><th>Actor</th><th>Data</th></tr>"
            "{}</table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                (
                    (
                        event.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                        event.get_kind_display(),
                        f"{event.get_actor_kind_display()}: {event.actor_label}"
                        if event.actor_label and event.actor_label != event.actor_kind
                        else event.get_actor_kind_display(),
                        json.dumps(event.data, sort_keys=True, ensure_ascii=False),
                    )
                    for event in session.events.all()
                ),
            ),
        )


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = [
        "number",
        "public_id",
        "org",
        "mode",
        "customer_email",
        "total",
        "payment_status",
        "paid_at",
        "created_at",
    ]
    list_filter = ["payment_status", "mode", "org"]
    search_fields = ["public_id", "customer_email", "=number"]
    list_select_related = ["org"]
    date_hierarchy = "created_at"
    inlines = [OrderItemInline]
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        return [*_all_fields_read_only(Order), "total"]

    def has_add_permission(self, request) -> bool:
        return False  # an order is created with its checkout session

    @admin.display(description="Total", ordering="amount_total")
    def total(self, order: Order) -> str:
        return format_money(order.amount_total, order.currency)


@admin.register(TimelineEvent)
class TimelineEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "kind", "session", "actor_kind", "actor_label"]
    list_filter = ["kind", "actor_kind"]
    search_fields = ["session__public_id", "actor_label"]
    list_select_related = ["session"]
    readonly_fields = [
        "session",
        "kind",
        "created_at",
        "actor_kind",
        "actor_label",
        "actor_user",
        "data",
    ]
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(CallbackDelivery)
class CallbackDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "public_id",
        "event_type",
        "session",
        "url",
        "status",
        "attempts",
        "last_status_code",
        "created_at",
    ]
    list_filter = ["status", "event_type"]
    search_fields = ["public_id", "session__public_id", "url"]
    list_select_related = ["session"]
    readonly_fields = [
        "public_id",
        "session",
        "event_type",
        "url",
        "payload",
        "attempts",
        "created_at",
        "delivered_at",
    ]


@admin.register(PaymentLink)
class PaymentLinkAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "public_id",
        "org",
        "mode",
        "price",
        "quantity",
        "is_active",
        "created_at",
    ]
    list_filter = ["mode", "is_active", "org"]
    search_fields = ["name", "public_id", "org__name", "org__slug"]
    readonly_fields = ["public_id", "created_at"]
    list_select_related = ["org"]
    autocomplete_fields = ["org"]

    actions = ["deactivate_links", "reactivate_links"]

    def save_model(self, request, obj: PaymentLink, form, change) -> None:
        save_payment_link(link=obj, user=request.user)

    @admin.action(description="Deactivate selected payment links")
    def deactivate_links(self, request, queryset):
        set_payment_links_active(links=queryset, active=False, user=request.user)

    @admin.action(description="Reactivate selected payment links")
    def reactivate_links(self, request, queryset):
        set_payment_links_active(links=queryset, active=True, user=request.user)

    @admin.display(description="Unit price", ordering="unit_price")
    def price(self, link: PaymentLink) -> str:
        return format_money(link.unit_price, link.currency or link.org.currency)


@admin.register(OrderItem)
class OrderItemAdmin(admin.ModelAdmin):
    list_display = ["name", "order", "quantity", "unit_price_formatted"]
    search_fields = ["name", "order__public_id"]
    list_select_related = ["order"]
    readonly_fields = ["order", "name", "quantity", "unit_price", "position"]
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="Unit price", ordering="unit_price")
    def unit_price_formatted(self, item: OrderItem) -> str:
        return format_money(item.unit_price, item.order.currency)


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(admin.ModelAdmin):
    list_display = ["key", "org", "mode", "response_status", "created_at"]
    list_filter = ["mode", "response_status"]
    search_fields = ["key"]
    list_select_related = ["org"]
    readonly_fields = [
        "org",
        "mode",
        "key",
        "request_fingerprint",
        "response_status",
        "response_body",
        "created_at",
    ]


@admin.register(OrderCounter)
class OrderCounterAdmin(admin.ModelAdmin):
    list_display = ["org", "last_number"]
    list_select_related = ["org"]
    # Changing it by hand could hand out a number twice; it is shown for diagnosis only.
    readonly_fields = ["org", "last_number"]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(SessionRollup)
class SessionRollupAdmin(ReadOnlyAdmin):
    list_display = ["org", "mode", "day", "status", "count", "details_provided"]
    list_filter = ["mode", "status", "org"]
    list_select_related = ["org"]
    date_hierarchy = "day"
    show_full_result_count = False


@admin.register(DeclineRollup)
class DeclineRollupAdmin(ReadOnlyAdmin):
    list_display = ["org", "mode", "day", "reason", "declines", "sessions", "paid_sessions"]
    list_filter = ["mode", "org"]
    list_select_related = ["org"]
    search_fields = ["reason"]
    date_hierarchy = "day"
    show_full_result_count = False


@admin.register(RollupWatermark)
class RollupWatermarkAdmin(ReadOnlyAdmin):
    list_display = ["finished_before"]


# --- Hardening: what the abuse limits counted (checkout.card_testing, checkout.link_guard,
# checkout.api.throttling). Read-only, but an operator may delete rows: deleting a client's
# attempts or openings lifts its block at once.


@admin.register(PaymentAttempt)
class PaymentAttemptAdmin(LimitRecordAdmin):
    list_display = ["created_at", "ip_key", "outcome", "org", "mode", "session"]
    list_filter = ["outcome", "mode"]
    list_select_related = ["org", "session"]
    search_fields = ["=ip_key", "=session__public_id"]
    show_full_result_count = False


@admin.register(PaymentLinkOpen)
class PaymentLinkOpenAdmin(LimitRecordAdmin):
    list_display = ["created_at", "ip_key", "link"]
    list_select_related = ["link"]
    search_fields = ["=ip_key", "=link__public_id"]
    show_full_result_count = False


@admin.register(ApiRequestWindow)
class ApiRequestWindowAdmin(LimitRecordAdmin):
    list_display = ["api_key", "window_start", "count"]
    list_select_related = ["api_key"]


@admin.register(DeclineAlarm)
class DeclineAlarmAdmin(ReadOnlyAdmin):
    list_display = ["raised_at", "org", "mode", "declines", "window_minutes", "session"]
    list_filter = ["mode", "org"]
    list_select_related = ["org", "session"]
