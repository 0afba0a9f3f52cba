from django.urls import path, register_converter

from dashboard.access import ModeConverter
from dashboard.views import home, placeholders, sessions
from dashboard.views import settings as checkout_settings

app_name = "dashboard"
register_converter(ModeConverter, "mode")

# Every page exists in both modes: /dashboard/acme/test/sessions/ and /dashboard/acme/sessions/.
ORG = "<slug:org_slug>/<mode:mode>"

urlpatterns = [
    path("", home.home, name="home"),
    path(f"{ORG}", home.org_home, name="org_home"),
    path(f"{ORG}sessions/", sessions.session_list, name="sessions"),
    path(f"{ORG}sessions/poll", sessions.session_list_poll, name="sessions_poll"),
    path(f"{ORG}sessions/export.csv", sessions.session_export, name="sessions_export"),
    path(f"{ORG}sessions/<str:session_id>", sessions.session_detail, name="session_detail"),
    path(f"{ORG}orders/", placeholders.coming_soon, {"section": "orders"}, name="orders"),
    path(f"{ORG}links/", placeholders.coming_soon, {"section": "links"}, name="links"),
    path(f"{ORG}settings/", checkout_settings.checkout_settings, name="settings"),
    path(f"{ORG}settings/defaults", checkout_settings.save_defaults, name="settings_defaults"),
    path(f"{ORG}settings/secret/reveal", checkout_settings.reveal_secret, name="secret_reveal"),
    path(f"{ORG}settings/secret/rotate", checkout_settings.rotate_secret, name="secret_rotate"),
    path(f"{ORG}settings/test-callback", checkout_settings.test_callback, name="test_callback"),
    path(
        f"{ORG}settings/deliveries/<str:delivery_id>/redeliver",
        checkout_settings.redeliver,
        name="redeliver",
    ),
    path(f"{ORG}api-keys/", placeholders.coming_soon, {"section": "api_keys"}, name="api_keys"),
    path(f"{ORG}team/", placeholders.coming_soon, {"section": "team"}, name="team"),
]
