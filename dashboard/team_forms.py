"""The team page's forms and the invitation's new-account form: parsing only. Every rule
(canonical addresses, existing members, the last owner, usernames, password validators) is in
``orgs.team``, whose ValidationErrors land next to the field they name."""

from django import forms
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError

from orgs.emails import MAX_ADDRESS_OCTETS
from orgs.models import Membership


class InviteForm(forms.Form):
    # Not an EmailField: orgs.team canonicalizes and says why an address can't receive mail.
    email = forms.CharField(
        max_length=MAX_ADDRESS_OCTETS,
        widget=forms.EmailInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.MEMBER)


class NewAccountForm(forms.Form):
    username = forms.CharField(
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none"}),
        help_text="Letters, digits and @ . + - _ only.",
    )
    password = forms.CharField(
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password_again = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="The same password, to be sure it is what you meant.",
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("password") and cleaned.get("password") != cleaned.get("password_again"):
            self.add_error("password_again", "The two passwords differ.")
        return cleaned


def add_service_errors(form: forms.Form, error: ValidationError) -> None:
    """Show a service's ValidationError on ``form``: each message next to its field, the rest
    (and fields the form does not have) above the form."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, messages in error.message_dict.items():
        form.add_error(field if field in form.fields else None, messages)
