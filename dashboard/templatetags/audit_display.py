"""How audit entries read on the dashboard's Activity lists.

``{% load audit_display %}``, then::

    {{ "unit_price"|audited_field }}         unit price
    {{ change|audited_value }}               “Espresso beans” / 1250 / yes / (empty)
"""

from django import template

register = template.Library()

FIELD_LABELS = {
    "unit_price": "unit price (minor units)",
    "success_url": "success URL",
    "callback_url": "callback URL",
    "require_phone": "requires phone",
    "require_location": "requires country and postal code",
    "require_shipping_address": "requires shipping address",
}


@register.filter
def audited_field(name: str) -> str:
    """A changed field's name as words."""
    return FIELD_LABELS.get(name, str(name).replace("_", " "))


@register.filter
def audited_value(value) -> str:
    """One side of a change: booleans as yes / no, nothing as "(empty)", text quoted."""
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if value in (None, ""):
        return "(empty)"
    if isinstance(value, str):
        return f"“{value}”"
    return str(value)
