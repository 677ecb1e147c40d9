"""The token lookup of every authenticated request (accounts.selectors.tokens_by_key,
issue 13): one query with precompiled SQL that loads what the select_related queryset
it replaced loaded, for a bound token, a legacy token and an unknown key; its table and
column names follow the models' metadata (slackclone.sql)."""

import pytest
from knox.models import AuthToken
from knox.settings import CONSTANTS

from accounts import selectors
from accounts.models import TokenWorkspace, User, Workspace, WorkspaceMember
from accounts.selectors import tokens_by_key
from accounts.services import token_create
from realtime.auth import credentials_authenticate
from tests.conftest import join_workspace, token_for
from tests.helpers import renamed_in_database

pytestmark = pytest.mark.django_db

ORM = ("user", "workspace_binding__member__workspace")


def _fields(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def test_a_bound_token_loads_its_user_membership_and_workspace_in_one_query(django_assert_num_queries):
    user = User.objects.create_user(username="lookup1", email="lookup1@example.com", password="x" * 12)
    membership = join_workspace(user)
    raw = token_create(user=user, membership=membership, device_name="test")
    key = raw[: CONSTANTS.TOKEN_KEY_LENGTH]
    expected = AuthToken.objects.select_related(*ORM).get(token_key=key)
    with django_assert_num_queries(1):
        (token,) = tokens_by_key(token_key=key)
        binding = token.workspace_binding
        member, workspace, owner = binding.member, binding.member.workspace, token.user
    assert _fields(token) == _fields(expected)
    assert _fields(owner) == _fields(expected.user)
    assert _fields(binding) == _fields(expected.workspace_binding)
    assert _fields(member) == _fields(expected.workspace_binding.member)
    assert _fields(workspace) == _fields(expected.workspace_binding.member.workspace)
    assert binding.token is token and member.pk == membership.pk


def test_a_legacy_token_has_no_binding_without_a_query(django_assert_num_queries):
    user = User.objects.create_user(username="lookup2", email="lookup2@example.com", password="x" * 12)
    _instance, raw = AuthToken.objects.create(user)
    with django_assert_num_queries(1):
        (token,) = tokens_by_key(token_key=raw[: CONSTANTS.TOKEN_KEY_LENGTH])
        assert not hasattr(token, "workspace_binding")  # as select_related: cached as absent
        assert token.user.pk == user.pk and token.user.last_login is None


def test_an_unknown_key_finds_nothing():
    assert tokens_by_key(token_key="0" * CONSTANTS.TOKEN_KEY_LENGTH) == []


# Every table of the lookup, and every column its joins and its WHERE name.
RENAMED = [
    (AuthToken, None),
    (AuthToken, "digest"),
    (AuthToken, "token_key"),
    (AuthToken, "user"),
    (User, None),
    (User, "id"),
    (TokenWorkspace, None),
    (TokenWorkspace, "token"),
    (TokenWorkspace, "member"),
    (WorkspaceMember, None),
    (WorkspaceMember, "id"),
    (WorkspaceMember, "workspace"),
    (Workspace, None),
    (Workspace, "id"),
]


@pytest.mark.parametrize(
    ("model", "field"), RENAMED, ids=[f"{model.__name__}.{field or 'db_table'}" for model, field in RENAMED]
)
def test_the_lookup_follows_a_renamed_table_or_column(model, field):
    """As a `db_table` or `db_column` would rename them: no name is written in the SQL."""
    user = User.objects.create_user(username="lookup3", email="lookup3@example.com", password="x" * 12)
    membership = join_workspace(user)
    key = token_create(user=user, membership=membership, device_name="test")[: CONSTANTS.TOKEN_KEY_LENGTH]
    expected = AuthToken.objects.select_related(*ORM).get(token_key=key)

    with renamed_in_database(model, field, sql_writers=[selectors._token_lookup_plan]) as name:
        assert f'"{name}"' in selectors._token_lookup_plan()[0]
        (token,) = tokens_by_key(token_key=key)
        binding = token.workspace_binding
        assert _fields(token) == _fields(expected) and _fields(token.user) == _fields(expected.user)
        assert _fields(binding) == _fields(expected.workspace_binding)
        assert _fields(binding.member) == _fields(expected.workspace_binding.member)
        assert _fields(binding.member.workspace) == _fields(expected.workspace_binding.member.workspace)
    assert f'"{name}"' not in selectors._token_lookup_plan()[0]
    assert [t.pk for t in tokens_by_key(token_key=key)] == [expected.pk]


def test_an_authenticated_request_spends_one_query_on_authentication(make_user, client_for, count_queries):
    """What the precompiled lookup is for: a REST request (GET /users/me: the lookup and
    the user's status, 2 statements, as before slackclone.sql) and a WebSocket connect
    each read the token once, with the SQL written once; a revoked token is refused by
    the very next request (the SQL is cached, never a result)."""
    user = make_user("me")
    client = client_for(user)
    client.get("/api/v1/users/me")  # a first use may slide the expiry (accounts.auth.renew_token)
    token_table = f'"{AuthToken._meta.db_table}"'
    lookup = selectors._token_lookup_plan()[0]

    with count_queries() as rest:
        assert client.get("/api/v1/users/me").status_code == 200
    authorization = f"Bearer {token_for(user)}"
    with count_queries() as ws:
        assert credentials_authenticate(authorization=authorization, ticket=None)[3] is None

    assert len(rest) == 2 and [sql for sql in rest if token_table in sql] == [lookup]
    assert ws == [lookup]
    AuthToken.objects.filter(user=user).delete()
    assert client.get("/api/v1/users/me").status_code == 401
