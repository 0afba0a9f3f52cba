"""API keys: hashed at rest, revocable, printed last by their command."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from orgs.models import ApiKey, hash_api_key
from orgs.services import authenticate_api_key, create_api_key, revoke_api_key


def _database_dump() -> str:
    """Every text value of every row of every table, as one string."""
    dump = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - our own table names
            dump.extend(str(value) for row in cursor.fetchall() for value in row)
    return "\n".join(dump)


def test_plain_key_is_nowhere_in_the_database(org):
    api_key, plain_key = create_api_key(org=org, mode="test")
    authenticate_api_key(plain_key)

    assert plain_key not in _database_dump()
    assert api_key.key_hash == hash_api_key(plain_key)


def test_key_has_the_mode_prefix_and_a_masked_form(org):
    api_key, plain_key = create_api_key(org=org, mode="live")

    assert plain_key.startswith("sk_live_")
    assert api_key.masked == f"{plain_key[:12]}…{plain_key[-4:]}"


def test_revoked_key_no_longer_authenticates(org):
    api_key, plain_key = create_api_key(org=org, mode="test")

    revoke_api_key(api_key=api_key)

    assert authenticate_api_key(plain_key) is None


def test_create_api_key_command_prints_the_key_last(org):
    out = StringIO()

    call_command("create_api_key", org=org.slug, mode="test", stdout=out)

    plain_key = out.getvalue().strip().splitlines()[-1]
    assert plain_key.startswith("sk_test_")
    assert ApiKey.objects.get(key_hash=hash_api_key(plain_key)).org == org


def test_create_api_key_command_refuses_unknown_orgs(db):
    with pytest.raises(CommandError):
        call_command("create_api_key", org="nope", mode="test", stdout=StringIO())
