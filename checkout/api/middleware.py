"""Headers every response under /v0/ carries, whatever produced it (a view, an error handler)."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control

from checkout.api.errors import is_api_request


def api_responses_are_not_stored(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """``Cache-Control: no-store`` on every API response: sessions and errors are per key and
    per moment, and must never be kept by a proxy or a client's cache.

    First in MIDDLEWARE, so it also sees the responses Django's error handlers make for
    exceptions raised by the middleware below it (a disallowed Host)."""

    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        if is_api_request(request):
            patch_cache_control(response, no_store=True)
        return response

    return middleware
