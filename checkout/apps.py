from django.apps import AppConfig


class CheckoutConfig(AppConfig):
    name = "checkout"
    verbose_name = "Checkout"

    def ready(self) -> None:
        # Imported for what importing does: registering the system checks, and connecting
        # callbacks to the timeline's event_recorded signal.
        from checkout import callbacks, checks  # noqa: F401
