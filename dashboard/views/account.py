"""Password reset with the dashboard's templates (templates/registration/): Django's own views,
with an HTML part in the receipts' email look and links built on ``SITE_URL`` (never on the
request's Host header), limited per address and per client IP. Log in is Django's view with the
throttle's form (django-axes, counted under a lock: dashboard/login_throttle.py); password change
is Django's view as it is."""

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpResponseRedirect

from checkout.request_context import client_ip
from dashboard.login_throttle import LoginForm
from dashboard.password_reset_limits import claim_password_reset


def reset_link_lifetime() -> str:
    """How long a reset link works, in words: ``3 days``, ``2 hours``."""
    seconds = settings.PASSWORD_RESET_TIMEOUT
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"


class LoginView(auth_views.LoginView):
    authentication_form = LoginForm


class PasswordResetView(auth_views.PasswordResetView):
    email_template_name = "registration/password_reset_email.txt"
    html_email_template_name = "registration/password_reset_email.html"

    @property
    def extra_email_context(self) -> dict:
        return {"site_url": settings.SITE_URL, "reset_days": reset_link_lifetime()}

    def form_valid(self, form):
        # Past a limit the page is the same "check your email" and nothing is sent
        # (dashboard/password_reset_limits.py).
        if not claim_password_reset(
            email=form.cleaned_data["email"], ip_address=client_ip(self.request)
        ):
            return HttpResponseRedirect(self.get_success_url())
        return super().form_valid(form)


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    @property
    def extra_context(self) -> dict:
        return {"reset_days": reset_link_lifetime()}
