"""Forms of the hosted checkout page: parse and check what the customer typed.

Format problems (a bad email, a card number failing the Luhn check, a past expiry, a CVC of the
wrong length) are form errors shown inline; they never reach the payment processor and are not
payment attempts.
"""

import re
from functools import lru_cache

from babel.core import Locale
from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from checkout.effective_settings import RequiredFieldSet
from checkout.processors import CardDetails
from checkout.processors.test import card_brand
from checkout.services import CUSTOMER_DETAIL_FIELDS
from orgs.emails import canonical_email
from orgs.text import validate_no_control_characters

# CLDR territories that are not ISO 3166-1 countries (Kosovo's XK stays: card networks use it).
NOT_COUNTRIES = {"AC", "CP", "CQ", "DG", "EA", "EU", "EZ", "IC", "QO", "TA", "UN", "XA", "XB", "ZZ"}

PHONE_ALLOWED = re.compile(r"^\+?[0-9 ().\-]+$")
POSTAL_CODE = re.compile(r"^[A-Z0-9][A-Z0-9 \-]{0,11}$")
EXPIRY = re.compile(r"^(\d{1,2})\s*/?\s*(\d{2}|\d{4})$")
CARD_NUMBER_SEPARATORS = re.compile(r"[\s\-]")
# How far ahead an expiry year may be before we call it a typo.
MAX_EXPIRY_YEARS_AHEAD = 20


@lru_cache(maxsize=1)
def country_choices() -> list[tuple[str, str]]:
    territories = Locale.parse("en").territories
    countries = sorted(
        (
            (code, name)
            for code, name in territories.items()
            if len(code) == 2 and code.isalpha() and code not in NOT_COUNTRIES
        ),
        key=lambda choice: choice[1],
    )
    return [("", "Select a country"), *countries]


def _text(label: str, max_length: int, autocomplete: str, *, required: bool = True, **attrs):
    return forms.CharField(
        label=label,
        max_length=max_length,
        required=required,
        # Shown in the dashboard, CSV exports and on labels: one line, nothing that reorders it.
        validators=[validate_no_control_characters],
        widget=forms.TextInput(attrs={"autocomplete": autocomplete, **attrs}),
    )


def _country(autocomplete: str) -> forms.ChoiceField:
    return forms.ChoiceField(
        label="Country",
        choices=country_choices,
        widget=forms.Select(attrs={"autocomplete": autocomplete}),
        error_messages={"required": "Select your country.", "invalid_choice": "Select a country."},
    )


def _clean_postal_code(value: str) -> str:
    value = " ".join(value.upper().split())
    if value and not POSTAL_CODE.match(value):
        raise ValidationError("Enter a valid postal code.", code="invalid_postal_code")
    return value


class DetailsForm(forms.Form):
    """Step 1: email plus each field the session's effective settings require.

    When a shipping address is required, its country and postal code are the customer's
    location too, so the customer is never asked for them twice.
    """

    email = forms.EmailField(
        label="Email",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "placeholder": "you@example.com"}),
        error_messages={
            "required": "Enter your email address.",
            "invalid": "Enter a valid email address, like you@example.com.",
        },
    )

    def __init__(
        self, *args, required_fields: RequiredFieldSet, email_fixed: bool = False, **kwargs
    ):
        super().__init__(*args, **kwargs)
        self.required_fields = required_fields
        if email_fixed:
            # Given by the merchant (API customerEmail): shown as text, and a disabled field
            # takes its initial value whatever the request posts, so the customer can't change it.
            self.fields["email"].disabled = True
        if required_fields.phone:
            self.fields["phone"] = _text("Phone", 40, "tel", inputmode="tel", type="tel")
        if required_fields.shipping_address:
            self.fields["shipping_name"] = _text("Full name", 200, "shipping name")
            self.fields["shipping_line1"] = _text("Address line 1", 200, "shipping address-line1")
            self.fields["shipping_line2"] = _text(
                "Address line 2", 200, "shipping address-line2", required=False
            )
            self.fields["shipping_city"] = _text("City", 100, "shipping address-level2")
            self.fields["shipping_state"] = _text(
                "State / province", 100, "shipping address-level1", required=False
            )
            self.fields["shipping_postal_code"] = _text("Postal code", 20, "shipping postal-code")
            self.fields["shipping_country"] = _country("shipping country")
        elif required_fields.location:
            self.fields["country"] = _country("country")
            self.fields["postal_code"] = _text("Postal code", 20, "postal-code")

    @staticmethod
    def initial_from(session) -> dict[str, str]:
        """What the customer entered before (or the API gave), to prefill the form."""
        # Form fields are the session's fields without the "customer_" prefix.
        return {
            name.removeprefix("customer_"): getattr(session, name)
            for name in CUSTOMER_DETAIL_FIELDS
        }

    @property
    def contact_fields(self) -> list[forms.BoundField]:
        names = ("email", "phone", "country", "postal_code")
        return [self[name] for name in names if name in self.fields]

    @property
    def shipping_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if name.startswith("shipping_")]

    def clean_email(self) -> str:
        # The address the receipt goes to and the portal matches: refused here if no mail
        # server could deliver to it (the message names what is wrong with it).
        return canonical_email(self.cleaned_data["email"])

    def clean_phone(self) -> str:
        phone = " ".join(self.cleaned_data["phone"].split())
        digits = re.sub(r"\D", "", phone)
        # E.164 allows at most 15 digits; fewer than 6 is not a reachable number anywhere.
        if not PHONE_ALLOWED.match(phone) or not 6 <= len(digits) <= 15:
            raise ValidationError("Enter a valid phone number.", code="invalid_phone")
        return phone

    def clean_postal_code(self) -> str:
        return _clean_postal_code(self.cleaned_data["postal_code"])

    def clean_shipping_postal_code(self) -> str:
        return _clean_postal_code(self.cleaned_data["shipping_postal_code"])

    def customer_details(self) -> dict[str, str]:
        """The cleaned details keyed by CheckoutSession field name (location filled in)."""
        data = self.cleaned_data
        details = {"customer_email": data["email"]}
        if "phone" in data:
            details["customer_phone"] = data["phone"]
        if "country" in data:
            details["customer_country"] = data["country"]
            details["customer_postal_code"] = data["postal_code"]
        if "shipping_country" in data:
            details.update({name: data[name] for name in data if name.startswith("shipping_")})
            details["customer_country"] = data["shipping_country"]
            details["customer_postal_code"] = data["shipping_postal_code"]
        return details


def luhn_valid(number: str) -> bool:
    total = 0
    for index, digit in enumerate(reversed(number)):
        value = int(digit)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _card_field(
    label: str, autocomplete: str, placeholder: str, maxlength: int, required_message: str
) -> forms.CharField:
    # No max_length: the widget's maxlength guides the browser; clean_* check the real rules.
    return forms.CharField(
        label=label,
        widget=forms.TextInput(
            attrs={
                "autocomplete": autocomplete,
                "inputmode": "numeric",
                "placeholder": placeholder,
                "maxlength": maxlength,
            }
        ),
        error_messages={"required": required_message},
    )


class CardForm(forms.Form):
    """Step 2: card number, expiry (MM / YY) and CVC, checked like a card network would."""

    number = _card_field(
        "Card number", "cc-number", "1234 1234 1234 1234", 23, "Enter your card number."
    )
    expiry = _card_field("Expiry", "cc-exp", "MM / YY", 9, "Enter your card's expiry date.")
    cvc = _card_field("CVC", "cc-csc", "CVC", 4, "Enter your card's security code.")

    def clean_number(self) -> str:
        number = CARD_NUMBER_SEPARATORS.sub("", self.cleaned_data["number"])
        if not number.isascii() or not number.isdigit():
            raise ValidationError("Your card number is invalid.", code="invalid_number")
        if len(number) < 12:
            raise ValidationError("Your card number is incomplete.", code="incomplete_number")
        if len(number) > 19 or not luhn_valid(number):
            raise ValidationError("Your card number is invalid.", code="incorrect_number")
        return number

    def clean_expiry(self) -> tuple[int, int]:
        match = EXPIRY.match(self.cleaned_data["expiry"].strip())
        if not match:
            raise ValidationError("Enter the expiry date as MM / YY.", code="incomplete_expiry")
        month, year = int(match[1]), int(match[2])
        if year < 100:
            year += 2000
        if not 1 <= month <= 12:
            raise ValidationError(
                "Your card's expiration month is invalid.", code="invalid_expiry_month"
            )
        today = timezone.now().date()
        # A card is valid through the last day of its expiry month.
        if (year, month) < (today.year, today.month):
            raise ValidationError(
                "Your card's expiration date is in the past.", code="invalid_expiry_year_past"
            )
        if year > today.year + MAX_EXPIRY_YEARS_AHEAD:
            raise ValidationError(
                "Your card's expiration year is invalid.", code="invalid_expiry_year"
            )
        return month, year

    def clean_cvc(self) -> str:
        cvc = self.cleaned_data["cvc"].strip()
        if not cvc.isascii() or not cvc.isdigit() or not 3 <= len(cvc) <= 4:
            raise ValidationError("Your card's security code is incomplete.", code="incomplete_cvc")
        return cvc

    def clean(self):
        data = super().clean()
        number, cvc = data.get("number"), data.get("cvc")
        if number and cvc:
            # American Express prints a 4-digit code on the front; the others a 3-digit one.
            expected = 4 if card_brand(number) == "amex" else 3
            if len(cvc) != expected:
                self.add_error(
                    "cvc",
                    ValidationError(
                        "Your card's security code is incomplete."
                        if len(cvc) < expected
                        else "Your card's security code is invalid.",
                        code="invalid_cvc",
                    ),
                )
        return data

    def card_details(self) -> CardDetails:
        month, year = self.cleaned_data["expiry"]
        return CardDetails(
            number=self.cleaned_data["number"],
            exp_month=month,
            exp_year=year,
            cvc=self.cleaned_data["cvc"],
        )
