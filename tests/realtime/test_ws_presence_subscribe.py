"""Presence at size (issue 13, section 3): a channel larger than
PRESENCE_FANOUT_MAX_MEMBERS no longer fans every member's presence out to all of them;
a socket names whose presence it shows with `presence.subscribe` (up to 500 user ids,
each frame replacing the previous one); DM and group-DM partners are implied."""

import itertools
import uuid

import pytest

from channels_app import services as channel_services
from dms import services as dm_services
from tests.realtime.support import frames_of_type, in_thread, no_presence_of, presence_of

pytestmark = pytest.mark.django_db(transaction=True)

_names = itertools.count(1)


@pytest.fixture(autouse=True)
def _small_fanout(settings):
    settings.PRESENCE_FANOUT_MAX_MEMBERS = 2
    return settings


async def channel_of(owner, *members):
    channel = await in_thread(channel_services.channel_create, user=owner, name=f"ps-{next(_names)}")
    for member in members:
        await in_thread(channel_services.channel_join, user=member, channel_id=channel.pk)
    return channel


async def subscribe(socket, user_ids, request_id="r1") -> dict:
    frame = {"type": "presence.subscribe", "user_ids": [str(u) for u in user_ids], "request_id": request_id}
    await socket.send_json_to(frame)
    return (await frames_of_type(socket, "ack", 1))[0]


async def test_a_channel_over_the_limit_no_longer_fans_presence_out_a_small_one_does(ws, user_with_token):
    alice, alice_token = await user_with_token()
    bob, bob_token = await user_with_token()
    carol, carol_token = await user_with_token()
    dave, _ = await user_with_token()
    await channel_of(alice, bob)  # 2 members: fans out
    await channel_of(alice, carol, dave)  # 3 members: over PRESENCE_FANOUT_MAX_MEMBERS
    bob_socket, carol_socket = await ws(bob_token), await ws(carol_token)

    alice_socket = await ws(alice_token)

    assert (await presence_of(bob_socket, alice.pk))[0]["status"] == "online"
    assert (await presence_of(alice_socket, alice.pk))[0]["status"] == "online"  # yourself included
    await no_presence_of(carol_socket, alice.pk, within=1.0)


async def test_dm_and_group_dm_partners_are_implied(ws, user_with_token, settings):
    settings.PRESENCE_FANOUT_MAX_MEMBERS = 0  # no channel fans out at all
    alice, alice_token = await user_with_token()
    bob, bob_token = await user_with_token()
    await channel_of(alice, bob)
    await in_thread(dm_services.dm_open, user=alice, other_user_id=bob.pk)
    bob_socket = await ws(bob_token)

    await ws(alice_token)

    assert (await presence_of(bob_socket, alice.pk))[0]["status"] == "online"


async def test_a_subscriber_hears_the_users_it_names_and_gets_their_presence_at_once(ws, user_with_token):
    alice, alice_token = await user_with_token()
    carol, carol_token = await user_with_token()
    dave, _ = await user_with_token()
    await channel_of(alice, carol, dave)  # too big to fan out
    carol_socket = await ws(carol_token)

    ack = await subscribe(carol_socket, [alice.pk, alice.pk])

    assert ack["frame"] == "presence.subscribe" and ack["request_id"] == "r1"
    assert ack["user_ids"] == [str(alice.pk)]
    assert [(p["user_id"], p["status"], p["last_seen_at"]) for p in ack["presence"]] == [
        (str(alice.pk), "offline", None)
    ]
    await ws(alice_token)
    assert (await presence_of(carol_socket, alice.pk))[0]["status"] == "online"


async def test_each_subscribe_frame_replaces_the_previous_one(ws, user_with_token):
    alice, alice_token = await user_with_token()
    _carol, carol_token = await user_with_token()
    dave, dave_token = await user_with_token()
    carol_socket = await ws(carol_token)
    await subscribe(carol_socket, [alice.pk])

    ack = await subscribe(carol_socket, [dave.pk], request_id="r2")
    await ws(alice_token)
    await ws(dave_token)

    assert ack["user_ids"] == [str(dave.pk)]
    assert (await presence_of(carol_socket, dave.pk))[0]["status"] == "online"
    await no_presence_of(carol_socket, alice.pk, within=1.0)
    emptied = await subscribe(carol_socket, [], request_id="r3")
    assert emptied["user_ids"] == [] and emptied["presence"] == []


async def test_only_members_of_the_workspace_are_subscribed(ws, user_with_token, make_user):
    from accounts.models import Workspace

    _carol, carol_token = await user_with_token()
    other = await in_thread(Workspace.objects.create, slug=f"other-{next(_names)}", name="Other")
    stranger = await in_thread(make_user, workspace=other)
    carol_socket = await ws(carol_token)

    ack = await subscribe(carol_socket, [stranger.pk, uuid.uuid4()])

    assert ack["user_ids"] == []


@pytest.mark.parametrize(
    "user_ids",
    [[str(uuid.uuid4()) for _ in range(501)], ["not-a-uuid"], [1], "a string", None],
    ids=["501 ids", "not a uuid", "a number", "not a list", "null"],
)
async def test_a_bad_subscription_is_an_error_frame_and_keeps_the_previous_one(ws, user_with_token, user_ids):
    alice, alice_token = await user_with_token()
    _carol, carol_token = await user_with_token()
    carol_socket = await ws(carol_token)
    await subscribe(carol_socket, [alice.pk])

    await carol_socket.send_json_to({"type": "presence.subscribe", "user_ids": user_ids, "request_id": "bad"})
    error = (await frames_of_type(carol_socket, "error", 1))[0]

    assert error["frame"] == "presence.subscribe" and error["request_id"] == "bad"
    assert error["error"]["code"] == "invalid"
    assert "user_ids" in error["error"]["fields"]
    await ws(alice_token)
    assert (await presence_of(carol_socket, alice.pk))[0]["status"] == "online"


async def test_a_subscribe_frame_without_user_ids_is_invalid(ws, user_with_token):
    _carol, carol_token = await user_with_token()
    carol_socket = await ws(carol_token)

    await carol_socket.send_json_to({"type": "presence.subscribe"})
    error = (await frames_of_type(carol_socket, "error", 1))[0]

    assert error["error"]["code"] == "invalid"
    assert "user_ids" in error["error"]["fields"]
