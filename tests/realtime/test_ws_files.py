"""Realtime with files: message.send over a socket takes file_ids as REST does, and a
message with files is acked and broadcast with their metadata."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from files.services import file_upload
from tests.realtime.support import in_thread, next_frame
from tests.realtime.test_ws_events import make_channel

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_send_with_files_over_a_socket_is_broadcast_with_their_metadata(ws, user_with_token):
    alice, alice_token = await user_with_token()
    bob, bob_token = await user_with_token()
    channel_id = await make_channel(alice, bob)
    file = await in_thread(file_upload, user=alice, workspace=None, uploaded=SimpleUploadedFile("log.txt", b"lines\n"))
    alice_socket, bob_socket = await ws(alice_token), await ws(bob_token)

    await alice_socket.send_json_to(
        {"type": "message.send", "channel_id": channel_id, "file_ids": [str(file.pk)], "client_msg_id": "f-1"}
    )

    ack = await next_frame(alice_socket)
    assert ack["type"] == "message.ack", ack
    assert ack["message"]["content"] == ""
    (shown,) = ack["message"]["files"]
    assert shown["id"] == str(file.pk) and shown["name"] == "log.txt" and shown["mime_type"] == "text/plain"
    created = await next_frame(bob_socket)
    assert created == {"type": "message.created", "message": ack["message"]}


async def test_a_socket_send_of_someone_elses_file_is_refused(ws, user_with_token):
    alice, alice_token = await user_with_token()
    bob, _ = await user_with_token()
    channel_id = await make_channel(alice, bob)
    bobs = await in_thread(file_upload, user=bob, workspace=None, uploaded=SimpleUploadedFile("b.txt", b"bob"))
    alice_socket = await ws(alice_token)
    await alice_socket.send_json_to({"type": "message.send", "channel_id": channel_id, "file_ids": [str(bobs.pk)]})
    error = await next_frame(alice_socket)
    assert error["type"] == "error" and error["error"]["code"] == "invalid_file_ids", error


async def test_a_socket_edit_removes_a_files_caption_as_rest_does(ws, user_with_token):
    from messaging import services as messaging_services
    from tests.realtime.support import frames_of_type

    alice, alice_token = await user_with_token()
    bob, _ = await user_with_token()
    channel_id = await make_channel(alice, bob)
    file = await in_thread(file_upload, user=alice, workspace=None, uploaded=SimpleUploadedFile("a.txt", b"a\n"))
    sent = await in_thread(
        messaging_services.message_send, sender=alice, channel_id=channel_id, content="caption", file_ids=[str(file.pk)]
    )
    socket = await ws(alice_token)
    await socket.send_json_to(
        {"type": "message.edit", "channel_id": channel_id, "message_id": sent.message.id, "content": ""}
    )
    (ack,) = await frames_of_type(socket, "ack", 1)
    assert ack["message"]["content"] == "" and ack["message"]["files"][0]["id"] == str(file.pk)
