"""System checks for settings the checkout depends on in production (`check --deploy`)."""

from django.conf import settings
from django.core.checks import Error, register

# Django's mailers that deliver nothing: receipts and recovery emails would never arrive.
UNDELIVERED_MAIL_BACKENDS = {
    "django.core.mail.backends.console.EmailBackend",
    "django.core.mail.backends.locmem.EmailBackend",
    "django.core.mail.backends.dummy.EmailBackend",
    "django.core.mail.backends.filebased.EmailBackend",
}


@register("mail", deploy=True)
def check_mail_is_delivered(app_configs, **kwargs) -> list[Error]:
    """In production (DEBUG off) the default mailer must send real email."""
    backend = settings.MAILERS["default"]["BACKEND"]
    if settings.DEBUG or backend not in UNDELIVERED_MAIL_BACKENDS:
        return []
    return [
        Error(
            f"Email goes to {backend}, which delivers nothing: customers get no receipts.",
            hint="Set EMAIL_URL to your mail server, e.g. smtp+tls://user:password@host:587.",
            id="checkout.E001",
        )
    ]
