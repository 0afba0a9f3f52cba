"""Settings → Checkout settings: the org's checkout defaults as a form.

The form parses and shows errors next to each field; the rules themselves are the model's
validators, which ``orgs.services.save_organization`` (the admin's door too) runs again.
"""

from functools import lru_cache

from babel.numbers import get_currency_name
from django import forms
from django.core.exceptions import ValidationError

from orgs.currencies import known_currencies
from orgs.models import MAX_FRAUD_FLAG_THRESHOLD, Organization

DEFAULTS_FIELDS = [
    "currency",
    "success_url",
    "callback_url",
    "terms_url",
    "privacy_url",
    "support_email",
    "require_phone",
    "require_location",
    "require_shipping_address",
    "fraud_flag_threshold",
]


@lru_cache(maxsize=1)
def currency_choices() -> list[tuple[str, str]]:
    return [
        (code, f"{code} · {get_currency_name(code, locale='en')}")
        for code in sorted(known_currencies())
    ]


class CheckoutDefaultsForm(forms.ModelForm):
    """Currency, URLs, support email, required fields and the fraud-flag threshold of an org:
    the defaults every payment link and session starts from. ``editable`` False (a member):
    every field disabled, so the same markup shows the values read-only."""

    class Meta:
        model = Organization
        fields = DEFAULTS_FIELDS
        labels = {
            "currency": "Default currency",
            "success_url": "Success URL",
            "callback_url": "Callback URL",
            "terms_url": "Terms of service URL",
            "privacy_url": "Privacy policy URL",
            "support_email": "Support email",
            "require_phone": "Phone number",
            "require_location": "Country and postal code",
            "require_shipping_address": "Shipping address",
            "fraud_flag_threshold": "Fraud flag after",
        }
        help_texts = {
            "currency": "Payment links and API sessions without a currency of their own use it.",
            "success_url": "Where customers go after paying, unless a link or session says "
            "otherwise. {CHECKOUT_SESSION_ID} is replaced by the session's id. Empty: our "
            "thank-you page.",
            "callback_url": "Receives signed callbacks when a checkout completes, fails or "
            "expires (test and live mode, each signed with its own secret).",
            "terms_url": "Linked from the checkout page.",
            "privacy_url": "Linked from the checkout page.",
            "support_email": "Shown on the checkout page and in receipts.",
            "require_phone": "",
            "require_location": "",
            "require_shipping_address": "with country and postal code",
            "fraud_flag_threshold": "failed payment attempts on one session (1 to "
            f"{MAX_FRAUD_FLAG_THRESHOLD}).",
        }
        error_messages = {
            name: {"invalid": "Enter a full URL, starting with https:// (or http://)."}
            for name in ("success_url", "callback_url", "terms_url", "privacy_url")
        }
        widgets = {
            "success_url": forms.URLInput(attrs={"placeholder": "https://example.com/thanks"}),
            "callback_url": forms.URLInput(attrs={"placeholder": "https://example.com/hooks"}),
            "terms_url": forms.URLInput(attrs={"placeholder": "https://example.com/terms"}),
            "privacy_url": forms.URLInput(attrs={"placeholder": "https://example.com/privacy"}),
            "support_email": forms.EmailInput(attrs={"placeholder": "support@example.com"}),
            "fraud_flag_threshold": forms.NumberInput(
                attrs={"min": 1, "max": MAX_FRAUD_FLAG_THRESHOLD, "inputmode": "numeric"}
            ),
        }

    def __init__(self, *args, editable: bool, **kwargs):
        super().__init__(*args, **kwargs)
        choices = currency_choices()
        current = self.instance.currency
        if current and current not in dict(choices):
            choices = [(current, current), *choices]  # a legacy value stays visible
        self.fields["currency"] = forms.ChoiceField(
            label=self.Meta.labels["currency"],
            help_text=self.Meta.help_texts["currency"],
            choices=choices,
        )
        for name in ("success_url", "callback_url", "terms_url", "privacy_url"):
            self.fields[name].assume_scheme = "https"
        for field in self.fields.values():
            field.disabled = not editable
            if not editable:
                # An empty read-only field shows nothing: a placeholder would look like a value.
                field.widget.attrs.pop("placeholder", None)

    def add_service_errors(self, error: ValidationError) -> None:
        """Show a service's ValidationError next to its fields (or above the form)."""
        for field, messages in error.update_error_dict({}).items():
            self.add_error(field if field in self.fields else None, messages)
