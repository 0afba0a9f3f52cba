"""Settings → API keys: the form that names a new key (``orgs.services.create_api_key``)."""

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        help_text="Where the key is used, e.g. “Production web server”: shown in the list.",
    )

    def __init__(self, data=None):
        super().__init__(data, label_suffix="")

    def add_service_errors(self, error: ValidationError) -> None:
        """Show the service's refusal on the field it names (others above the form)."""
        for field, messages in error.message_dict.items():
            self.add_error(field if field in self.fields else NON_FIELD_ERRORS, messages)
