"""The live sockets' audit (realtime.audit): a membership or session event dropped while
the channel layer was unreachable (the broadcaster's cool-down after a Redis error,
realtime.broadcast.delivery) is repaired from PostgreSQL. Real consumers, Redis and
PostgreSQL; the lost event is the broadcaster's own behaviour after an error."""

import asyncio
import contextlib
import time

import pytest
from channels.layers import get_channel_layer
from redis.exceptions import ConnectionError as RedisConnectionError

from accounts.services.tokens import token_revoke_all
from channels_app import selectors as channel_selectors
from channels_app import services as channel_services
from dms import services as dm_services
from messaging import services as messaging_services
from realtime import audit, events
from realtime.broadcast import delivery
from tests.realtime.support import in_thread, next_frame
from tests.realtime.test_local_fanout import _bob_in_a_channel, _consumer_of, _drain, output_of_type

pytestmark = pytest.mark.django_db(transaction=True)


def _events_lost(monkeypatch) -> None:
    """From now on the broadcaster drops every event, as it does for a cool-down after
    the channel layer failed (Redis unreachable)."""
    monkeypatch.setattr(delivery, "_cooldown_until", time.monotonic() + 3600)


def _events_flow(monkeypatch) -> None:
    monkeypatch.setattr(delivery, "_cooldown_until", 0.0)


async def _post(user, channel_id: str, content: str) -> None:
    await in_thread(messaging_services.message_send, sender=user, channel_id=channel_id, content=content)


def _contents(frames: list[dict]) -> list[str]:
    return [f["message"]["content"] for f in frames if f["type"] == events.MESSAGE_CREATED]


async def _heard_by_alice(alice_socket, content: str) -> None:
    while True:
        frame = await next_frame(alice_socket, within=5)
        if frame["type"] == events.MESSAGE_CREATED and frame["message"]["content"] == content:
            return


def _after_read(monkeypatch, selector: str, write) -> None:
    """The audit's read `selector` (of channels_app.selectors) runs, then `write` (which
    that read does not see, but the socket may hear), then the audit acts on the read."""
    read = getattr(channel_selectors, selector)

    def read_then_write(**kwargs):
        found = read(**kwargs)
        write()
        return found

    monkeypatch.setattr(channel_selectors, selector, read_then_write)


async def _bob_left_unannounced(ws, user_with_token, monkeypatch):
    """bob leaves a channel while the broadcaster drops events: his socket is still in
    the channel's group once events flow again (what the audit repairs)."""
    channel_id, alice_socket, bob, bob_socket, _workspace_id = await _bob_in_a_channel(ws, user_with_token)
    alice = await in_thread(lambda: channel_selectors.Channel.objects.get(pk=channel_id).created_by)
    _events_lost(monkeypatch)
    await in_thread(channel_services.channel_leave, user=bob, channel_id=channel_id)
    _events_flow(monkeypatch)
    await asyncio.sleep(0.2)
    _drain(bob_socket)
    _drain(alice_socket)
    return channel_id, alice, alice_socket, bob, bob_socket


async def test_a_member_removed_while_events_were_lost_stops_hearing_the_channel_at_the_audit(
    ws, user_with_token, monkeypatch
):
    channel_id, alice, alice_socket, bob, bob_socket = await _bob_left_unannounced(ws, user_with_token, monkeypatch)
    await _post(alice, channel_id, "before the audit")
    await _heard_by_alice(alice_socket, "before the audit")
    await asyncio.sleep(0.2)
    assert _contents(_drain(bob_socket)) == ["before the audit"]  # the hole: bob is not a member

    repaired = await audit.audit_once(get_channel_layer())

    assert repaired == {"left": 1, "joined": 0, "closed": 0}
    assert events.channel_group(channel_id) not in _consumer_of(bob).subscriptions
    await _post(alice, channel_id, "after the audit")
    await _heard_by_alice(alice_socket, "after the audit")
    await asyncio.sleep(0.2)
    assert _contents(_drain(bob_socket)) == []


async def test_the_audit_leaves_alone_sockets_whose_events_arrived(ws, user_with_token):
    channel_id, _alice_socket, _bob, bob_socket, _workspace_id = await _bob_in_a_channel(ws, user_with_token)
    alice = await in_thread(lambda: channel_selectors.Channel.objects.get(pk=channel_id).created_by)

    assert await audit.audit_once(get_channel_layer()) == {"left": 0, "joined": 0, "closed": 0}

    await _post(alice, channel_id, "still here")
    assert _contents([await next_frame(bob_socket, within=5)]) == ["still here"]


async def test_the_audit_does_not_undo_a_rejoin_its_read_missed(ws, user_with_token, monkeypatch):
    """The audit reads bob's membership as gone; before it applies that, bob rejoins (and
    his socket hears the rejoin's subscribe). The stale read must not take him out: the
    rejoin's seq is newer than the read's (RealtimeConsumer.departed)."""
    channel_id, alice, _alice_socket, bob, bob_socket = await _bob_left_unannounced(ws, user_with_token, monkeypatch)
    _after_read(
        monkeypatch, "memberships_ended", lambda: channel_services.channel_join(user=bob, channel_id=channel_id)
    )
    ended_before = await audit.audit_once(get_channel_layer())

    assert ended_before == {"left": 0, "joined": 0, "closed": 0}
    assert events.channel_group(channel_id) in _consumer_of(bob).subscriptions
    _drain(bob_socket)
    await _post(alice, channel_id, "after the rejoin")
    frame = await output_of_type(bob_socket, events.MESSAGE_CREATED, within=5)
    assert "after the rejoin" in frame["text"]


async def test_sockets_still_in_a_channel_deleted_while_events_were_lost_leave_it_at_the_audit(
    ws, user_with_token, monkeypatch, make_user
):
    """The deleted channel's seq counter goes with it: the audit must not read its seq as
    0, which every socket that connected after a message of it knows to be older than
    its own, and keep them in the group (and the process subscribed to it) for good."""
    channel_id, _alice_socket, bob, _bob_socket, _workspace_id = await _bob_in_a_channel(ws, user_with_token)
    await in_thread(messaging_services.message_send, sender=bob, channel_id=channel_id, content="one")
    staff = await in_thread(make_user, is_staff=True)
    channel = await in_thread(channel_selectors.Channel.objects.get, pk=channel_id)
    _events_lost(monkeypatch)
    await in_thread(channel_services.channel_delete, channel=channel, by=staff)
    _events_flow(monkeypatch)

    assert await audit.audit_once(get_channel_layer()) == {"left": 2, "joined": 0, "closed": 0}  # alice's and bob's

    assert events.channel_group(channel_id) not in _consumer_of(bob).subscriptions


async def _bob_joined_unannounced(ws, user_with_token, monkeypatch):
    """bob joins alice's channel while the broadcaster drops events: his open socket is
    not in the channel's group once events flow again."""
    alice, alice_token = await user_with_token()
    bob, bob_token = await user_with_token()
    channel = await in_thread(channel_services.channel_create, user=alice, name=f"audit-{bob.pk.hex[:8]}")
    channel_id = str(channel.pk)
    alice_socket, bob_socket = await ws(alice_token), await ws(bob_token)
    await asyncio.sleep(0.3)
    _events_lost(monkeypatch)
    await in_thread(channel_services.channel_join, user=bob, channel_id=channel_id)
    _events_flow(monkeypatch)
    await _post(alice, channel_id, "before the audit")
    await _heard_by_alice(alice_socket, "before the audit")
    await asyncio.sleep(0.2)
    assert _contents(_drain(bob_socket)) == []  # the hole: bob is a member and hears nothing
    return channel_id, alice, alice_socket, bob, bob_socket


async def test_a_member_added_while_events_were_lost_hears_the_channel_after_the_audit(
    ws, user_with_token, monkeypatch
):
    channel_id, alice, _alice_socket, _bob, bob_socket = await _bob_joined_unannounced(ws, user_with_token, monkeypatch)

    assert await audit.audit_once(get_channel_layer()) == {"left": 0, "joined": 1, "closed": 0}

    await _post(alice, channel_id, "after the audit")
    frame = await output_of_type(bob_socket, events.MESSAGE_CREATED, within=5)
    assert "after the audit" in frame["text"]


async def test_a_dm_opened_while_events_were_lost_is_heard_after_the_audit(ws, user_with_token, monkeypatch):
    alice, alice_token = await user_with_token()
    bob, bob_token = await user_with_token()
    _alice_socket, bob_socket = await ws(alice_token), await ws(bob_token)
    await asyncio.sleep(0.3)
    _events_lost(monkeypatch)
    dm, _created = await in_thread(dm_services.dm_open, user=alice, other_user_id=bob.pk)
    _events_flow(monkeypatch)

    assert await audit.audit_once(get_channel_layer()) == {"left": 0, "joined": 2, "closed": 0}  # both sockets

    await in_thread(messaging_services.message_send, sender=alice, conversation_id=dm.pk, content="in the dm")
    frame = await output_of_type(bob_socket, events.MESSAGE_CREATED, within=5)
    assert "in the dm" in frame["text"]


async def test_the_audit_does_not_join_a_channel_from_a_read_older_than_a_removal_the_socket_heard(
    ws, user_with_token, monkeypatch
):
    """The audit reads bob as a member of a channel his socket is missing; before it acts
    on that, bob leaves (events flowing: his socket hears the unsubscribe and its seq).
    The older read must not put the socket back in the channel."""
    channel_id, alice, alice_socket, bob, bob_socket = await _bob_joined_unannounced(ws, user_with_token, monkeypatch)
    _after_read(
        monkeypatch, "users_channel_seqs", lambda: channel_services.channel_leave(user=bob, channel_id=channel_id)
    )

    assert await audit.audit_once(get_channel_layer()) == {"left": 0, "joined": 0, "closed": 0}

    assert events.channel_group(channel_id) not in _consumer_of(bob).subscriptions
    await _post(alice, channel_id, "after the leave")
    await _heard_by_alice(alice_socket, "after the leave")
    await asyncio.sleep(0.2)
    assert _contents(_drain(bob_socket)) == []


@contextlib.contextmanager
def _redis_down_for_this_process():
    """The process's pub/sub connection to Redis cannot be (re)made until the block ends,
    as while Redis is down: its client points at a port nothing listens on (as
    tests/realtime/test_broadcast.py's dead_redis), its connection of before is kept
    aside and comes back with Redis."""
    shards = get_channel_layer()._get_layer()._shards
    saved = [(shard.host, shard._redis, shard._pubsub) for shard in shards]
    for shard in shards:
        shard.host, shard._redis, shard._pubsub = {"address": "redis://127.0.0.1:1/0"}, None, None
    try:
        yield
    finally:
        for shard, (host, client, pubsub) in zip(shards, saved, strict=True):
            shard.host, shard._redis, shard._pubsub = host, client, pubsub


async def test_a_join_the_audit_could_not_make_while_redis_was_down_is_made_by_the_next_audit(
    ws, user_with_token, monkeypatch
):
    """An audit that runs while Redis is still down cannot subscribe the process to a
    channel bob joined during the outage; it must not leave his socket looking joined
    (channels_redis records the group before its SUBSCRIBE fails, and does not make that
    SUBSCRIBE again once Redis is back): the audit after the outage joins it."""
    alice, _alice_token = await user_with_token()
    bob, bob_token = await user_with_token()
    channel = await in_thread(channel_services.channel_create, user=alice, name=f"outage-{bob.pk.hex[:8]}")
    channel_id = str(channel.pk)
    bob_socket = await ws(bob_token)  # the only socket of the process that will hear the channel
    await asyncio.sleep(0.3)
    _events_lost(monkeypatch)
    await in_thread(channel_services.channel_join, user=bob, channel_id=channel_id)
    _events_flow(monkeypatch)
    with _redis_down_for_this_process(), pytest.raises(RedisConnectionError):
        await audit.audit_once(get_channel_layer())

    assert await audit.audit_once(get_channel_layer()) == {"left": 0, "joined": 1, "closed": 0}

    await _post(alice, channel_id, "after the outage")
    frame = await output_of_type(bob_socket, events.MESSAGE_CREATED, within=5)
    assert "after the outage" in frame["text"]


async def test_a_socket_whose_token_was_revoked_while_events_were_lost_is_closed_by_the_audit(
    ws, user_with_token, monkeypatch
):
    _channel_id, _alice_socket, bob, bob_socket, _workspace_id = await _bob_in_a_channel(ws, user_with_token)
    _events_lost(monkeypatch)
    await in_thread(token_revoke_all, user=bob)
    _events_flow(monkeypatch)
    await asyncio.sleep(0.3)
    assert all(m["type"] != "websocket.close" for m in list(bob_socket.output_queue._queue))  # the hole

    repaired = await audit.audit_once(get_channel_layer())

    assert repaired == {"left": 0, "joined": 0, "closed": 1}
    while True:
        message = await bob_socket.receive_output(timeout=5)
        if message["type"] == "websocket.close":
            break
    assert message["code"] == events.CLOSE_UNAUTHENTICATED


async def test_a_deactivated_users_socket_is_closed_by_the_audit(ws, user_with_token, monkeypatch):
    _channel_id, _alice_socket, bob, bob_socket, _workspace_id = await _bob_in_a_channel(ws, user_with_token)
    bob.is_active = False
    await in_thread(bob.save, update_fields=["is_active"])  # as a deactivation whose sessions.close was lost

    assert await audit.audit_once(get_channel_layer()) == {"left": 0, "joined": 0, "closed": 1}
    while (message := await bob_socket.receive_output(timeout=5))["type"] != "websocket.close":
        pass
    assert message["code"] == events.CLOSE_UNAUTHENTICATED


async def test_the_audit_runs_by_itself_every_period(ws, user_with_token, monkeypatch, settings):
    settings.REALTIME_AUDIT_SECONDS = 0.2
    for task in list(audit._running.values()):
        task.cancel()
    channel_id, alice, alice_socket, bob, bob_socket = await _bob_left_unannounced(ws, user_with_token, monkeypatch)
    audit.ensure_running(get_channel_layer())

    await asyncio.sleep(1.0)  # a few periods

    assert events.channel_group(channel_id) not in _consumer_of(bob).subscriptions
    await _post(alice, channel_id, "after the periodic audit")
    await _heard_by_alice(alice_socket, "after the periodic audit")
    await asyncio.sleep(0.2)
    assert _contents(_drain(bob_socket)) == []


# --- the reads, alone ---------------------------------------------------------------------


def test_memberships_ended_names_the_pairs_that_are_no_longer_memberships_with_their_seq(make_user):
    alice, bob = make_user(), make_user()
    channel = channel_services.channel_create(user=alice, name="audit-read")
    channel_services.channel_join(user=bob, channel_id=channel.pk)
    messaging_services.message_send(sender=alice, channel_id=channel.pk, content="one")
    channel_services.channel_leave(user=bob, channel_id=channel.pk)
    pairs = [(str(alice.pk), str(channel.pk)), (str(bob.pk), str(channel.pk))]

    ended = channel_selectors.memberships_ended(pairs=pairs)

    # seqs: alice joined (1), bob joined (2), "one" (3), bob left (4)
    assert ended == {(str(bob.pk), str(channel.pk)): 4}
    assert channel_selectors.memberships_ended(pairs=[]) == {}


def test_credentials_revoked_names_sockets_whose_user_membership_or_token_is_gone(make_user):
    from accounts.models import WorkspaceMember
    from accounts.selectors import credentials_revoked
    from tests.conftest import token_for

    kept, inactive, left, revoked = make_user(), make_user(), make_user(), make_user()
    token_for(kept), token_for(revoked)
    kept_digest = kept.auth_token_set.get().digest
    revoked_digest = revoked.auth_token_set.get().digest
    revoked.auth_token_set.all().delete()
    inactive.is_active = False
    inactive.save(update_fields=["is_active"])
    membership = WorkspaceMember.objects.get(user=left)
    membership.is_active = False
    membership.save(update_fields=["is_active"])
    workspace_id = str(membership.workspace_id)
    sockets = [
        (str(kept.pk), workspace_id, kept_digest),
        (str(kept.pk), workspace_id, None),  # a socket of a ticket without a token
        (str(inactive.pk), workspace_id, None),
        (str(left.pk), workspace_id, None),
        (str(revoked.pk), workspace_id, revoked_digest),
    ]

    assert credentials_revoked(credentials=sockets) == set(sockets[2:])


def test_the_batched_reads_keep_each_users_conversations_to_the_sockets_workspace(make_user):
    """users_channel_seqs and users_dm_ids answer per (user, workspace) pair: a user's
    channel or DM of another workspace is not among what their socket should hear."""
    from accounts.models import Workspace
    from dms.selectors import users_dm_ids
    from tests.conftest import join_workspace

    other = Workspace.objects.create(name="Other", slug="audit-other")
    alice, bob = make_user(), make_user()
    for user in (alice, bob):
        join_workspace(user, other)
    here = channel_services.channel_create(user=alice, name="audit-here")
    there = channel_services.channel_create(user=alice, workspace=other, name="audit-there")
    dm_here, _ = dm_services.dm_open(user=alice, other_user_id=bob.pk)
    dm_there, _ = dm_services.dm_open(user=alice, workspace=other, other_user_id=bob.pk)
    default_id = str(here.workspace_id)
    pairs = [(str(alice.pk), default_id), (str(bob.pk), str(other.pk))]

    channels = channel_selectors.users_channel_seqs(pairs=pairs)
    dms = users_dm_ids(pairs=pairs)

    assert channels == {(str(alice.pk), default_id): {str(here.pk): 1}}
    assert str(there.pk) not in str(channels)
    assert dms == {(str(alice.pk), default_id): {str(dm_here.pk)}, (str(bob.pk), str(other.pk)): {str(dm_there.pk)}}
    assert channel_selectors.users_channel_seqs(pairs=[]) == {} and users_dm_ids(pairs=[]) == {}


def _rows_made(sql: str, params) -> int:
    """The most rows any step of `sql`'s plan made (EXPLAIN ANALYZE, run for real)."""
    import json

    from django.db import connection

    def most(node: dict) -> int:
        made = int(node.get("Actual Rows", 0)) * int(node.get("Actual Loops", 1))
        return max([made, *(most(child) for child in node.get("Plans", []))])

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
        (plan,) = cursor.fetchone()
    return most((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"])


def test_users_channel_seqs_reads_the_users_memberships_not_every_channel_of_the_workspace_per_socket(make_user):
    """The audit's read of many sockets' channels costs about their memberships: 200
    sockets in a workspace of 300 channels and 20,000 memberships make no step of
    200 x 300 rows (pairing each socket with every channel of its workspace first, as
    its first form was planned, took 1.3 s for 1,000 sockets and 2,000 channels)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User, default_workspace_id
    from channels_app.models import Channel, ChannelMember

    workspace_id = default_workspace_id()
    users = User.objects.bulk_create([User(username=f"cost{i}", email=f"cost{i}@x.invalid") for i in range(2000)])
    channels = Channel.objects.bulk_create([Channel(workspace_id=workspace_id, name=f"cost-{i}") for i in range(300)])
    ChannelMember.objects.bulk_create(
        [ChannelMember(channel=channels[(i * 7 + k) % 300], user=u) for i, u in enumerate(users) for k in range(10)]
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    sockets = users[:200]

    with CaptureQueriesContext(connection) as read:
        found = channel_selectors.users_channel_seqs(pairs=[(str(u.pk), str(workspace_id)) for u in sockets])

    assert sum(len(channels) for channels in found.values()) == 200 * 10
    (query,) = read.captured_queries  # its text, with the parameters in it
    assert _rows_made(query["sql"], None) < 200 * 300 / 10
