"""Settings → API keys: every member sees the mode's keys (masked); only owners create them
(the secret shown once, in that response only) and revoke them (401 at the API at once)."""

import re

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from orgs.models import ApiKey, AuditEntry, Mode, hash_api_key
from orgs.services import create_api_key
from tests.checkout.api.client import ApiClient
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db

BASE = "/dashboard/acme-test/test/"
KEYS = f"{BASE}api-keys/"
NEW = f"{BASE}api-keys/new"
SECRET = re.compile(r"sk_(?:test|live)_[A-Za-z0-9]{48}")


def revoke_url(api_key: ApiKey, base: str = BASE) -> str:
    return f"{base}api-keys/{api_key.pk}/revoke"


@pytest.fixture
def as_owner(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def as_member(client, member):
    client.force_login(member)
    return client


# Creating: the secret once


def test_owner_creates_a_key_and_sees_its_secret_once(as_owner, org, owner):
    response = as_owner.post(NEW, {"name": "Web server"})

    assert response.status_code == 201
    [plain_key] = SECRET.findall(response.text)
    api_key = ApiKey.objects.get()
    assert (api_key.org, api_key.mode, api_key.name, api_key.created_by) == (
        org,
        "test",
        "Web server",
        owner,
    )
    assert api_key.key_hash == hash_api_key(plain_key)
    assert "no-store" in response["Cache-Control"]
    assert "shown only this once" in response.text
    assert 'hx-history="false"' in response.text

    later = as_owner.get(KEYS)
    assert plain_key not in later.text
    assert api_key.masked in later.text
    assert not SECRET.search(later.text)


def test_the_secret_is_kept_in_no_session_message_or_url(as_owner, org):
    response = as_owner.post(NEW, {"name": "Web server"})
    [plain_key] = SECRET.findall(response.text)

    assert not response.has_header("Location")
    assert list(get_messages(response.wsgi_request)) == []
    session = as_owner.session
    assert all(plain_key not in str(value) for value in session.values())
    assert all(plain_key not in value.value for value in as_owner.cookies.values())
    entry = AuditEntry.objects.get()
    assert plain_key not in f"{entry.target} {entry.changes}"


def test_the_new_key_works_at_the_api(as_owner, org):
    plain_key = SECRET.search(as_owner.post(NEW, {"name": "Web server"}).text)[0]
    assert ApiClient(plain_key).get("/v0/checkout/sessions").status_code == 200


def test_htmx_create_swaps_the_keys_partial_with_the_secret(as_owner, org):
    response = as_owner.post(NEW, {"name": "Web server"}, headers={"HX-Request": "true"})
    assert response.text.lstrip().startswith('<div id="api-keys"')
    assert SECRET.search(response.text)
    assert "no-store" in response["Cache-Control"]


def test_a_live_mode_page_creates_live_keys(as_owner, org):
    response = as_owner.post("/dashboard/acme-test/api-keys/new", {"name": "Production"})
    assert SECRET.search(response.text)[0].startswith("sk_live_")
    assert ApiKey.objects.get().mode == Mode.LIVE


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "This field is required."),
        ("x" * 101, "at most 100 characters"),
        ("Web\u202eserver", "control characters"),
        ("Web\x00server", "Null characters are not allowed."),
    ],
)
def test_a_bad_name_is_refused_beside_the_field_and_creates_nothing(as_owner, org, name, message):
    response = as_owner.post(NEW, {"name": name})

    errors = re.search(r'<ul class="field-errors" id="id_name_error">(.*?)</ul>', response.text)
    assert errors and message in errors[1]
    assert not SECRET.search(response.text)
    assert not ApiKey.objects.exists() and not AuditEntry.objects.exists()


# Revoking


def test_owner_revokes_a_key_and_the_api_refuses_it_at_once(as_owner, org, owner):
    api_key, plain_key = create_api_key(org=org, mode="test", name="Old server")
    api = ApiClient(plain_key)
    assert api.get("/v0/checkout/sessions").status_code == 200

    response = as_owner.post(revoke_url(api_key), follow=True)

    assert f"Revoked {api_key.masked}" in response.text
    assert api.get("/v0/checkout/sessions").status_code == 401
    assert api.create().status_code == 401
    entry = AuditEntry.objects.get(action=AuditEntry.Action.API_KEY_REVOKED)
    assert (entry.user, entry.target) == (owner, api_key.masked)
    assert "Revoked" in response.text  # the key is listed as revoked


def test_revoked_keys_stay_listed_as_revoked_after_the_usable_ones(as_owner, org):
    old, _ = create_api_key(org=org, mode="test", name="Old server")
    create_api_key(org=org, mode="test", name="New server")
    as_owner.post(revoke_url(old))

    keys = list(as_owner.get(KEYS).context["page"].object_list)

    assert [(key.name, key.is_revoked) for key in keys] == [
        ("New server", False),
        ("Old server", True),
    ]


def test_revoke_asks_for_confirmation_without_javascript(as_owner, org):
    api_key, _ = create_api_key(org=org, mode="test", name="Web server")
    page = as_owner.get(KEYS).text
    # A <details> whose summary opens the second, real button: nothing happens on one click.
    confirm = re.search(r'<details class="confirm">(.*?)</details>', page, re.S)[1]
    assert "<summary" in confirm
    assert f'action="{revoke_url(api_key)}"' in confirm
    assert "will get 401 at once" in confirm


def test_htmx_revoke_swaps_the_list_with_a_notice(as_owner, org):
    api_key, _ = create_api_key(org=org, mode="test")
    response = as_owner.post(revoke_url(api_key), headers={"HX-Request": "true"})
    assert response.text.lstrip().startswith('<div id="api-keys"')
    assert f"Revoked {api_key.masked}" in response.text


def test_actions_are_posts(as_owner, org):
    api_key, _ = create_api_key(org=org, mode="test")
    assert as_owner.get(NEW).status_code == 405
    assert as_owner.get(revoke_url(api_key)).status_code == 405
    api_key.refresh_from_db()
    assert not api_key.is_revoked and ApiKey.objects.count() == 1


# Who may do what


def test_members_see_the_keys_read_only(as_member, org):
    api_key, _ = create_api_key(org=org, mode="test", name="Web server")

    page = as_member.get(KEYS)

    assert page.status_code == 200
    assert api_key.masked in page.text and "Web server" in page.text
    assert "Only owners of" in page.text
    assert 'action="/dashboard/acme-test/test/api-keys/new"' not in page.text
    assert "/revoke" not in page.text


def test_members_get_403_on_create_and_revoke_and_nothing_changes(as_member, org):
    api_key, plain_key = create_api_key(org=org, mode="test")

    created = as_member.post(NEW, {"name": "Sneaky"})
    revoked = as_member.post(revoke_url(api_key))

    assert (created.status_code, revoked.status_code) == (403, 403)
    assert "Only owners can do this" in created.text
    assert not SECRET.search(created.text)
    api_key.refresh_from_db()
    assert not api_key.is_revoked and ApiKey.objects.count() == 1
    assert ApiClient(plain_key).get("/v0/checkout/sessions").status_code == 200
    assert AuditEntry.objects.filter(action=AuditEntry.Action.API_KEY_REVOKED).count() == 0


def test_anonymous_visitors_are_sent_to_log_in_and_change_nothing(client, org):
    api_key, _ = create_api_key(org=org, mode="test")
    for response in (
        client.get(KEYS),
        client.post(NEW, {"name": "x"}),
        client.post(revoke_url(api_key)),
    ):
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")
    api_key.refresh_from_db()
    assert not api_key.is_revoked and ApiKey.objects.count() == 1


def test_owners_of_another_org_get_404_and_change_nothing(client, org):
    api_key, _ = create_api_key(org=org, mode="test")
    client.force_login(MembershipFactory(org=OrganizationFactory(slug="rival")).user)

    assert client.get(KEYS).status_code == 404
    assert client.post(NEW, {"name": "x"}).status_code == 404
    assert client.post(revoke_url(api_key)).status_code == 404
    # …and through their own org's URL, our key's id is not theirs to revoke.
    assert client.post(revoke_url(api_key, base="/dashboard/rival/test/")).status_code == 404

    api_key.refresh_from_db()
    assert not api_key.is_revoked and ApiKey.objects.count() == 1


def test_a_key_of_the_other_mode_is_404(as_owner, org):
    live_key, _ = create_api_key(org=org, mode="live")
    assert as_owner.post(revoke_url(live_key)).status_code == 404
    live_key.refresh_from_db()
    assert not live_key.is_revoked
    assert live_key.masked not in as_owner.get(KEYS).text


@pytest.mark.parametrize("key_id", ["0", "99999999999999999999999999", "abc", "-1", "1%00"])
def test_junk_key_ids_are_404(as_owner, org, key_id):
    assert as_owner.post(f"{BASE}api-keys/{key_id}/revoke").status_code == 404


def test_forms_need_csrf(org, owner):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(owner)
    api_key, _ = create_api_key(org=org, mode="test")
    assert strict.post(NEW, {"name": "x"}).status_code == 403
    assert strict.post(revoke_url(api_key)).status_code == 403
    assert ApiKey.objects.count() == 1 and not ApiKey.objects.get().is_revoked


# Activity and cost


def test_activity_lists_who_created_and_revoked_keys(as_owner, org, owner):
    as_owner.post(NEW, {"name": "Web server"})
    as_owner.post(revoke_url(ApiKey.objects.get()))

    activity = as_owner.get(KEYS).context["activity"]

    assert [(entry.action, entry.actor) for entry in activity] == [
        ("api_key.revoked", owner.username),
        ("api_key.created", owner.username),
    ]


def test_query_count_is_the_same_for_5_and_200_keys(
    as_owner, org, django_assert_num_queries, django_assert_max_num_queries
):
    creators = [UserFactory() for _ in range(3)]

    def add_keys(count):
        for number in range(count):
            api_key, _ = create_api_key(
                org=org, mode="test", name=f"Key {number}", created_by=creators[number % 3]
            )
            if number % 4 == 0:
                api_key.revoked_at = api_key.created_at
                api_key.save(update_fields=["revoked_at"])

    add_keys(5)
    with django_assert_max_num_queries(10) as queries:
        as_owner.get(KEYS)
    add_keys(195)

    with django_assert_num_queries(len(queries.captured_queries)):
        response = as_owner.get(KEYS)

    assert len(response.context["page"].object_list) == 50
