"""Signed callbacks to the merchant's server (Standard Webhooks)."""

from checkout.models import CheckoutSession


def enqueue_session_callback(*, session: CheckoutSession, event_type: str) -> None:
    """Queue ``event_type`` for the session's effective callback URL (call inside the
    transaction that changed the session; delivery starts on commit)."""
    return None
