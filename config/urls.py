from django.contrib import admin
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from dashboard.login_throttle import AdminLoginForm
from dashboard.views import account

# The admin's login counts failures under the same locks as the dashboard's (one count for both).
admin.site.login_form = AdminLoginForm


def favicon(request):
    # Browsers ask for /favicon.ico on every page, admin included. Resolved per request because
    # the hashed static name only exists after collectstatic in production.
    return redirect(static("favicon.svg"), permanent=True)


urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", account.LoginView.as_view(), name="login"),
    # Password reset with an HTML email and SITE_URL links; the other account views as Django has.
    path("accounts/password_reset/", account.PasswordResetView.as_view(), name="password_reset"),
    path(
        "accounts/password_reset/done/",
        account.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    path("dashboard/", include("dashboard.urls")),
    path("v0/", include("checkout.api.urls")),
    path("favicon.ico", favicon),
    # The site's front door is the merchant dashboard (customers arrive on /pay/ or /checkout/).
    path("", RedirectView.as_view(pattern_name="dashboard:home"), name="root"),
    path("", include("checkout.urls")),
]

# /v0/ answers with the API's JSON error object, every other path with templates/<status>.html.
handler400 = "checkout.api.errors.bad_request"
handler403 = "checkout.api.errors.permission_denied"
handler404 = "checkout.api.errors.page_not_found"
handler500 = "checkout.api.errors.server_error"
