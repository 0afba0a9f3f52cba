"""The product's URLs plus ``/bench/bare``: the cheapest response Django can give, the yardstick
every served page is compared with. Only ``bench.settings`` routes here."""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def bare(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("bench/bare", bare, name="bench-bare"),
    path("", include("config.urls")),
]
