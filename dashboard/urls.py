from django.urls import path, register_converter

from checkout.urls import PaymentLinkIdConverter, SessionIdConverter
from dashboard.access import ModeConverter, PublicIdConverter
from dashboard.views import (
    api_keys,
    home,
    links,
    orders,
    privacy,
    session_detail,
    sessions,
    team,
)
from dashboard.views import settings as checkout_settings

app_name = "dashboard"
register_converter(ModeConverter, "mode")
# Ids of their own shape (cs_test_… / cs_live_… and plink_… as on the hosted pages, others by
# PublicIdConverter's): junk, a NUL byte or a megabyte in their place is a 404 before any view
# or query sees it.
register_converter(SessionIdConverter, "dashboard_session_id")
register_converter(PaymentLinkIdConverter, "dashboard_link_id")
register_converter(PublicIdConverter, "public_id")
LINK = "<dashboard_link_id:link_id>"

# Every page exists in both modes: /dashboard/acme/test/sessions/ and /dashboard/acme/sessions/.
ORG = "<slug:org_slug>/<mode:mode>"
SESSION = f"{ORG}sessions/<dashboard_session_id:session_id>"

urlpatterns = [
    path("", home.home, name="home"),
    # An invitation link (orgs.team): no org in the URL, the invited person is no member yet.
    path("invitations/<str:token>", team.invitation, name="invitation"),
    path(f"{ORG}", home.org_home, name="org_home"),
    path(f"{ORG}sessions/", sessions.session_list, name="sessions"),
    path(f"{ORG}sessions/poll", sessions.session_list_poll, name="sessions_poll"),
    path(f"{ORG}sessions/export.csv", sessions.session_export, name="sessions_export"),
    path(SESSION, session_detail.session_detail, name="session_detail"),
    path(f"{SESSION}/recover", session_detail.recover_sale, name="session_recover"),
    path(f"{SESSION}/resend-receipt", session_detail.resend, name="session_resend_receipt"),
    path(f"{SESSION}/extend-expiry", session_detail.extend_expiry, name="session_extend_expiry"),
    path(f"{ORG}orders/", orders.order_list, name="orders"),
    path(f"{ORG}orders/<public_id:order_id>", orders.order_detail, name="order_detail"),
    path(f"{ORG}links/", links.link_list, name="links"),
    path(f"{ORG}links/new", links.link_create, name="link_create"),
    path(f"{ORG}links/{LINK}", links.link_detail, name="link_detail"),
    path(f"{ORG}links/{LINK}/edit", links.link_edit, name="link_edit"),
    path(f"{ORG}links/{LINK}/deactivate", links.link_deactivate, name="link_deactivate"),
    path(f"{ORG}links/{LINK}/reactivate", links.link_reactivate, name="link_reactivate"),
    path(f"{ORG}links/{LINK}/qr.svg", links.link_qr, name="link_qr"),
    path(f"{ORG}settings/", checkout_settings.checkout_settings, name="settings"),
    path(f"{ORG}settings/defaults", checkout_settings.save_defaults, name="settings_defaults"),
    path(f"{ORG}settings/secret/reveal", checkout_settings.reveal_secret, name="secret_reveal"),
    path(f"{ORG}settings/secret/rotate", checkout_settings.rotate_secret, name="secret_rotate"),
    path(f"{ORG}settings/test-callback", checkout_settings.test_callback, name="test_callback"),
    path(
        f"{ORG}settings/deliveries/<public_id:delivery_id>/redeliver",
        checkout_settings.redeliver,
        name="redeliver",
    ),
    path(f"{ORG}api-keys/", api_keys.api_key_list, name="api_keys"),
    path(f"{ORG}api-keys/new", api_keys.api_key_create, name="api_key_create"),
    path(f"{ORG}api-keys/<int:key_id>/revoke", api_keys.api_key_revoke, name="api_key_revoke"),
    path(f"{ORG}team/", team.team_page, name="team"),
    path(f"{ORG}team/invite", team.invite, name="team_invite"),
    path(f"{ORG}team/members/<int:membership_id>/role", team.change_role, name="team_role"),
    path(f"{ORG}team/members/<int:membership_id>/remove", team.remove, name="team_remove"),
    path(f"{ORG}team/invitations/<int:invitation_id>/revoke", team.revoke, name="team_revoke"),
    path(f"{ORG}privacy/", privacy.privacy, name="privacy"),
    path(f"{ORG}privacy/erase", privacy.erase, name="privacy_erase"),
]
