from django.urls import path, register_converter

from dashboard.access import ModeConverter
from dashboard.views import home, placeholders, sessions, team

app_name = "dashboard"
register_converter(ModeConverter, "mode")

# Every page exists in both modes: /dashboard/acme/test/sessions/ and /dashboard/acme/sessions/.
ORG = "<slug:org_slug>/<mode:mode>"

urlpatterns = [
    path("", home.home, name="home"),
    # An invitation link (orgs.team): no org in the URL, the invited person is no member yet.
    path("invitations/<str:token>", team.invitation, name="invitation"),
    path(f"{ORG}", home.org_home, name="org_home"),
    path(f"{ORG}sessions/", sessions.session_list, name="sessions"),
    path(f"{ORG}sessions/poll", sessions.session_list_poll, name="sessions_poll"),
    path(f"{ORG}sessions/export.csv", sessions.session_export, name="sessions_export"),
    path(f"{ORG}sessions/<str:session_id>", sessions.session_detail, name="session_detail"),
    path(f"{ORG}orders/", placeholders.coming_soon, {"section": "orders"}, name="orders"),
    path(f"{ORG}links/", placeholders.coming_soon, {"section": "links"}, name="links"),
    path(f"{ORG}settings/", placeholders.coming_soon, {"section": "settings"}, name="settings"),
    path(f"{ORG}api-keys/", placeholders.coming_soon, {"section": "api_keys"}, name="api_keys"),
    path(f"{ORG}team/", team.team_page, name="team"),
    path(f"{ORG}team/invite", team.invite, name="team_invite"),
    path(f"{ORG}team/members/<int:membership_id>/role", team.change_role, name="team_role"),
    path(f"{ORG}team/members/<int:membership_id>/remove", team.remove, name="team_remove"),
    path(f"{ORG}team/invitations/<int:invitation_id>/revoke", team.revoke, name="team_revoke"),
]
