"""WebSocket writes of issue 17: reaction.add, reaction.remove, message.edit and
message.delete frames, answered with `ack` or `error`, through the REST services; and
the thread.updated / reaction.* events reaching members only."""

import itertools

import pytest

from channels_app import services as channel_services
from messaging import services as messaging_services
from tests.realtime.support import frames_of_type, in_thread, next_frame, no_frame

pytestmark = pytest.mark.django_db(transaction=True)

_names = itertools.count(1)


async def make_channel(owner, *members):
    channel = await in_thread(channel_services.channel_create, user=owner, name=f"writes-{next(_names)}")
    for member in members:
        await in_thread(channel_services.channel_join, user=member, channel_id=channel.pk)
    return str(channel.pk)


async def post(user, channel_id, content, **extra):
    result = await in_thread(
        messaging_services.message_send, sender=user, channel_id=channel_id, content=content, **extra
    )
    return result.message


async def test_reaction_frames_are_acked_and_reach_the_members_only(ws, user_with_token):
    alice, alice_token = await user_with_token()
    bob, bob_token = await user_with_token()
    _outsider, outsider_token = await user_with_token()
    channel_id = await make_channel(alice, bob)
    message = await post(alice, channel_id, "react to me")
    alice_socket, bob_socket, outsider_socket = await ws(alice_token), await ws(bob_token), await ws(outsider_token)

    await bob_socket.send_json_to(
        {
            "type": "reaction.add",
            "channel_id": channel_id,
            "message_id": message.id,
            "emoji": ":+1:",
            "request_id": "r1",
        }
    )
    ack = await frames_of_type(bob_socket, "ack", 1)
    assert ack[0]["frame"] == "reaction.add" and ack[0]["request_id"] == "r1"
    assert ack[0]["message"]["reactions"] == [{"emoji": "👍", "count": 1, "user_ids": [str(bob.pk)]}]
    added = await frames_of_type(alice_socket, "reaction.added", 1)
    assert added[0] == {
        "type": "reaction.added",
        "channel_id": channel_id,
        "message_id": message.id,
        "emoji": "👍",
        "user_id": str(bob.pk),
        "count": 1,
    }
    await bob_socket.send_json_to(
        {"type": "reaction.remove", "channel_id": channel_id, "message_id": message.id, "emoji": "👍"}
    )
    removed = await frames_of_type(alice_socket, "reaction.removed", 1)
    assert removed[0]["count"] == 0
    await no_frame(outsider_socket, within=0.5, skip=())


async def test_edit_and_delete_frames_use_the_rest_rules(ws, user_with_token):
    alice, alice_token = await user_with_token()
    bob, bob_token = await user_with_token()
    channel_id = await make_channel(alice, bob)
    message = await post(alice, channel_id, "original")
    alice_socket, bob_socket = await ws(alice_token), await ws(bob_token)

    await bob_socket.send_json_to(
        {
            "type": "message.edit",
            "channel_id": channel_id,
            "message_id": message.id,
            "content": "hijack",
            "request_id": "x",
        }
    )
    error = await frames_of_type(bob_socket, "error", 1)
    assert error[0]["frame"] == "message.edit" and error[0]["request_id"] == "x"
    assert error[0]["error"]["code"] == "not_author"

    await alice_socket.send_json_to(
        {"type": "message.edit", "channel_id": channel_id, "message_id": message.id, "content": f"hi @{bob.username}"}
    )
    ack = await frames_of_type(alice_socket, "ack", 1)
    assert ack[0]["message"]["content"] == f"hi @{bob.username}" and ack[0]["message"]["mentions"] == [str(bob.pk)]
    updated = await frames_of_type(bob_socket, "message.updated", 1)
    assert updated[0]["message"]["edited_at"]

    await alice_socket.send_json_to({"type": "message.delete", "channel_id": channel_id, "message_id": message.id})
    ack = await frames_of_type(alice_socket, "ack", 1)
    assert ack[0]["frame"] == "message.delete" and ack[0]["message_id"] == message.id
    await frames_of_type(bob_socket, "message.deleted", 1)
    await alice_socket.send_json_to({"type": "message.delete", "channel_id": channel_id, "message_id": message.id})
    error = await frames_of_type(alice_socket, "error", 1)
    assert error[0]["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("frame", "field"),
    [
        ({"type": "reaction.add", "message_id": "a"}, "emoji"),
        ({"type": "message.edit", "message_id": "a"}, "content"),
        ({"type": "message.delete"}, "message_id"),
    ],
)
async def test_write_frames_without_their_fields_are_invalid(ws, user_with_token, frame, field):
    _user, token = await user_with_token()
    comm = await ws(token)
    await comm.send_json_to(frame)
    error = await next_frame(comm)
    assert error["type"] == "error" and error["error"]["fields"] == {field: ["This field is required."]}


async def test_a_reply_reaches_members_as_message_created_then_thread_updated(ws, user_with_token):
    alice, alice_token = await user_with_token()
    bob, _ = await user_with_token()
    channel_id = await make_channel(alice, bob)
    root = await post(alice, channel_id, "root")
    alice_socket = await ws(alice_token)
    reply = await post(bob, channel_id, "reply", thread_id=root.id)
    created = await next_frame(alice_socket)
    assert created["type"] == "message.created" and created["message"]["id"] == reply.id
    updated = await next_frame(alice_socket)
    assert updated["type"] == "thread.updated"
    assert (updated["root_id"], updated["reply_count"], updated["reply_users"]) == (root.id, 1, [str(bob.pk)])


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "reaction.add", "message_id": "a", "request_id": "q1"},
        {"type": "reaction.remove", "message_id": "a", "emoji": "👍", "extra": 1, "request_id": "q1"},
        {"type": "message.edit", "message_id": "a"},
        {"type": "message.delete", "message_id": "a", "request_id": 12},
        {"type": "presence.subscribe", "request_id": "q1"},
    ],
)
async def test_a_write_frame_refused_before_its_service_still_has_the_error_shape_with_frame(
    ws, user_with_token, frame
):
    """Write frames are answered {"type": "error", "frame", "request_id", "error"} whatever
    was refused: a missing or unknown field, a bad request_id (then null) included."""
    _user, token = await user_with_token()
    comm = await ws(token)
    await comm.send_json_to(frame)
    error = await next_frame(comm)
    assert error["type"] == "error" and error["error"]["code"] == "invalid"
    expected = frame.get("request_id") if isinstance(frame.get("request_id"), str) else None
    assert error["frame"] == frame["type"] and error["request_id"] == expected


async def test_a_delete_ack_names_the_message_as_message_deleted_does(ws, user_with_token):
    """An id given in upper case is the same message: the ack names it as the event does."""
    alice, alice_token = await user_with_token()
    channel_id = await make_channel(alice)
    message = await post(alice, channel_id, "bye")
    socket = await ws(alice_token)
    await socket.send_json_to({"type": "message.delete", "channel_id": channel_id, "message_id": message.id.upper()})
    ack = await frames_of_type(socket, "ack", 1)
    deleted = await frames_of_type(socket, "message.deleted", 1)
    assert ack[0]["message_id"] == deleted[0]["id"] == message.id


# ("" and "   " are no longer bad bodies: they remove the caption of a message carrying
# files, and are refused, 400 naming `content`, only once the message is found without
# any: tests/files/test_access.py, tests/realtime/test_ws_files.py.)
@pytest.mark.parametrize("content", [5, None, "x" * 4001, "bell \u0007"])
async def test_an_edit_frame_refuses_bad_content_as_patch_does_before_looking_for_the_message(
    ws, user_with_token, content
):
    """PATCH …/messages/{id} checks its body first (400 naming `content`), then the
    message: message.edit answers the same error for the same request, here an unknown
    message with bad content (it answered 404)."""
    from rest_framework.test import APIClient

    alice, alice_token = await user_with_token()
    channel_id = await make_channel(alice)
    unknown = "0" * 24
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {alice_token}")
    rest = await in_thread(
        client.patch, f"/api/v1/channels/{channel_id}/messages/{unknown}", {"content": content}, format="json"
    )
    assert rest.status_code == 400
    socket = await ws(alice_token)
    await socket.send_json_to(
        {"type": "message.edit", "channel_id": channel_id, "message_id": unknown, "content": content}
    )
    error = await frames_of_type(socket, "error", 1)
    assert (error[0]["error"]["code"], set(error[0]["error"]["fields"])) == (
        rest.json()["error"]["code"],
        set(rest.json()["error"]["fields"]),
    )
