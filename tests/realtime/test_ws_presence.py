"""Presence as sockets see it: online on the first connection, offline after the grace."""

import asyncio
import itertools

import pytest

from channels_app import services as channel_services
from dms import services as dm_services
from presence.services import presence_get_many
from tests.realtime.support import in_thread, no_presence_of, presence_of

pytestmark = pytest.mark.django_db(transaction=True)

_names = itertools.count(1)


@pytest.fixture
def short_grace(settings):
    settings.PRESENCE_GRACE_SECONDS = 0.5
    settings.PRESENCE_SWEEP_SECONDS = 0.1
    return settings


async def share(alice, bob, *, channels=1, dm=False):
    for _ in range(channels):
        channel = await in_thread(channel_services.channel_create, user=alice, name=f"p-{next(_names)}")
        await in_thread(channel_services.channel_join, user=bob, channel_id=channel.pk)
    if dm:
        await in_thread(dm_services.dm_open, user=alice, other_user_id=bob.pk)


async def status(user) -> str:
    return (await in_thread(presence_get_many, user_ids=[str(user.pk)]))[0]["status"]


async def test_a_user_coming_online_is_announced_once_to_those_who_share_a_conversation(ws, user_with_token):
    alice, alice_token = await user_with_token()
    bob, bob_token = await user_with_token()
    _carol, carol_token = await user_with_token()
    await share(alice, bob, channels=2, dm=True)
    bob_socket, carol_socket = await ws(bob_token), await ws(carol_token)

    await ws(alice_token)

    changes = await presence_of(bob_socket, alice.pk)
    assert changes[0]["status"] == "online"
    assert changes[0]["last_seen_at"].endswith("Z")
    await no_presence_of(bob_socket, alice.pk)  # three shared groups, one frame
    await no_presence_of(carol_socket, alice.pk, within=0.1)
    assert await status(alice) == "online"


async def test_a_second_connection_announces_nothing(ws, user_with_token):
    alice, alice_token = await user_with_token()
    bob, bob_token = await user_with_token()
    await share(alice, bob)
    bob_socket = await ws(bob_token)
    await ws(alice_token)
    await presence_of(bob_socket, alice.pk)

    await ws(alice_token)

    await no_presence_of(bob_socket, alice.pk)


async def test_the_last_disconnect_goes_offline_after_the_grace(ws, user_with_token, short_grace):
    alice, alice_token = await user_with_token()
    bob, bob_token = await user_with_token()
    await share(alice, bob)
    bob_socket = await ws(bob_token)
    alice_socket = await ws(alice_token)
    await presence_of(bob_socket, alice.pk)

    await alice_socket.disconnect()
    await no_presence_of(bob_socket, alice.pk, within=0.3)  # within the grace
    assert await status(alice) == "online"

    offline = await presence_of(bob_socket, alice.pk, within=3)
    assert offline[0]["status"] == "offline"
    assert await status(alice) == "offline"


async def test_a_reconnect_within_the_grace_does_not_flap(ws, user_with_token, short_grace):
    alice, alice_token = await user_with_token()
    bob, bob_token = await user_with_token()
    await share(alice, bob)
    bob_socket = await ws(bob_token)
    alice_socket = await ws(alice_token)
    await presence_of(bob_socket, alice.pk)

    await alice_socket.disconnect()
    await asyncio.sleep(0.1)
    await ws(alice_token)

    await no_presence_of(bob_socket, alice.pk, within=1.2)
    assert await status(alice) == "online"


async def test_heartbeats_keep_an_open_socket_online_past_its_ttl(ws, user_with_token, settings):
    settings.PRESENCE_TTL_SECONDS = 0.6  # heartbeat every 0.2 s
    settings.PRESENCE_SWEEP_SECONDS = 0.1
    alice, alice_token = await user_with_token()
    bob, bob_token = await user_with_token()
    await share(alice, bob)
    bob_socket = await ws(bob_token)
    await ws(alice_token)
    await presence_of(bob_socket, alice.pk)

    await asyncio.sleep(1.5)

    assert await status(alice) == "online"
    await no_presence_of(bob_socket, alice.pk, within=0.1)


async def test_the_presence_endpoint_sees_an_open_socket(ws, user_with_token, client_for):
    alice, alice_token = await user_with_token()
    viewer, _ = await user_with_token()
    await ws(alice_token)
    client = await in_thread(client_for, viewer)

    response = await in_thread(client.get, "/api/v1/presence", {"user_ids": str(alice.pk)})

    assert response.status_code == 200
    assert response.json()["results"][0]["status"] == "online"


async def test_a_consumer_that_dies_leaves_presence_and_its_groups(ws, user_with_token):
    from channels.layers import get_channel_layer

    from presence import store
    from presence.services import local_presence

    user, token = await user_with_token()
    comm = await ws(token)
    (entry,) = (await in_thread(store.live_connections, user_ids=[str(user.pk)]))[str(user.pk)]
    assert entry in local_presence().connections
    connection = entry.split("|")[0]  # a registry entry is "<channel name>|<workspace id>"

    # a malformed layer event makes the consumer fail (as a lost Redis connection would)
    await get_channel_layer().send(connection, {"type": "message.created"})
    with pytest.raises(KeyError):
        await comm.wait(timeout=3)

    assert entry not in local_presence().connections
    assert (await in_thread(store.live_connections, user_ids=[str(user.pk)]))[str(user.pk)] == []
