"""Products → Payment links: the create / edit form.

The form parses what a merchant types (a price in major units, "12.50") and hands a link to
``orgs.services.save_payment_link``, which holds every rule (bounds, the callback URL's SSRF
rule, no control characters); the service's errors come back onto the fields they name.
"""

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from checkout.money import TooManyDecimals, format_major_units, to_minor_units
from orgs.currencies import known_currencies
from orgs.models import MAX_QUANTITY, MAX_UNIT_PRICE, Organization, PaymentLink

# The link's model fields the form sets as they are (the price is parsed first).
PLAIN_FIELDS = (
    "name",
    "description",
    "quantity",
    "currency",
    "success_url",
    "callback_url",
    "require_phone",
    "require_location",
    "require_shipping_address",
)
# A model field whose errors show on a form field of another name.
FORM_FIELD_OF = {"unit_price": "price"}


class PaymentLinkForm(forms.Form):
    name = forms.CharField(
        max_length=200, help_text="What the customer buys: the line item on the checkout page."
    )
    description = forms.CharField(
        required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 3})
    )
    price = forms.CharField(
        label="Unit price",
        max_length=30,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    quantity = forms.IntegerField(min_value=1, max_value=MAX_QUANTITY, initial=1)
    currency = forms.ChoiceField(required=False)
    success_url = forms.URLField(
        label="Success URL",
        required=False,
        max_length=2000,
        help_text="Where customers go after paying; {CHECKOUT_SESSION_ID} is replaced by the "
        "session's id. Empty: your checkout settings' URL, else the built-in receipt page.",
    )
    callback_url = forms.URLField(
        label="Callback URL",
        required=False,
        max_length=2000,
        help_text="Receives this link's signed callbacks. Empty: your checkout settings' URL.",
    )
    require_phone = forms.BooleanField(label="Phone number", required=False)
    require_location = forms.BooleanField(label="Country and postal code", required=False)
    require_shipping_address = forms.BooleanField(label="Shipping address", required=False)

    def __init__(self, data=None, *, org: Organization, link: PaymentLink | None = None):
        initial = {}
        if link is not None:
            initial = {name: getattr(link, name) for name in PLAIN_FIELDS}
            initial["price"] = format_major_units(link.unit_price, link.currency or org.currency)
        super().__init__(data, initial=initial, label_suffix="")
        self.org = org
        self.fields["currency"].choices = [
            ("", f"Your default ({org.currency})"),
            *((code, code) for code in sorted(known_currencies())),
        ]
        self.fields["currency"].help_text = "The price is in this currency."

    @property
    def required_by_org(self) -> list[str]:
        """Labels of the fields the org's checkout settings already require (they stay
        required whatever the link says: required fields OR-merge)."""
        return [
            self.fields[name].label
            for name in ("require_phone", "require_location", "require_shipping_address")
            if getattr(self.org, name)
        ]

    def clean(self):
        cleaned = super().clean()
        price = cleaned.get("price")
        if price is None or "currency" not in cleaned:
            return cleaned
        currency = cleaned["currency"] or self.org.currency
        try:
            unit_price = to_minor_units(price, currency)
        except TooManyDecimals as error:
            if error.exponent == 0:
                message = f"Unit price can't have decimals in {currency}: enter e.g. 1200."
            else:
                example = format_major_units(1250 * 10**error.exponent // 100, currency)
                message = (
                    f"Unit price can have at most {error.exponent} decimals in {currency}: "
                    f"enter e.g. {example}."
                )
            self.add_error("price", message)
            return cleaned
        except ValueError:
            self.add_error(
                "price", "Enter the unit price as a number, with a point before any decimals."
            )
            return cleaned
        if not 1 <= unit_price <= MAX_UNIT_PRICE:
            lowest, highest = (format_major_units(n, currency) for n in (1, MAX_UNIT_PRICE))
            self.add_error("price", f"Unit price must be from {lowest} to {highest} {currency}.")
            return cleaned
        cleaned["unit_price"] = unit_price
        return cleaned

    def apply_to(self, link: PaymentLink) -> PaymentLink:
        """``link`` with the form's values (call after ``is_valid()``; nothing is saved)."""
        for name in PLAIN_FIELDS:
            setattr(link, name, self.cleaned_data[name])
        link.unit_price = self.cleaned_data["unit_price"]
        return link

    def add_service_errors(self, error: ValidationError) -> None:
        """Show the service's refusal on the fields it names (others above the form)."""
        for field, messages in error.message_dict.items():
            field = FORM_FIELD_OF.get(field, field)
            self.add_error(field if field in self.fields else NON_FIELD_ERRORS, messages)


class LinkSearchForm(forms.Form):
    """The list's search box: a name or part of one. Text that does not validate (over-long,
    a NUL byte) is ignored rather than searched for."""

    q = forms.CharField(required=False, max_length=200)

    @property
    def text(self) -> str:
        return self.cleaned_data["q"] if self.is_valid() else ""
