from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("dashboard/", include("dashboard.urls")),
    path("v0/", include("checkout.api.urls")),
    path("", include("checkout.urls")),
]
