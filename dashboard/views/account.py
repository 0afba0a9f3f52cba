"""Password reset with the dashboard's templates (templates/registration/): Django's own views,
with an HTML part in the receipts' email look and links built on ``SITE_URL`` (never on the
request's Host header). Log in and password change are Django's views as they are."""

from django.conf import settings
from django.contrib.auth import views as auth_views


def reset_link_lifetime() -> str:
    """How long a reset link works, in words: ``3 days``, ``2 hours``."""
    seconds = settings.PASSWORD_RESET_TIMEOUT
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"


class PasswordResetView(auth_views.PasswordResetView):
    email_template_name = "registration/password_reset_email.txt"
    html_email_template_name = "registration/password_reset_email.html"

    @property
    def extra_email_context(self) -> dict:
        return {"site_url": settings.SITE_URL, "reset_days": reset_link_lifetime()}


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    @property
    def extra_context(self) -> dict:
        return {"reset_days": reset_link_lifetime()}
