"""System checks for settings that are valid one by one but wrong together."""

from django.conf import settings
from django.core.checks import Tags, Warning, register

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
