"""End to end (issue 16), two server processes sharing Redis: a removal takes effect on
the removed user's sockets before anyone hears of it; private channels and group DMs
reach their members only."""

import asyncio
import json

import httpx
import pytest

from channels_app import services as channel_services
from channels_app import services_manage
from dms import services as dm_services
from tests.e2e.test_realtime_e2e import hello, in_thread, open_socket, receive, receive_type, user_and_token

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


async def frames_for(ws, seconds: float) -> list[dict]:
    """Every frame the socket gets within `seconds`."""
    got = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        try:
            got.append(await receive(ws, within=left))
        except TimeoutError:
            break
    return got


async def test_a_removed_members_sockets_on_another_process_hear_nothing_after_the_removal(servers, make_user):
    a, b = servers
    alice, alice_token = await user_and_token(make_user)
    bob, bob_token = await user_and_token(make_user)
    carol, carol_token = await user_and_token(make_user)
    channel = await in_thread(channel_services.channel_create, user=alice, name="e2e-removal", is_private=True)
    await in_thread(services_manage.channel_members_add, user=alice, channel_id=channel.pk, user_ids=[bob.pk, carol.pk])
    channel_id = str(channel.pk)
    sends = 30

    async with (
        open_socket(b, bob_token) as bob_ws,
        open_socket(a, carol_token) as carol_ws,
        httpx.AsyncClient(base_url=a.http, headers={"Authorization": f"Bearer {alice_token}"}) as alice_http,
        httpx.AsyncClient(base_url=b.http, headers={"Authorization": f"Bearer {carol_token}"}) as carol_http,
    ):
        await hello(bob_ws)
        await hello(carol_ws)

        async def carol_sends():
            for i in range(sends):
                response = await carol_http.post(f"/api/v1/channels/{channel_id}/messages", json={"content": f"c{i}"})
                assert response.status_code == 201

        async def remove_bob():
            await asyncio.sleep(0.05)
            response = await alice_http.delete(f"/api/v1/channels/{channel_id}/members/{bob.pk}")
            assert response.status_code == 204

        await asyncio.gather(carol_sends(), remove_bob())
        carol_got = await receive_type(carol_ws, "message.created", count=sends + 1, within=30)
        bob_got = await frames_for(bob_ws, 2.0)

    removal = next(
        f["message"] for f in carol_got if f["message"]["content"] == f"{alice.username} removed {bob.username}"
    )
    bob_messages = [f["message"] for f in bob_got if f["type"] == "message.created"]
    # Nothing of the channel after the removal committed, not even its SYSTEM message.
    assert all(m["seq"] < removal["seq"] for m in bob_messages), (removal["seq"], [m["seq"] for m in bob_messages])
    own_left = [f for f in bob_got if f["type"] == "member.left"]
    assert own_left == [{"type": "member.left", "channel_id": channel_id, "user_id": str(bob.pk)}]
    # member.left came last: nothing of the channel after it.
    assert bob_got.index(own_left[0]) == len(bob_got) - 1 or all(
        f["type"] not in ("message.created", "typing") for f in bob_got[bob_got.index(own_left[0]) :][1:]
    )


async def test_a_private_channel_is_silent_to_non_members_on_both_processes(servers, make_user):
    a, b = servers
    alice, alice_token = await user_and_token(make_user)
    bob, bob_token = await user_and_token(make_user)
    _eve, eve_token = await user_and_token(make_user)
    channel = await in_thread(channel_services.channel_create, user=alice, name="e2e-private", is_private=True)
    await in_thread(services_manage.channel_members_add, user=alice, channel_id=channel.pk, user_ids=[bob.pk])
    channel_id = str(channel.pk)

    async with open_socket(a, alice_token) as alice_ws, open_socket(b, bob_token) as bob_ws:
        await hello(alice_ws)
        await hello(bob_ws)
        async with open_socket(b, eve_token) as eve_b, open_socket(a, eve_token) as eve_a:
            await hello(eve_b)
            await hello(eve_a)
            await eve_b.send(json.dumps({"type": "typing", "channel_id": channel_id}))
            error = (await receive_type(eve_b, "error"))[0]
            assert error["error"]["code"] == "not_found"
            await eve_a.send(
                json.dumps({"type": "message.send", "channel_id": channel_id, "content": "x", "client_msg_id": "e"})
            )
            assert (await receive_type(eve_a, "error"))[0]["error"]["code"] == "not_found"
            await alice_ws.send(
                json.dumps(
                    {"type": "message.send", "channel_id": channel_id, "content": "secret", "client_msg_id": "1"}
                )
            )
            assert (await receive_type(bob_ws, "message.created"))[0]["message"]["content"] == "secret"
            await alice_ws.send(json.dumps({"type": "typing", "channel_id": channel_id}))
            await receive_type(bob_ws, "typing")
            for ws in (eve_a, eve_b):
                heard = await frames_for(ws, 1.0)
                assert not [f for f in heard if f.get("channel_id") == channel_id or "message" in f], heard


async def test_a_group_dm_message_sent_on_one_process_reaches_every_member_on_the_other(servers, make_user):
    a, b = servers
    alice, alice_token = await user_and_token(make_user)
    bob, bob_token = await user_and_token(make_user)
    carol, carol_token = await user_and_token(make_user)
    _dave, dave_token = await user_and_token(make_user)

    async with (
        open_socket(a, alice_token) as alice_ws,
        open_socket(b, bob_token) as bob_ws,
        open_socket(b, carol_token) as carol_ws,
        open_socket(b, dave_token) as dave_ws,
    ):
        for ws in (alice_ws, bob_ws, carol_ws, dave_ws):
            await hello(ws)
        # Created after the sockets connected: they subscribe to it live.
        group, created = await in_thread(dm_services.group_dm_open, user=alice, user_ids=[bob.pk, carol.pk])
        assert created
        frame = {"type": "message.send", "conversation_id": str(group.pk), "content": "all three", "client_msg_id": "g"}
        await alice_ws.send(json.dumps(frame))
        ack = (await receive_type(alice_ws, "message.ack"))[0]
        for ws in (bob_ws, carol_ws):
            assert (await receive_type(ws, "message.created"))[0]["message"] == ack["message"]
        assert not [f for f in await frames_for(dave_ws, 1.0) if f["type"] == "message.created"]
