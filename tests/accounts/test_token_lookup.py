"""The token lookup of every authenticated request (accounts.selectors.tokens_by_key,
issue 13): one query with precompiled SQL that loads what the select_related queryset
it replaced loaded, for a bound token, a legacy token and an unknown key."""

import pytest
from knox.models import AuthToken
from knox.settings import CONSTANTS

from accounts.models import User
from accounts.selectors import tokens_by_key
from accounts.services import token_create
from tests.conftest import join_workspace

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
