"""Operator admin for checkout records; money is shown formatted, ids and events read-only."""

from django.contrib import admin

from checkout.choices import SessionStatus
from checkout.models import (
    CallbackDelivery,
    CheckoutSession,
    IdempotencyRecord,
    Order,
    OrderCounter,
    OrderItem,
    TimelineEvent,
)
from checkout.money import format_money
from orgs.models import PaymentLink


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
    readonly_fields = ["amount_formatted"]

    @admin.display(description="Amount")
    def amount_formatted(self, item: OrderItem) -> str:
        return format_money(item.amount, item.order.currency) if item.pk else "–"


class TimelineEventInline(admin.TabularInline):
    model = TimelineEvent
    extra = 0
    fields = ["created_at", "kind", "actor_kind", "actor_label", "data"]
    readonly_fields = fields
    can_delete = False
    ordering = ["created_at", "id"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


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
    readonly_fields = ["public_id", "order", "created_at", "recovered_from"]
    raw_id_fields = ["payment_link", "recovered_from"]
    date_hierarchy = "created_at"
    inlines = [TimelineEventInline, CallbackDeliveryInline]
    show_full_result_count = False  # a COUNT(*) over every session on each page is wasted work

    def get_queryset(self, request):
        return super().get_queryset(request).with_status()

    @admin.display(description="Status", ordering="status")
    def status_display(self, session: CheckoutSession) -> str:
        return SessionStatus(session.status).label

    @admin.display(description="Amount", ordering="order__amount_total")
    def amount(self, session: CheckoutSession) -> str:
        return format_money(session.order.amount_total, session.order.currency)


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
    readonly_fields = ["public_id", "number", "amount_total", "total", "created_at"]
    date_hierarchy = "created_at"
    inlines = [OrderItemInline]
    show_full_result_count = False

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

    @admin.display(description="Unit price", ordering="unit_price")
    def price(self, link: PaymentLink) -> str:
        return format_money(link.unit_price, link.currency or link.org.currency)


@admin.register(OrderItem)
class OrderItemAdmin(admin.ModelAdmin):
    list_display = ["name", "order", "quantity", "unit_price_formatted"]
    search_fields = ["name", "order__public_id"]
    list_select_related = ["order"]
    raw_id_fields = ["order"]
    show_full_result_count = False

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
