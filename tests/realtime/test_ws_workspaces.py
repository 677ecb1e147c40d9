"""Isolation between workspaces over the WebSocket: a socket opened with a token of
workspace B never hears of workspace A (messages, memberships, DMs, typing, presence),
even when its user is in A too; deactivating a member closes that workspace's sockets
only (4401)."""

import pytest

from accounts.models import Workspace
from accounts.services import member_deactivate
from channels_app import services as channel_services
from dms import services as dm_services
from tests.conftest import join_workspace, token_for
from tests.realtime.support import (
    closed_with,
    frames_of_type,
    in_thread,
    next_frame,
    no_frame,
    no_presence_of,
    presence_of,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _world(make_user):
    bee = Workspace.objects.create(slug="bee", name="Bee")
    alice, bob = make_user("alice", role="admin"), make_user("bob")
    carol = make_user("carol", workspace=bee)
    carol.workspace_memberships.exclude(workspace=bee).delete()
    join_workspace(alice, bee)
    channel_a = channel_services.channel_create(user=alice, name="general-a")
    channel_services.channel_join(user=bob, channel_id=channel_a.pk)
    channel_b = channel_services.channel_create(user=carol, workspace=bee, name="general-b")
    channel_services.channel_join(user=alice, workspace=bee, channel_id=channel_b.pk)
    return {
        "bee": bee,
        "alice": alice,
        "bob": bob,
        "carol": carol,
        "channel_a": str(channel_a.pk),
        "channel_b": str(channel_b.pk),
        "tokens": {
            "alice_a": token_for(alice),
            "alice_b": token_for(alice, bee),
            "bob": token_for(bob),
            "carol": token_for(carol, bee),
        },
    }


@pytest.fixture
async def world(make_user):
    return await in_thread(_world, make_user)


async def send(comm, field, conversation_id, content):
    await comm.send_json_to({"type": "message.send", field: conversation_id, "content": content})


async def test_each_socket_hears_only_its_own_workspace(ws, world):
    tokens = world["tokens"]
    alice_a, alice_b = await ws(tokens["alice_a"]), await ws(tokens["alice_b"])
    bob, carol = await ws(tokens["bob"]), await ws(tokens["carol"])

    await send(bob, "channel_id", world["channel_a"], "in A")
    (created_a,) = await frames_of_type(alice_a, "message.created", 1)
    await send(carol, "channel_id", world["channel_b"], "in B")
    (created_b,) = await frames_of_type(alice_b, "message.created", 1)
    await bob.send_json_to({"type": "typing", "channel_id": world["channel_a"]})
    await frames_of_type(alice_a, "typing", 1)

    assert created_a["message"]["content"] == "in A"
    assert created_b["message"]["content"] == "in B"
    await no_frame(alice_b, within=0.5)
    await no_frame(alice_a, within=0.3)


async def test_memberships_and_dms_of_a_never_reach_a_socket_of_b(ws, world):
    tokens = world["tokens"]
    alice_a, alice_b = await ws(tokens["alice_a"]), await ws(tokens["alice_b"])

    room = await in_thread(channel_services.channel_create, user=world["bob"], name="room-a")
    await in_thread(channel_services.channel_join, user=world["alice"], channel_id=room.pk)
    dm, _ = await in_thread(dm_services.dm_open, user=world["bob"], other_user_id=world["alice"].pk)
    bob = await ws(tokens["bob"])
    await send(bob, "channel_id", str(room.pk), "room message")
    await send(bob, "conversation_id", str(dm.pk), "dm message")

    contents = [f["message"]["content"] for f in await frames_of_type(alice_a, "message.created", 3)]
    assert contents == ["alice joined", "room message", "dm message"]
    await no_frame(alice_b, within=0.5)


async def test_presence_of_a_user_of_a_is_not_announced_to_b(ws, world):
    tokens = world["tokens"]
    alice_a, alice_b = await ws(tokens["alice_a"]), await ws(tokens["alice_b"])

    await ws(tokens["bob"])

    (change,) = await presence_of(alice_a, str(world["bob"].pk))
    assert change["status"] == "online"
    await no_presence_of(alice_b, str(world["bob"].pk), within=0.8)


async def test_deactivating_a_member_closes_that_workspace_sockets_only(ws, world, make_user):
    tokens = world["tokens"]
    bob_a = await ws(tokens["bob"])
    bee = world["bee"]

    def deactivate_in_bee():
        from accounts.models import WorkspaceMember

        carol_membership = WorkspaceMember.objects.select_related("workspace", "user").get(
            workspace=bee, user=world["carol"]
        )
        carol_membership.role = "owner"
        carol_membership.save(update_fields=["role"])
        member_deactivate(by=carol_membership, user_id=world["alice"].pk)

    alice_a, alice_b = await ws(tokens["alice_a"]), await ws(tokens["alice_b"])
    await in_thread(deactivate_in_bee)

    assert await closed_with(alice_b) == 4401
    await alice_a.send_json_to({"type": "ping"})
    assert (await next_frame(alice_a, skip=("presence.changed",)))["type"] == "pong"
    await bob_a.send_json_to({"type": "ping"})
    assert (await next_frame(bob_a, skip=("presence.changed",)))["type"] == "pong"
