"""API-key authentication: ``Authorization: Bearer sk_{mode}_…``. The key decides org and mode."""

from django.http import HttpRequest
from ninja.security import HttpBearer

from checkout.api.throttling import enforce_rate_limit
from orgs.models import ApiKey
from orgs.services import authenticate_api_key

KEY_PREFIXES = ("sk_test_", "sk_live_")
MAX_KEY_LENGTH = 128


class ApiKeyAuth(HttpBearer):
    def __call__(self, request: HttpRequest) -> ApiKey | None:
        # Parsed here rather than by HttpBearer, which logs unexpected headers (with the secret)
        # when DEBUG is on.
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        return self.authenticate(request, token.strip())

    def authenticate(self, request: HttpRequest, token: str) -> ApiKey | None:
        """The usable key for ``token``, or None (→ 401); past the key's request limit the
        API's 429 (``checkout.api.throttling``)."""
        if not token.startswith(KEY_PREFIXES) or len(token) > MAX_KEY_LENGTH:
            return None
        api_key = authenticate_api_key(token)
        if api_key is not None:
            enforce_rate_limit(api_key)
        return api_key
