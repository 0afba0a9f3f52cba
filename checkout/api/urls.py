"""URLs under /v0/: the API's endpoints, its schema and docs, and a JSON 404 for the rest."""

from collections.abc import Callable
from functools import wraps

from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern, re_path
from django.views.decorators.csrf import csrf_exempt

from checkout.api.errors import error_response, json_method_not_allowed, not_found, unknown_path
from checkout.api.views import api


def api_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Every /v0/ view: no CSRF (keys, not cookies, authenticate), JSON errors only."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except Http404:
            # ninja's API root (/v0/) raises Http404 itself, outside its exception handlers.
            return error_response(not_found(f"Unrecognized request URL: {request.path}"))

    return csrf_exempt(json_method_not_allowed(wrapped))


def _api_patterns() -> list[URLPattern]:
    patterns, _app_name, _namespace = api.urls
    for pattern in patterns:
        pattern.callback = api_only(pattern.callback)
    return patterns


app_name = "api-v0"
urlpatterns = [
    *_api_patterns(),
    re_path(r"^(?P<path>.*)$", api_only(unknown_path), name="unknown"),
]
