"""The operators' workspace commands: create_workspace, export_workspace,
purge_messages --workspace, backfill_workspace_ids and check_consistency's report of
messages without a workspaceId."""

import io
import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.models import Workspace, WorkspaceInvite, WorkspaceMember
from channels_app.services import channel_create
from dms.services import dm_open
from messaging.mongo import get_db
from messaging.services import message_delete, message_send
from tests.conftest import join_workspace


@pytest.fixture
def two_workspaces(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    bee = Workspace.objects.create(slug="bee", name="Bee")
    join_workspace(alice, bee, role="owner")
    join_workspace(bob, bee)
    in_a = channel_create(user=alice, name="general")
    in_b = channel_create(user=alice, workspace=bee, name="general")
    dm_b, _ = dm_open(user=alice, workspace=bee, other_user_id=bob.pk)
    message_send(sender=alice, channel_id=in_a.pk, content="a-only")
    message_send(sender=alice, workspace=bee, channel_id=in_b.pk, content="b-channel")
    gone = message_send(sender=alice, workspace=bee, conversation_id=dm_b.pk, content="b-dm").message
    message_delete(user=alice, workspace=bee, conversation_id=dm_b.pk, message_id=gone.id)
    return {"alice": alice, "bob": bob, "bee": bee, "in_a": in_a, "in_b": in_b, "dm_b": dm_b}


def test_create_workspace_makes_the_owner_and_an_invite(make_user):
    make_user("alice")
    out = io.StringIO()

    call_command("create_workspace", "acme", "--name", "Acme", "--owner", "alice", "--invite", stdout=out)

    acme = Workspace.objects.get(slug="acme")
    assert acme.joining == "invite_only"
    assert WorkspaceMember.objects.get(workspace=acme).role == "owner"
    assert WorkspaceInvite.objects.get(workspace=acme).code in out.getvalue()
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_workspace", "acme", "--owner", "alice", stdout=io.StringIO())
    with pytest.raises(CommandError, match="No active account"):
        call_command("create_workspace", "other", "--owner", "nobody", stdout=io.StringIO())


def test_export_workspace_streams_everything_of_that_workspace_only(two_workspaces):
    out, err = io.StringIO(), io.StringIO()

    call_command("export_workspace", "bee", "--batch-size", "1", stdout=out, stderr=err)

    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    kinds = [row["type"] for row in rows]
    assert kinds[0] == "workspace" and rows[0]["slug"] == "bee"
    assert kinds.count("member") == 2 and kinds.count("channel") == 1 and kinds.count("dm") == 1
    messages = [row["message"] for row in rows if row["type"] == "message"]
    assert sorted(m["content"] for m in messages) == ["alice joined", "b-channel", "b-dm"]
    assert [m["deleted_at"] is not None for m in messages if m["content"] == "b-dm"] == [True]
    assert "a-only" not in out.getvalue()
    assert "Exported workspace bee" in err.getvalue()


def test_purge_messages_of_one_workspace_leaves_the_others(two_workspaces):
    out = io.StringIO()

    call_command("purge_messages", "--older-than", "0", "--workspace", "bee", stdout=out)

    contents = {doc["content"] for name in ("channel_messages", "dm_messages") for doc in get_db()[name].find()}
    assert "a-only" in contents
    assert not contents & {"b-channel", "b-dm"}
    with pytest.raises(CommandError, match="No workspace"):
        call_command("purge_messages", "--older-than", "0", "--workspace", "nope", stdout=io.StringIO())


def test_backfill_and_check_consistency_report_messages_without_workspace(two_workspaces):
    db = get_db()
    db["channel_messages"].update_many({}, {"$set": {"workspaceId": None}})
    db["dm_messages"].update_many({}, {"$unset": {"workspaceId": ""}})
    report = io.StringIO()

    with pytest.raises(CommandError):
        call_command("check_consistency", stdout=report)
    call_command("backfill_workspace_ids", stdout=io.StringIO())

    assert "Messages without a workspaceId (run backfill_workspace_ids): 5" in report.getvalue()
    expected = {str(two_workspaces["in_a"].pk): str(two_workspaces["in_a"].workspace_id)}
    expected[str(two_workspaces["in_b"].pk)] = str(two_workspaces["bee"].pk)
    assert {doc["channelId"]: doc["workspaceId"] for doc in db["channel_messages"].find()} == expected
    assert {doc["workspaceId"] for doc in db["dm_messages"].find()} == {str(two_workspaces["bee"].pk)}
    call_command("check_consistency", stdout=io.StringIO())  # consistent again


def test_an_expired_invite_is_not_listed(make_user, client_for):
    admin = make_user("boss", role="admin")
    membership = WorkspaceMember.objects.get(user=admin)
    WorkspaceInvite.objects.create(
        code="old", workspace_id=membership.workspace_id, expires_at=timezone.now() - timedelta(minutes=1)
    )

    assert client_for(admin).get("/api/v1/workspace/invites").json()["results"] == []
