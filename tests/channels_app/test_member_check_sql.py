"""The channel member check of every send and read, and the batch's senders check, run
as SQL written once (issue 13, section 2, session 5): the ORM spent ~1.1-1.3 ms of CPU
compiling each query, on every send. Same answers as the ORM's reads; table and column
names from the models' metadata (slackclone.sql)."""

import uuid
from unittest import mock

import pytest
from django.db.models.sql.compiler import SQLCompiler

from accounts.models import Workspace, default_workspace_id
from accounts.selectors import workspace_or_default
from channels_app import selectors
from channels_app.models import Channel, ChannelMember
from slackclone import errors
from tests.helpers import renamed_in_database


@pytest.fixture
def people(make_user):
    return make_user("alice"), make_user("bob")


def _compiles():
    """Counts the ORM queries compiled meanwhile."""
    real = SQLCompiler.as_sql
    counter = mock.Mock(side_effect=lambda self, *args, **kwargs: real(self, *args, **kwargs))
    return counter, mock.patch.object(SQLCompiler, "as_sql", autospec=True, side_effect=counter)


@pytest.mark.parametrize("private", [False, True], ids=["public", "private"])
def test_the_member_check_is_one_statement_and_compiles_no_orm_query(people, private, django_assert_num_queries):
    alice, bob = people
    channel = Channel.objects.create(name="hot", created_by=alice, is_private=private)
    ChannelMember.objects.create(channel=channel, user=alice)
    workspace = workspace_or_default(None)
    counter, patch = _compiles()
    with patch, django_assert_num_queries(1):
        selectors.channel_get_for_member(user=alice, workspace=workspace, channel_id=channel.pk)
    with patch, django_assert_num_queries(1):
        selectors.channel_senders_check(channel_id=channel.pk, user_ids=[str(alice.pk), str(bob.pk)])
    assert counter.call_count == 0


@pytest.mark.parametrize("private", [False, True], ids=["public", "private"])
def test_the_member_check_answers_as_the_orm_read(people, private):
    alice, bob = people
    channel = Channel.objects.create(name="hot", created_by=alice, is_private=private, topic="t", description="d")
    ChannelMember.objects.create(channel=channel, user=alice)
    workspace = workspace_or_default(None)
    read = selectors.channel_get_for_member(user=alice, workspace=workspace, channel_id=str(channel.pk))
    orm = Channel.objects.get(pk=channel.pk)
    fields = [field.attname for field in Channel._meta.concrete_fields]
    assert [getattr(read, name) for name in fields] == [getattr(orm, name) for name in fields]
    assert read.viewer_is_member is True and read._state.adding is False
    assert selectors.channel_get_visible(user=alice, workspace=workspace, channel_id=channel.pk).pk == channel.pk
    # Not a member: 404 in a private channel, 403 in a public one (and visible only if public).
    expected = errors.NotFound if private else errors.PermissionDenied
    with pytest.raises(expected):
        selectors.channel_get_for_member(user=bob, workspace=workspace, channel_id=channel.pk)
    if private:
        with pytest.raises(errors.NotFound):
            selectors.channel_get_visible(user=bob, workspace=workspace, channel_id=channel.pk)
    else:
        assert (
            selectors.channel_get_visible(user=bob, workspace=workspace, channel_id=channel.pk).viewer_is_member
            is False
        )
    # Another workspace's channel, an unknown id and a malformed one: 404 as if it did not exist.
    other = Workspace.objects.create(slug="other", name="Other")
    for workspace_, channel_id in ((other, channel.pk), (workspace, uuid.uuid4()), (workspace, "not-a-uuid")):
        with pytest.raises(errors.NotFound):
            selectors.channel_get_for_member(user=alice, workspace=workspace_, channel_id=channel_id)
    assert str(read.workspace_id) == str(default_workspace_id())


def test_the_senders_check_answers_per_sender(people):
    alice, bob = people
    channel = Channel.objects.create(name="hot", created_by=alice)
    ChannelMember.objects.create(channel=channel, user=alice)
    archived, refused = selectors.channel_senders_check(
        channel_id=str(channel.pk), user_ids=[str(alice.pk), str(bob.pk)]
    )
    assert archived is False
    assert list(refused) == [str(bob.pk)] and refused[str(bob.pk)].code == "not_a_member"
    assert selectors.channel_senders_check(channel_id=channel.pk, user_ids=[]) == (False, {})
    with pytest.raises(errors.NotFound):
        selectors.channel_senders_check(channel_id=uuid.uuid4(), user_ids=[str(alice.pk)])


# Every table of the two statements, and every column they name (the channel's other
# columns are selected as `Channel._meta.concrete_fields` lists them: one stands for all).
RENAMED = [
    (Channel, None),
    (Channel, "id"),
    (Channel, "workspace"),
    (Channel, "archived_at"),
    (Channel, "is_private"),
    (Channel, "topic"),
    (ChannelMember, None),
    (ChannelMember, "channel"),
    (ChannelMember, "user"),
]


@pytest.mark.parametrize(
    ("model", "field"), RENAMED, ids=[f"{model.__name__}.{field or 'db_table'}" for model, field in RENAMED]
)
def test_the_statements_follow_a_renamed_table_or_column(people, model, field):
    """As a `db_table` or `db_column` would rename them: no name is written in the SQL."""
    alice, bob = people
    channel = Channel.objects.create(name="hot", created_by=alice, is_private=True, topic="t")
    ChannelMember.objects.create(channel=channel, user=alice)
    workspace = workspace_or_default(None)
    writers = [selectors._senders_sql, selectors._channel_with_viewer_sql]

    with renamed_in_database(model, field, sql_writers=writers) as name:
        assert f'"{name}"' in selectors._senders_sql() + selectors._channel_with_viewer_sql()[0]
        read = selectors.channel_get_for_member(user=alice, workspace=workspace, channel_id=channel.pk)
        assert (read.pk, read.topic, read.is_private, read.viewer_is_member) == (channel.pk, "t", True, True)
        with pytest.raises(errors.NotFound):
            selectors.channel_get_for_member(user=bob, workspace=workspace, channel_id=channel.pk)
        archived, refused = selectors.channel_senders_check(
            channel_id=channel.pk, user_ids=[str(alice.pk), str(bob.pk)]
        )
        assert (archived, list(refused)) == (False, [str(bob.pk)])
    assert f'"{name}"' not in selectors._senders_sql() + selectors._channel_with_viewer_sql()[0]
