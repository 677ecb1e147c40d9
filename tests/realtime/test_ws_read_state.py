"""Over real sockets (issue 18): read.updated reaches the caller's other sockets only;
a notification reaches each of the recipient's sockets and never the sender's;
presence carries status text, emoji and DND."""

import itertools

import pytest
from rest_framework.test import APIClient

from channels_app import services as channel_services
from dms import services as dm_services
from messaging import services as messaging_services
from tests.realtime.support import frames_of_type, in_thread, next_frame, no_frame

pytestmark = pytest.mark.django_db(transaction=True)

_names = itertools.count(1)


def _client(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


async def test_read_updated_reaches_the_callers_other_sockets_only(ws, user_with_token):
    alice, alice_token = await user_with_token()
    bob, bob_token = await user_with_token()
    channel = await in_thread(channel_services.channel_create, user=alice, name=f"read-{next(_names)}")
    await in_thread(channel_services.channel_join, user=bob, channel_id=channel.pk)
    phone, laptop, bob_socket = await ws(alice_token), await ws(alice_token), await ws(bob_token)
    message = await in_thread(messaging_services.message_send, sender=bob, channel_id=channel.pk, content="hi")
    for comm in (phone, laptop, bob_socket):
        await frames_of_type(comm, "message.created", 1)

    def mark():
        return _client(alice_token).put(
            f"/api/v1/channels/{channel.pk}/read",
            {"seq": message.message.seq},
            format="json",
            HTTP_X_CONNECTION_ID=phone.hello["connection_id"],
        )

    answer = await in_thread(mark)
    assert answer.status_code == 200
    frame = await next_frame(laptop)
    assert frame == {"type": "read.updated", "channel_id": str(channel.pk), "last_read_seq": message.message.seq}
    await no_frame(phone)  # the device that read
    await no_frame(bob_socket)  # never anyone else
    await in_thread(mark)  # the marker did not move: nothing is announced
    await no_frame(laptop)


async def test_a_notification_reaches_every_socket_of_the_recipient_not_the_sender(ws, user_with_token):
    alice, alice_token = await user_with_token()
    bob, bob_token = await user_with_token()
    dm, _created = await in_thread(dm_services.dm_open, user=alice, other_user_id=bob.pk)
    alice_socket = await ws(alice_token)
    bob_1, bob_2 = await ws(bob_token), await ws(bob_token)
    sent = await in_thread(messaging_services.message_send, sender=alice, conversation_id=dm.pk, content="hey")
    for comm in (bob_1, bob_2):
        frames = await frames_of_type(comm, "notification", 1)
        assert frames[0]["reason"] == "dm" and frames[0]["message"]["id"] == sent.message.id
    await frames_of_type(alice_socket, "message.created", 1)
    await no_frame(alice_socket)


async def test_presence_carries_status_and_dnd(ws, user_with_token):
    alice, alice_token = await user_with_token()
    bob, bob_token = await user_with_token()
    await in_thread(dm_services.dm_open, user=alice, other_user_id=bob.pk)
    await ws(alice_token)
    bob_socket = await ws(bob_token)

    def patch():
        return _client(alice_token).patch(
            "/api/v1/users/me",
            {"status_text": "In a meeting", "status_emoji": "📅", "dnd_until": "2099-01-01T00:00:00Z"},
            format="json",
        )

    answer = await in_thread(patch)
    assert answer.status_code == 200, answer.json()
    me = answer.json()
    assert me["status_text"] == "In a meeting" and me["status_emoji"] == "📅" and me["dnd"] is True
    assert me["dnd_until"] == "2099-01-01T00:00:00.000Z"

    async def status_frame():
        while True:
            frame = (await frames_of_type(bob_socket, "presence.changed", 1))[0]
            if frame["user_id"] == str(alice.pk) and frame.get("status_text") == "In a meeting":
                return frame

    frame = await status_frame()
    assert frame["status"] == "online" and frame["status_emoji"] == "📅" and frame["dnd"] is True
    presence = await in_thread(lambda: _client(bob_token).get("/api/v1/presence", {"user_ids": str(alice.pk)}))
    row = presence.json()["results"][0]
    assert row["status_text"] == "In a meeting" and row["dnd"] is True and row["dnd_until"].startswith("2099")
