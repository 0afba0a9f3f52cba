"""Customer-facing URLs: payment links, the hosted checkout page, the customer portal.

Each id in a path must have its own shape (converters below), so a malformed id (a NUL byte,
unicode, a megabyte of junk) is the 404 page before any view or database query sees it.
"""

from django.urls import path, register_converter

from checkout import views


class _PublicIdConverter:
    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


# orgs.ids.new_public_id: a prefix and 32 characters of ID_ALPHABET ([A-Za-z0-9]). At least 24
# (the SPEC's bound) and at most 56, so that "cs_live_" + the random part fits the 64-character
# public_id column: room to lengthen ids without touching these patterns.
_RANDOM_PART = r"[A-Za-z0-9]{24,56}"


class SessionIdConverter(_PublicIdConverter):
    regex = rf"cs_(?:test|live)_{_RANDOM_PART}"


class PaymentLinkIdConverter(_PublicIdConverter):
    regex = rf"plink_{_RANDOM_PART}"


class PortalTokenConverter(_PublicIdConverter):
    # django.core.signing.dumps: [.]payload:timestamp:signature, each base64url (no padding);
    # the timestamp is base62. The payload of a portal token is a few dozen characters.
    regex = r"\.?[A-Za-z0-9_-]{1,2000}:[A-Za-z0-9]{1,20}:[A-Za-z0-9_-]{1,200}"


register_converter(SessionIdConverter, "session_id")
register_converter(PaymentLinkIdConverter, "payment_link_id")
register_converter(PortalTokenConverter, "portal_token")

app_name = "checkout"

urlpatterns = [
    path("pay/<payment_link_id:link_id>", views.open_payment_link, name="payment_link"),
    path("checkout/<session_id:session_id>", views.checkout_page, name="session"),
    path("checkout/<session_id:session_id>/details", views.save_details, name="details"),
    path("checkout/<session_id:session_id>/pay", views.pay, name="pay"),
    path("checkout/<session_id:session_id>/thank-you", views.thank_you, name="thank_you"),
    path("portal/<portal_token:token>", views.portal, name="portal"),
]
