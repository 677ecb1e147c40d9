"""`request_id`: every client frame may carry one (a string of 1-64 characters without
control characters, or null); it is echoed in the frame's answer, and any other value is
refused with an error frame naming `request_id`, the frame not acted on."""

import pytest

from channels_app import services as channel_services
from messaging import services as messaging_services
from messaging.documents import ConversationKind
from messaging.repositories import repository_for
from tests.realtime.support import frames_of_type, in_thread, next_frame

pytestmark = pytest.mark.django_db(transaction=True)

BAD_REQUEST_IDS = [{"a": 1}, [1, 2], 12345, "x" * 5000, "", "a\nb", True]


async def _channel_with_message(user):
    channel = await in_thread(channel_services.channel_create, user=user, name="rid")
    result = await in_thread(messaging_services.message_send, sender=user, channel_id=channel.pk, content="hi")
    return str(channel.pk), result.message


@pytest.mark.parametrize("request_id", BAD_REQUEST_IDS, ids=repr)
async def test_a_bad_request_id_is_refused_and_the_frame_not_acted_on(ws, user_with_token, request_id):
    alice, token = await user_with_token()
    channel_id, message = await _channel_with_message(alice)
    socket = await ws(token)
    await socket.send_json_to(
        {"type": "reaction.add", "channel_id": channel_id, "message_id": message.id, "emoji": "👍",
         "request_id": request_id}
    )  # fmt: skip
    frame = await next_frame(socket, skip=("presence.changed", "message.created"))
    assert frame["type"] == "error", frame
    assert frame["request_id"] is None
    assert frame["error"]["code"] == "invalid" and list(frame["error"]["fields"]) == ["request_id"]
    stored = await in_thread(
        repository_for(ConversationKind.CHANNEL).get, conversation_id=channel_id, message_id=message.id
    )
    assert stored.reactions == ()


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "ping"},
        {"type": "message.send", "content": "hello", "client_msg_id": "c1"},
        {"type": "typing", "channel_id": "00000000-0000-0000-0000-000000000000"},
        {"type": "reaction.add", "emoji": "👍"},
        {"type": "presence.subscribe", "user_ids": []},
    ],
    ids=lambda frame: frame["type"],
)
async def test_every_client_frame_takes_a_request_id_and_its_answer_echoes_it(ws, user_with_token, frame):
    alice, token = await user_with_token()
    channel_id, message = await _channel_with_message(alice)
    socket = await ws(token)
    frame = dict(frame, request_id="r-1 ✓")
    if frame["type"] in ("message.send", "reaction.add"):
        frame["channel_id"] = channel_id
    if frame["type"] == "reaction.add":
        frame["message_id"] = message.id
    await socket.send_json_to(frame)
    answer = await next_frame(socket, skip=("presence.changed", "message.created"))
    expected = {"ping": "pong", "message.send": "message.ack", "typing": "error"}.get(frame["type"], "ack")
    assert answer["type"] == expected, answer
    assert answer["request_id"] == "r-1 ✓"


async def test_a_frame_refused_for_another_field_still_echoes_a_good_request_id(ws, user_with_token):
    _alice, token = await user_with_token()
    socket = await ws(token)
    await socket.send_json_to({"type": "ping", "zzz": 1, "request_id": "p"})
    frame = await next_frame(socket)
    assert frame["type"] == "error" and frame["request_id"] == "p"
    assert list(frame["error"]["fields"]) == ["zzz"]


async def test_windows_line_breaks_are_normalised_in_socket_sends_and_edits(ws, user_with_token):
    alice, token = await user_with_token()
    channel_id, message = await _channel_with_message(alice)
    socket = await ws(token)
    await socket.send_json_to(
        {"type": "message.send", "channel_id": channel_id, "content": "a\tb\r\nc", "client_msg_id": "w"}
    )
    ack = (await frames_of_type(socket, "message.ack", 1))[0]
    assert ack["message"]["content"] == "a\tb\nc"
    await socket.send_json_to(
        {"type": "message.edit", "channel_id": channel_id, "message_id": message.id, "content": "x\r\ny\rz"}
    )
    edited = (await frames_of_type(socket, "ack", 1))[0]
    assert edited["message"]["content"] == "x\ny\nz"
