"""Settings → Customer data: the erasure form. The address is typed twice (a confirmation that
works without JavaScript); both are read in their canonical form (``orgs.emails``), so
``Ann@Example.com`` confirms ``ann@example.com`` and a look-alike never does."""

from django import forms
from django.core.exceptions import ValidationError

from orgs.emails import MAX_ADDRESS_OCTETS, canonical_email

EMAIL_WIDGET = {"autocomplete": "off", "spellcheck": "false"}


class ErasureForm(forms.Form):
    # Not an EmailField: canonical_email says why an address is not one (NUL bytes included).
    email = forms.CharField(
        label="Customer's email address",
        max_length=MAX_ADDRESS_OCTETS,
        widget=forms.EmailInput(attrs=EMAIL_WIDGET),
    )
    email_again = forms.CharField(
        label="Type it again to confirm",
        max_length=MAX_ADDRESS_OCTETS,
        widget=forms.EmailInput(attrs=EMAIL_WIDGET),
    )

    def clean_email(self) -> str:
        return canonical_email(self.cleaned_data["email"])

    def clean(self):
        cleaned = super().clean()
        email, again = cleaned.get("email"), cleaned.get("email_again")
        if email and again:
            try:
                same = canonical_email(again) == email
            except ValidationError:
                same = False
            if not same:
                self.add_error("email_again", "The two addresses differ: type the same one twice.")
        return cleaned
