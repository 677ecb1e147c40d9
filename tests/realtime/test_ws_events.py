"""What reaches whom: messages, memberships, DMs, typing, in order and only to members."""

import asyncio
import itertools

import pytest

from channels_app import services as channel_services
from dms import services as dm_services
from messaging import services as messaging_services
from realtime import broadcast
from tests.realtime.support import frames_of_type, in_thread, next_frame, no_frame

pytestmark = pytest.mark.django_db(transaction=True)

_names = itertools.count(1)


async def make_channel(owner, *members):
    channel = await in_thread(channel_services.channel_create, user=owner, name=f"room-{next(_names)}")
    for member in members:
        await in_thread(channel_services.channel_join, user=member, channel_id=channel.pk)
    return str(channel.pk)


async def send(comm, channel_id, content, client_msg_id=None):
    frame = {"type": "message.send", "channel_id": channel_id, "content": content}
    if client_msg_id is not None:
        frame["client_msg_id"] = client_msg_id
    await comm.send_json_to(frame)


async def test_a_send_is_acked_then_reaches_every_connection_of_every_member(ws, user_with_token):
    alice, alice_token = await user_with_token()
    bob, bob_token = await user_with_token()
    _carol, carol_token = await user_with_token()
    channel_id = await make_channel(alice, bob)
    alice_1, alice_2 = await ws(alice_token), await ws(alice_token)
    bob_socket, carol_socket = await ws(bob_token), await ws(carol_token)

    await send(alice_1, channel_id, "hello all", "m-1")

    ack = await next_frame(alice_1)
    assert ack["type"] == "message.ack"
    assert ack["client_msg_id"] == "m-1"
    message = ack["message"]
    assert message["channel_id"] == channel_id
    assert message["content"] == "hello all"
    assert message["sender_id"] == str(alice.pk)
    assert message["type"] == "TEXT"
    assert isinstance(message["seq"], int)
    expected = {"type": "message.created", "message": message}
    assert await next_frame(alice_1) == expected  # after its ack
    assert await next_frame(alice_2) == expected
    assert await next_frame(bob_socket) == expected
    await no_frame(carol_socket)


async def test_a_retried_client_msg_id_is_acked_with_the_original_and_not_broadcast_again(ws, user_with_token):
    alice, alice_token = await user_with_token()
    bob, bob_token = await user_with_token()
    channel_id = await make_channel(alice, bob)
    alice_socket, bob_socket = await ws(alice_token), await ws(bob_token)
    await send(alice_socket, channel_id, "once", "dup-1")
    first = (await next_frame(alice_socket))["message"]
    await next_frame(alice_socket)  # message.created
    assert (await next_frame(bob_socket))["message"] == first

    await send(alice_socket, channel_id, "once", "dup-1")

    assert await next_frame(alice_socket) == {"type": "message.ack", "client_msg_id": "dup-1", "message": first}
    await no_frame(alice_socket)
    await no_frame(bob_socket)


async def test_messages_arrive_in_increasing_seq_with_concurrent_senders(ws, user_with_token):
    alice, alice_token = await user_with_token()
    bob, _bob_token = await user_with_token()
    carol, carol_token = await user_with_token()
    channel_id = await make_channel(alice, bob, carol)
    alice_socket, carol_socket = await ws(alice_token), await ws(carol_token)
    per_sender = 15

    async def bob_sends(i):
        await in_thread(
            messaging_services.message_send, sender=bob, channel_id=channel_id, content=f"bob {i}", client_msg_id=None
        )

    async def alice_sends():
        for i in range(per_sender):  # back to back, without waiting for acks
            await send(alice_socket, channel_id, f"alice {i}", f"a-{i}")

    await asyncio.gather(alice_sends(), *(bob_sends(i) for i in range(per_sender)))

    received = await frames_of_type(carol_socket, "message.created", 2 * per_sender, within=15)
    seqs = [frame["message"]["seq"] for frame in received]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    contents = [frame["message"]["content"] for frame in received]
    assert [c for c in contents if c.startswith("alice")] == [f"alice {i}" for i in range(per_sender)]
    acks = await frames_of_type(alice_socket, "message.ack", per_sender, within=15)
    assert [ack["client_msg_id"] for ack in acks] == [f"a-{i}" for i in range(per_sender)]


async def test_joining_a_channel_subscribes_the_open_sockets_of_the_joiner(ws, user_with_token):
    alice, alice_token = await user_with_token()
    bob, bob_token = await user_with_token()
    channel_id = await make_channel(alice)
    alice_socket, bob_socket = await ws(alice_token), await ws(bob_token)
    await send(alice_socket, channel_id, "before bob")
    await frames_of_type(alice_socket, "message.created", 1)
    await no_frame(bob_socket)

    await in_thread(channel_services.channel_join, user=bob, channel_id=channel_id)

    joined = {"type": "member.joined", "channel_id": channel_id, "user_id": str(bob.pk)}
    # The joiner hears the join's SYSTEM message as every member does, then member.joined.
    system = await next_frame(bob_socket)
    assert system["type"] == "message.created"
    assert (system["message"]["type"], system["message"]["content"]) == ("SYSTEM", f"{bob.username} joined")
    assert await next_frame(bob_socket) == joined
    alice_frames = [await next_frame(alice_socket), await next_frame(alice_socket)]
    assert alice_frames == [{"type": "message.created", "message": system["message"]}, joined]
    await send(alice_socket, channel_id, "welcome bob")
    created = await frames_of_type(bob_socket, "message.created", 1)
    assert created[0]["message"]["content"] == "welcome bob"
    assert created[0]["message"]["seq"] == system["message"]["seq"] + 1


async def test_the_creator_of_a_channel_hears_its_joined_message(ws, user_with_token):
    alice, alice_token = await user_with_token()
    alice_socket = await ws(alice_token)

    channel_id = await make_channel(alice)

    system = await next_frame(alice_socket)
    assert system["type"] == "message.created"
    assert system["message"]["channel_id"] == channel_id
    assert (system["message"]["type"], system["message"]["seq"]) == ("SYSTEM", 1)
    assert await next_frame(alice_socket) == {
        "type": "member.joined",
        "channel_id": channel_id,
        "user_id": str(alice.pk),
    }


async def test_a_socket_opened_after_joining_receives_the_channel(ws, user_with_token):
    alice, alice_token = await user_with_token()
    bob, bob_token = await user_with_token()
    channel_id = await make_channel(alice, bob)
    alice_socket, bob_socket = await ws(alice_token), await ws(bob_token)

    await send(alice_socket, channel_id, "hi")

    assert (await frames_of_type(bob_socket, "message.created", 1))[0]["message"]["content"] == "hi"


async def test_leaving_tells_the_leaver_and_stops_the_channels_events(ws, user_with_token):
    alice, alice_token = await user_with_token()
    bob, bob_token = await user_with_token()
    channel_id = await make_channel(alice, bob)
    alice_socket, bob_socket = await ws(alice_token), await ws(bob_token)

    await in_thread(channel_services.channel_leave, user=bob, channel_id=channel_id)

    left = {"type": "member.left", "channel_id": channel_id, "user_id": str(bob.pk)}
    assert (await frames_of_type(bob_socket, "member.left", 1))[0] == left
    assert (await frames_of_type(alice_socket, "member.left", 1))[0] == left
    # drain whatever was in flight for bob (the SYSTEM "left" message), then silence
    await asyncio.sleep(0.2)
    while not await bob_socket.receive_nothing(timeout=0.1):
        await bob_socket.receive_from()
    await send(alice_socket, channel_id, "bob is gone")
    await frames_of_type(alice_socket, "message.created", 1)
    await no_frame(bob_socket, within=0.5)


async def test_a_new_dm_subscribes_both_users_sockets(ws, user_with_token):
    alice, alice_token = await user_with_token()
    bob, bob_token = await user_with_token()
    alice_socket, bob_socket = await ws(alice_token), await ws(bob_token)

    conversation, created = await in_thread(dm_services.dm_open, user=alice, other_user_id=bob.pk)
    assert created
    await alice_socket.send_json_to(
        {"type": "message.send", "conversation_id": str(conversation.pk), "content": "hey bob", "client_msg_id": "d1"}
    )

    ack = await next_frame(alice_socket)
    assert ack["message"]["conversation_id"] == str(conversation.pk)
    created_frame = await next_frame(bob_socket)
    assert created_frame == {"type": "message.created", "message": ack["message"]}


async def test_edits_and_deletes_reach_the_members(ws, user_with_token):
    alice, alice_token = await user_with_token()
    bob, bob_token = await user_with_token()
    channel_id = await make_channel(alice, bob)
    alice_socket, bob_socket = await ws(alice_token), await ws(bob_token)
    await send(alice_socket, channel_id, "typo")
    message = (await next_frame(alice_socket))["message"]
    await frames_of_type(bob_socket, "message.created", 1)

    await in_thread(
        messaging_services.message_edit, user=alice, message_id=message["id"], content="fixed", channel_id=channel_id
    )
    updated = (await frames_of_type(bob_socket, "message.updated", 1))[0]
    await in_thread(messaging_services.message_delete, user=alice, message_id=message["id"], channel_id=channel_id)
    deleted = (await frames_of_type(bob_socket, "message.deleted", 1))[0]

    assert updated["message"]["id"] == message["id"]
    assert updated["message"]["content"] == "fixed"
    assert updated["message"]["edited_at"] is not None
    assert deleted == {"type": "message.deleted", "id": message["id"], "channel_id": channel_id}


async def test_typing_reaches_the_other_members_but_not_the_typist(ws, user_with_token):
    alice, alice_token = await user_with_token()
    bob, bob_token = await user_with_token()
    _carol, carol_token = await user_with_token()
    channel_id = await make_channel(alice, bob)
    alice_1, alice_2 = await ws(alice_token), await ws(alice_token)
    bob_socket, carol_socket = await ws(bob_token), await ws(carol_token)

    await alice_1.send_json_to({"type": "typing", "channel_id": channel_id})

    typing = {"type": "typing", "channel_id": channel_id, "user_id": str(alice.pk)}
    assert await next_frame(bob_socket) == typing
    await no_frame(alice_1)
    await no_frame(alice_2)
    await no_frame(carol_socket)


async def test_typing_repeats_within_a_second_are_dropped(ws, user_with_token):
    alice, alice_token = await user_with_token()
    bob, bob_token = await user_with_token()
    channel_id = await make_channel(alice, bob)
    alice_socket, bob_socket = await ws(alice_token), await ws(bob_token)

    for _ in range(5):
        await alice_socket.send_json_to({"type": "typing", "channel_id": channel_id})

    assert (await next_frame(bob_socket))["type"] == "typing"
    await no_frame(bob_socket, within=0.5)


async def test_typing_in_a_dm(ws, user_with_token):
    alice, alice_token = await user_with_token()
    bob, bob_token = await user_with_token()
    conversation, _ = await in_thread(dm_services.dm_open, user=alice, other_user_id=bob.pk)
    bob_socket, alice_socket = await ws(bob_token), await ws(alice_token)

    await bob_socket.send_json_to({"type": "typing", "conversation_id": str(conversation.pk)})

    assert await next_frame(alice_socket) == {
        "type": "typing",
        "conversation_id": str(conversation.pk),
        "user_id": str(bob.pk),
    }


async def test_a_channels_events_never_reach_a_non_member(ws, user_with_token):
    alice, alice_token = await user_with_token()
    bob, _ = await user_with_token()
    _outsider, outsider_token = await user_with_token()
    channel_id = await make_channel(alice)
    alice_socket, outsider_socket = await ws(alice_token), await ws(outsider_token)

    await send(alice_socket, channel_id, "members only")
    await alice_socket.send_json_to({"type": "typing", "channel_id": channel_id})
    await in_thread(channel_services.channel_join, user=bob, channel_id=channel_id)
    await in_thread(channel_services.channel_leave, user=bob, channel_id=channel_id)
    await frames_of_type(alice_socket, "member.left", 1)

    await no_frame(outsider_socket, within=0.5, skip=())


async def test_broadcast_member_joined_alone_subscribes_open_sockets(ws, user_with_token):
    """The hook works from the membership row alone (e.g. a service that adds members in bulk)."""
    alice, alice_token = await user_with_token()
    bob, bob_token = await user_with_token()
    channel_id = await make_channel(alice)
    alice_socket, bob_socket = await ws(alice_token), await ws(bob_token)

    from channels_app.models import ChannelMember

    await in_thread(ChannelMember.objects.create, channel_id=channel_id, user=bob)
    await in_thread(broadcast.member_joined, channel_id=channel_id, user_id=str(bob.pk))
    await send(alice_socket, channel_id, "via the hook")

    assert (await frames_of_type(bob_socket, "member.joined", 1))[0]["user_id"] == str(bob.pk)
    assert (await frames_of_type(bob_socket, "message.created", 1))[0]["message"]["content"] == "via the hook"
