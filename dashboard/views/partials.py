"""How a dashboard page answers: the whole page, or (an HTMX swap) one named partial of it."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_vary_headers


def wants_whole_page(request: HttpRequest) -> bool:
    """Not an HTMX swap: a plain request, or Back after an HTMX navigation (a history-restore
    request carries HX-Request but needs the page whole)."""
    return not request.htmx or request.htmx.history_restore_request


def render_page_or_partial(
    request: HttpRequest, template: str, partial: str, context: dict
) -> HttpResponse:
    """``template`` whole, or only its ``{% partialdef partial %}`` for an HTMX swap; the
    answer varies on HX-Request, so no cache hands the partial to a plain request."""
    name = template if wants_whole_page(request) else f"{template}#{partial}"
    response = render(request, name, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


def org_url(name: str, request: HttpRequest, **kwargs) -> str:
    """The URL of the dashboard page ``name`` in the request's org and mode."""
    return reverse(name, kwargs={"org_slug": request.org.slug, "mode": request.mode, **kwargs})
