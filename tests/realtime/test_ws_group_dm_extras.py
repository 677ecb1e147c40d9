"""Threads, reactions, mentions and pins in a group DM over the WebSocket (issues 16 and
17): the events reach the group's members only, addressed by `conversation_id` as in a
DM, and the write frames answer a non-member `not_found`."""

import pytest

from dms.services import dm_open, group_dm_open
from messaging import pins
from messaging import services as messaging_services
from tests.realtime.support import frames_of_type, in_thread, next_frame, no_frame

pytestmark = pytest.mark.django_db(transaction=True)

# Events a member's socket may get besides the ones a step checks (issue 18's).
_ASIDE = ("presence.changed", "notification", "read.updated")


async def test_group_dm_events_reach_its_members_only(ws, user_with_token):
    alice, alice_token = await user_with_token()
    bob, bob_token = await user_with_token()
    carol, carol_token = await user_with_token()
    outsider, outsider_token = await user_with_token()
    group, _ = await in_thread(group_dm_open, user=alice, user_ids=[bob.pk, carol.pk])
    # The outsider shares a DM with alice: their socket is subscribed to something of hers.
    await in_thread(dm_open, user=outsider, other_user_id=alice.pk)
    group_id = str(group.pk)
    root = (
        await in_thread(messaging_services.message_send, sender=alice, conversation_id=group_id, content="root")
    ).message
    sockets = {
        name: await ws(token) for name, token in (("alice", alice_token), ("bob", bob_token), ("carol", carol_token))
    }
    outsider_socket = await ws(outsider_token)

    # A reply: message.created, then thread.updated, to every member.
    reply = (
        await in_thread(
            messaging_services.message_send,
            sender=bob,
            conversation_id=group_id,
            content=f"on it @{carol.username}",
            thread_id=root.id,
        )
    ).message
    for socket in sockets.values():
        created = await next_frame(socket, skip=_ASIDE)
        assert created["type"] == "message.created" and created["message"]["id"] == reply.id
        assert created["message"]["thread_id"] == root.id
        assert created["message"]["mentions"] == [str(carol.pk)]
        updated = await next_frame(socket, skip=_ASIDE)
        assert updated == {
            "type": "thread.updated",
            "conversation_id": group_id,
            "root_id": root.id,
            "reply_count": 1,
            "reply_users": [str(bob.pk)],
            "last_reply_at": updated["last_reply_at"],
        }

    # A reaction over the WebSocket, addressed by conversation_id.
    await sockets["carol"].send_json_to(
        {"type": "reaction.add", "conversation_id": group_id, "message_id": root.id, "emoji": ":tada:"}
    )
    ack = await frames_of_type(sockets["carol"], "ack", 1)
    assert ack[0]["message"]["reactions"] == [{"emoji": "🎉", "count": 1, "user_ids": [str(carol.pk)]}]
    for name in ("alice", "bob", "carol"):
        added = await frames_of_type(sockets[name], "reaction.added", 1)
        assert added[0] == {
            "type": "reaction.added",
            "conversation_id": group_id,
            "message_id": root.id,
            "emoji": "🎉",
            "user_id": str(carol.pk),
            "count": 1,
        }

    # A pin: message.updated with the pin, and the SYSTEM message.
    await in_thread(pins.message_pin_set, user=bob, message_id=root.id, pinned=True, conversation_id=group_id)
    for socket in sockets.values():
        pinned = await frames_of_type(socket, "message.updated", 1)
        assert pinned[0]["message"]["id"] == root.id and pinned[0]["message"]["pinned_by"] == str(bob.pk)
        system = await frames_of_type(socket, "message.created", 1)
        assert system[0]["message"]["type"] == "SYSTEM"

    # The outsider got none of it, and may not react there.
    await no_frame(outsider_socket, within=0.5, skip=("presence.changed",))
    await outsider_socket.send_json_to(
        {"type": "reaction.add", "conversation_id": group_id, "message_id": root.id, "emoji": ":+1:", "request_id": "x"}
    )
    error = await frames_of_type(outsider_socket, "error", 1)
    assert error[0]["frame"] == "reaction.add" and error[0]["error"]["code"] == "not_found"
    for frame in (
        {"type": "message.edit", "conversation_id": group_id, "message_id": root.id, "content": "x"},
        {"type": "message.delete", "conversation_id": group_id, "message_id": root.id},
        {"type": "reaction.remove", "conversation_id": group_id, "message_id": root.id, "emoji": "🎉"},
    ):
        await outsider_socket.send_json_to(frame)
        error = await frames_of_type(outsider_socket, "error", 1)
        assert error[0]["error"]["code"] == "not_found", frame
    await no_frame(sockets["alice"], within=0.3, skip=_ASIDE)
