"""Client frames: ping, bad frames, and sends that must fail without storing anything."""

import asyncio
import json

import pytest
from django.conf import settings

from channels_app import services as channel_services
from dms import services as dm_services
from messaging.selectors import message_history
from tests.realtime.support import in_thread, next_frame, no_frame

pytestmark = pytest.mark.django_db(transaction=True)


async def history(user, **target):
    page = await in_thread(message_history, user=user, **target)
    return page.results


async def test_ping_gets_pong(ws, user_with_token):
    _user, token = await user_with_token()
    comm = await ws(token)

    await comm.send_json_to({"type": "ping"})

    assert await next_frame(comm) == {"type": "pong"}


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("not json", "malformed_json"),
        ('{"type": "ping"', "malformed_json"),
        ('{"type": NaN}', "malformed_json"),
        ('{"type": "ping", "x": ' + "[" * 5000 + "]" * 5000 + "}", "malformed_json"),  # deeper than the decoder
        ("[1, 2]", "invalid"),
        ('"ping"', "invalid"),
        ("{}", "invalid"),
        ('{"type": 7}', "invalid"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"type": "hello"}', "unknown_type"),
        ('{"type": "message.created"}', "unknown_type"),
        ('{"type": "ping", "extra": 1}', "invalid"),
    ],
)
async def test_a_bad_frame_gets_an_error_frame_and_the_socket_stays_open(ws, user_with_token, text, code):
    _user, token = await user_with_token()
    comm = await ws(token)

    await comm.send_to(text_data=text)
    error = await next_frame(comm)

    assert error["type"] == "error"
    assert error["error"]["code"] == code
    assert isinstance(error["error"]["message"], str)
    assert "client_msg_id" not in error
    await comm.send_json_to({"type": "ping"})
    assert await next_frame(comm) == {"type": "pong"}


async def test_an_error_frame_names_the_bad_fields(ws, user_with_token):
    _user, token = await user_with_token()
    comm = await ws(token)

    await comm.send_json_to({"type": "typing", "channel": "x", "zzz": 1})

    error = await next_frame(comm)
    assert error["error"]["fields"] == {"channel": ["Unknown field."], "zzz": ["Unknown field."]}


async def test_a_frame_over_the_size_limit_is_refused_by_bytes_not_characters(ws, user_with_token):
    _user, token = await user_with_token()
    comm = await ws(token)
    limit = settings.WS_MAX_FRAME_BYTES
    # under the limit in characters, over it in UTF-8 bytes
    text = json.dumps({"type": "ping", "pad": "é" * (limit // 2)}, ensure_ascii=False)
    assert len(text) < limit < len(text.encode())

    await comm.send_to(text_data=text)

    assert (await next_frame(comm))["error"]["code"] == "payload_too_large"
    await comm.send_json_to({"type": "ping"})
    assert await next_frame(comm) == {"type": "pong"}


async def test_a_binary_frame_gets_an_error_frame(ws, user_with_token):
    _user, token = await user_with_token()
    comm = await ws(token)

    await comm.send_to(bytes_data=b'{"type": "ping"}')

    assert (await next_frame(comm))["error"]["code"] == "unsupported_frame"
    await comm.send_json_to({"type": "ping"})
    assert await next_frame(comm) == {"type": "pong"}


async def test_sending_to_a_channel_you_are_not_in_is_refused_and_stores_nothing(ws, user_with_token):
    owner, _ = await user_with_token()
    _outsider, token = await user_with_token()
    channel = await in_thread(channel_services.channel_create, user=owner, name="private-ish")
    comm = await ws(token)

    await comm.send_json_to(
        {"type": "message.send", "channel_id": str(channel.pk), "content": "hi", "client_msg_id": "c-1"}
    )

    error = await next_frame(comm)
    assert error == {"type": "error", "client_msg_id": "c-1", "error": error["error"]}
    assert error["error"]["code"] == "not_a_member"
    contents = [m.content for m in await history(owner, channel_id=str(channel.pk))]
    assert "hi" not in contents


async def test_sending_to_someone_elses_dm_is_not_found(ws, user_with_token):
    a, _ = await user_with_token()
    b, _ = await user_with_token()
    _c, token = await user_with_token()
    conversation, _created = await in_thread(dm_services.dm_open, user=a, other_user_id=b.pk)
    comm = await ws(token)

    await comm.send_json_to({"type": "message.send", "conversation_id": str(conversation.pk), "content": "psst"})

    error = await next_frame(comm)
    assert error["error"]["code"] == "not_found"
    assert error["client_msg_id"] is None
    assert await history(a, conversation_id=str(conversation.pk)) == []


@pytest.mark.parametrize(
    ("frame", "field"),
    [
        ({"content": "   "}, "content"),
        ({"content": 5}, "content"),
        ({"content": "x" * 4001}, "content"),
        ({"content": "ok", "client_msg_id": "has space"}, "client_msg_id"),
        ({"content": "ok", "client_msg_id": 12}, "client_msg_id"),
        ({}, "content"),
    ],
)
async def test_an_invalid_send_gets_a_validation_error_with_the_client_msg_id(ws, user_with_token, frame, field):
    user, token = await user_with_token()
    channel = await in_thread(channel_services.channel_create, user=user, name="valid")
    comm = await ws(token)
    client_msg_id = frame.get("client_msg_id", "c-9")
    body = {"type": "message.send", "channel_id": str(channel.pk), "client_msg_id": client_msg_id, **frame}

    await comm.send_json_to(body)

    error = await next_frame(comm)
    assert error["type"] == "error"
    assert error["client_msg_id"] == (client_msg_id if isinstance(client_msg_id, str) else None)
    assert field in error["error"]["fields"]
    assert [m.type for m in await history(user, channel_id=str(channel.pk))] == ["SYSTEM"]


@pytest.mark.parametrize(
    "target",
    [{}, {"channel_id": "c", "conversation_id": "d"}],
)
async def test_a_send_needs_exactly_one_conversation(ws, user_with_token, target):
    _user, token = await user_with_token()
    comm = await ws(token)

    await comm.send_json_to({"type": "message.send", "content": "hi", **target})

    error = await next_frame(comm)
    assert error["error"]["code"] == "invalid"


async def test_a_send_to_an_unknown_channel_is_not_found(ws, user_with_token):
    _user, token = await user_with_token()
    comm = await ws(token)

    await comm.send_json_to(
        {"type": "message.send", "channel_id": "00000000-0000-4000-8000-000000000000", "content": "hi"}
    )

    assert (await next_frame(comm))["error"]["code"] == "not_found"


async def test_typing_in_a_channel_you_are_not_in_is_refused(ws, user_with_token):
    owner, _ = await user_with_token()
    _outsider, token = await user_with_token()
    channel = await in_thread(channel_services.channel_create, user=owner, name="quiet")
    comm = await ws(token)

    await comm.send_json_to({"type": "typing", "channel_id": str(channel.pk)})

    assert (await next_frame(comm))["error"]["code"] == "not_a_member"
    await no_frame(comm)


async def test_typing_in_an_archived_channel_is_refused_and_reaches_nobody(ws, user_with_token):
    """Nobody can post there (409 `channel_archived`), so nobody may look as if typing."""
    from channels_app import services_manage

    owner, owner_token = await user_with_token()
    member, member_token = await user_with_token()
    channel = await in_thread(channel_services.channel_create, user=owner, name="frozen")
    await in_thread(channel_services.channel_join, user=member, channel_id=channel.pk)
    await in_thread(services_manage.channel_set_archived, user=owner, channel_id=channel.pk, archived=True)
    typist, watcher = await ws(member_token), await ws(owner_token)

    await typist.send_json_to({"type": "typing", "channel_id": str(channel.pk)})

    assert (await next_frame(typist))["error"]["code"] == "channel_archived"
    await no_frame(watcher, skip=("presence.changed", "message.created", "channel.updated"))


async def test_an_idle_socket_survives_the_channel_layers_blocking_read(ws, user_with_token):
    _user, token = await user_with_token()
    comm = await ws(token)

    await asyncio.sleep(6.5)  # longer than one blocking read of the layer (5 s)
    await comm.send_json_to({"type": "ping"})

    assert await next_frame(comm) == {"type": "pong"}
