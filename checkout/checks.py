"""System checks: settings the checkout depends on in production (`check --deploy`), and
settings that are valid one by one but wrong together."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

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


# How many times the longest task a task may run before it is taken to have lost its worker.
STALE_MARGIN = 3


@register(Tags.compatibility)
def check_task_stale_after(app_configs, **kwargs) -> list[Warning]:
    """TASK_STALE_AFTER_SECONDS must leave the slowest task time to finish, or it runs twice."""
    email_timeout = settings.MAILERS["default"].get("OPTIONS", {}).get("timeout") or 0
    longest = max(settings.CALLBACK_TIMEOUT_SECONDS, email_timeout)
    if STALE_MARGIN * longest <= settings.TASK_STALE_AFTER_SECONDS:
        return []
    return [
        Warning(
            f"TASK_STALE_AFTER_SECONDS ({settings.TASK_STALE_AFTER_SECONDS}) is less than "
            f"{STALE_MARGIN} times the longest task's timeout ({longest:g} s, "
            "CALLBACK_TIMEOUT_SECONDS / EMAIL_TIMEOUT): a slow task would be run twice.",
            hint="Raise TASK_STALE_AFTER_SECONDS (default 240).",
            id="checkout.W001",
        )
    ]


@register(Tags.urls)
def check_site_url(app_configs, **kwargs) -> list[Error]:
    """SITE_URL starts every link we send (emails, callbacks, ``session.url``): it must be an
    absolute http(s) address of the site's root, or those links would lead nowhere."""
    url = settings.SITE_URL
    parts = urlsplit(url)
    if (
        parts.scheme in ("http", "https")
        and parts.hostname
        and not any((parts.path, parts.query, parts.fragment, parts.username, parts.password))
    ):
        return []
    return [
        Error(
            f"SITE_URL {url!r} is not the absolute http(s) address of the site's root, so the "
            "links in emails, callbacks and API responses would lead nowhere.",
            hint="Set SITE_URL to the scheme and host customers reach (no path, no query), "
            "e.g. https://pay.example.com.",
            id="checkout.E002",
        )
    ]


@register("security", deploy=True)
def check_site_url_is_https(app_configs, **kwargs) -> list[Error]:
    """In production the links we send carry portal tokens and payment pages: HTTPS only."""
    if settings.DEBUG or urlsplit(settings.SITE_URL).scheme != "http":
        return []
    return [
        Error(
            f"SITE_URL {settings.SITE_URL!r} is plain http: portal links and payment pages would "
            "travel unencrypted.",
            hint="Serve the site over HTTPS and set SITE_URL to its https:// address.",
            id="checkout.E003",
        )
    ]
