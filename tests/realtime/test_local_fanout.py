"""The process-local fan-out of the channel layer (realtime.layers, issue 13 section 3):
a group message is decoded once per process and its frame written to every idle local
socket with one shared ASGI message; busy sockets get it queued, in order; the registry
of consumers is emptied when sockets close."""

import asyncio
import json

import pytest
from channels.layers import get_channel_layer

from channels_app.models import Channel
from messaging import services as messaging_services
from messaging.models import MessageSequence
from realtime import broadcast, events, layers
from tests.realtime.support import in_thread, next_frame
from tests.realtime.test_ws_events import make_channel, send

pytestmark = pytest.mark.django_db(transaction=True)


async def output_of_type(comm, frame_type: str, within: float = 3) -> dict:
    """The next raw ASGI message sent to `comm` whose frame has type `frame_type`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        message = await comm.receive_output(timeout=max(0.01, deadline - loop.time()))
        if message["type"] == "websocket.send" and json.loads(message["text"])["type"] == frame_type:
            return message


async def test_a_channel_message_is_decoded_once_and_the_same_frame_goes_to_every_socket(
    ws, user_with_token, monkeypatch
):
    alice, alice_token = await user_with_token()
    bob, bob_token = await user_with_token()
    carol, carol_token = await user_with_token()
    channel_id = await make_channel(alice, bob, carol)
    sockets = [await ws(alice_token), await ws(bob_token), await ws(carol_token)]
    await asyncio.sleep(0.3)  # presence of the connects delivered

    layer = get_channel_layer()
    decoded = []
    original = layer.deserialize

    def counting(data):
        event = original(data)
        decoded.append(event["type"])
        return event

    monkeypatch.setattr(layer, "deserialize", counting)
    await in_thread(messaging_services.message_send, sender=alice, channel_id=channel_id, content="once")

    received = [await output_of_type(comm, events.MESSAGE_CREATED) for comm in sockets]
    assert decoded.count(events.MESSAGE_CREATED) == 1  # not once per socket
    assert received[0] is received[1] is received[2]  # one ASGI message (one encoded text) for all
    assert json.loads(received[0]["text"])["message"]["content"] == "once"


async def test_the_sender_still_gets_its_ack_before_the_message_and_later_frames_in_order(ws, user_with_token):
    alice, alice_token = await user_with_token()
    bob, bob_token = await user_with_token()
    channel_id = await make_channel(alice, bob)
    alice_socket, bob_socket = await ws(alice_token), await ws(bob_token)

    for i in range(5):
        await send(alice_socket, channel_id, f"m{i}", f"c{i}")
    seen = {"ack": [], "created": []}
    while len(seen["created"]) < 5:
        frame = await next_frame(alice_socket, within=5)
        if frame["type"] == "message.ack":
            seen["ack"].append(frame["client_msg_id"])
        else:
            assert frame["type"] == "message.created"
            assert frame["message"]["client_msg_id"] in seen["ack"]  # its ack came first
            seen["created"].append(frame["message"]["seq"])
    assert seen["created"] == sorted(seen["created"])
    bob_seqs = [(await next_frame(bob_socket))["message"]["seq"] for _ in range(5)]
    assert bob_seqs == seen["created"]


async def test_closing_sockets_leaves_no_consumer_in_the_registry(ws, user_with_token):
    layer = get_channel_layer()
    before = layer.registered()
    _alice, alice_token = await user_with_token()
    opened = [await ws(alice_token) for _ in range(3)]
    assert layer.registered() == before + 3
    for comm in opened:
        await comm.disconnect(timeout=3)
    assert layer.registered() == before
    loop_layer = layer._get_layer()
    assert not any(name in loop_layer.consumers for name in loop_layer.channels if name.startswith("slackclone"))


# --- the layer alone, with stand-in consumers --------------------------------------------


class StandIn:
    """What realtime.layers needs of a consumer."""

    def __init__(self, *, idle=True, suspend_on=None):
        self.idle = idle
        self.suspend_on = suspend_on  # an asyncio.Event the send waits for
        self.sent = []
        self.queued = 0
        self.sending = None
        self.groups = set()

    def can_take_now(self):
        return self.idle and self.queued == 0 and (self.sending is None or self.sending.done())

    def layer_event_queued(self):
        self.queued += 1

    def subscribed(self, group, seq=None):
        self.groups.add(group)
        return lambda: self.groups.discard(group)

    def unsubscribed(self, group, seq=None):
        self.groups.discard(group)

    def frames_of(self, event):
        return event.get("texts") if event["type"] == events.MESSAGE_CREATED else None

    async def send_now(self, message):
        if self.suspend_on is not None:
            await self.suspend_on.wait()
        self.sent.append(message["text"])


@pytest.fixture
async def loop_layer(settings):
    layer = layers.LocalFanoutPubSubLayer(hosts=[settings.REDIS_URL], prefix="test-local-fanout")
    loop_layer = layer._get_layer()
    yield layer, loop_layer
    await layer.flush()


def attach(loop_layer, group: str, **consumers):
    loop_layer.groups[group] = set(consumers)
    for name, consumer in consumers.items():
        loop_layer.channels[name] = asyncio.Queue()
        if consumer is not None:
            loop_layer.consumers[name] = consumer


async def test_busy_or_unregistered_sockets_get_the_event_queued_behind_what_they_have(loop_layer):
    layer, loop_layer = loop_layer
    idle, busy, behind = StandIn(), StandIn(idle=False), StandIn()
    behind.queued = 1  # already has an event waiting: the next one must not overtake it
    attach(loop_layer, "g", idle=idle, busy=busy, behind=behind, plain=None)
    data = layer.serialize({"type": events.MESSAGE_CREATED, "texts": ["a", "b"]})

    await loop_layer._deliver("g", data)

    assert idle.sent == ["a", "b"]
    assert busy.sent == [] and busy.queued == 1
    assert behind.sent == [] and behind.queued == 2
    for name in ("busy", "behind", "plain"):
        assert loop_layer.channels[name].get_nowait() == data
    # An event the consumer must handle itself (subscribe) is queued even for the idle one.
    await loop_layer._deliver("g", layer.serialize({"type": events.SUBSCRIBE, "group": "x"}))
    assert idle.queued == 1 and loop_layer.channels["idle"].qsize() == 1


async def test_without_local_fanout_every_socket_gets_its_queue_as_in_channels_redis(settings):
    layer = layers.LocalFanoutPubSubLayer(hosts=[settings.REDIS_URL], prefix="test-local-fanout", local_fanout=False)
    loop_layer = layer._get_layer()
    idle = StandIn()
    attach(loop_layer, "g", idle=idle)
    await loop_layer._deliver("g", layer.serialize({"type": events.MESSAGE_CREATED, "texts": ["a"]}))
    assert idle.sent == [] and loop_layer.channels["idle"].qsize() == 1
    await layer.flush()


async def test_a_socket_whose_send_would_wait_does_not_hold_up_the_others(loop_layer):
    layer, loop_layer = loop_layer
    gate = asyncio.Event()
    slow, fast = StandIn(suspend_on=gate), StandIn()
    attach(loop_layer, "g", slow=slow, fast=fast)

    await asyncio.wait_for(loop_layer._deliver("g", layer.serialize({"type": "message.created", "texts": ["a"]})), 1)

    assert fast.sent == ["a"]
    assert slow.sent == [] and slow.sending is not None and not slow.sending.done()
    # Until its send is written, the slow socket takes nothing directly: the next event queues.
    await loop_layer._deliver("g", layer.serialize({"type": "message.created", "texts": ["b"]}))
    assert fast.sent == ["a", "b"] and slow.queued == 1
    gate.set()
    await asyncio.wait_for(slow.sending, 1)
    assert slow.sent == ["a"]


async def test_messages_read_from_redis_are_delivered_in_arrival_order(loop_layer):
    layer, loop_layer = loop_layer
    one = StandIn()
    attach(loop_layer, "g", one=one)
    for text in ("1", "2", "3"):
        loop_layer.accept("g", layer.serialize({"type": "message.created", "texts": [text]}))
    await asyncio.wait_for(loop_layer._delivering, 1)
    assert one.sent == ["1", "2", "3"]


async def test_an_unsubscribe_takes_its_sockets_out_of_the_group_as_it_is_read(loop_layer):
    """A removed member's socket with the unsubscribe still queued (its consumer slow to
    handle it) must not get the group's later messages queued behind it."""
    layer, loop_layer = loop_layer
    bob, carol = StandIn(), StandIn()
    attach(loop_layer, loop_layer._get_group_channel_name("user.bob"), bob=bob)
    loop_layer.groups[loop_layer._get_group_channel_name("channel.c")] = {"bob", "carol"}
    attach(loop_layer, loop_layer._get_group_channel_name("channel.other"), bob=bob)
    loop_layer.channels["carol"], loop_layer.consumers["carol"] = asyncio.Queue(), carol
    unsubscribe = layer.serialize({"type": events.UNSUBSCRIBE, "group": "channel.c"})
    later = layer.serialize({"type": events.MESSAGE_CREATED, "texts": ["after the removal"]})

    loop_layer.accept(loop_layer._get_group_channel_name("user.bob"), unsubscribe)
    loop_layer.accept(loop_layer._get_group_channel_name("channel.c"), later)
    await asyncio.wait_for(loop_layer._delivering, 1)

    assert carol.sent == ["after the removal"]
    assert bob.sent == [] and bob.queued == 1  # only the unsubscribe, for its consumer
    assert loop_layer.channels["bob"].get_nowait() == unsubscribe and loop_layer.channels["bob"].empty()
    assert loop_layer.groups[loop_layer._get_group_channel_name("channel.c")] == {"carol"}
    assert "bob" in loop_layer.groups[loop_layer._get_group_channel_name("channel.other")]  # other groups kept


async def test_a_removed_members_socket_hears_nothing_read_after_the_unsubscribe(ws, user_with_token):
    """The same through a real consumer: the unsubscribe and a later message of the
    channel read from Redis in one pass, before the consumer handles either."""
    alice, alice_token = await user_with_token()
    bob, bob_token = await user_with_token()
    channel_id = await make_channel(alice, bob)
    alice_socket, bob_socket = await ws(alice_token), await ws(bob_token)
    await asyncio.sleep(0.3)  # presence of the connects delivered
    layer = get_channel_layer()
    loop_layer = layer._get_layer()
    workspace_id = await in_thread(lambda: str(Channel.objects.get(pk=channel_id).workspace_id))
    unsubscribe = layer.serialize({"type": events.UNSUBSCRIBE, "group": events.channel_group(channel_id)})
    later = broadcast.frame_event(events.MESSAGE_CREATED, {"message": {"content": "after the removal"}})

    loop_layer.accept(loop_layer._get_group_channel_name(events.user_group(bob.pk, workspace_id)), unsubscribe)
    loop_layer.accept(loop_layer._get_group_channel_name(events.channel_group(channel_id)), layer.serialize(later))

    assert json.loads((await output_of_type(alice_socket, events.MESSAGE_CREATED))["text"])["message"] == {
        "content": "after the removal"
    }
    await asyncio.sleep(0.5)  # bob's consumer handled the unsubscribe (and anything queued behind it)
    heard = []
    while not bob_socket.output_queue.empty():
        heard.append(json.loads(bob_socket.output_queue.get_nowait()["text"])["type"])
    assert events.MESSAGE_CREATED not in heard, heard


async def test_a_subscribe_puts_its_sockets_in_the_group_as_it_is_read(loop_layer):
    """A new member's socket with the subscribe still queued gets the group's messages
    read after it (queued behind the subscribe), and its consumer is told to leave the
    group at close."""
    layer, loop_layer = loop_layer
    dana = StandIn()
    attach(loop_layer, loop_layer._get_group_channel_name("user.dana"), dana=dana)
    subscribe = layer.serialize({"type": events.SUBSCRIBE, "group": "channel.d"})
    later = layer.serialize({"type": events.MESSAGE_CREATED, "texts": ["after the join"]})

    loop_layer.accept(loop_layer._get_group_channel_name("user.dana"), subscribe)
    loop_layer.accept(loop_layer._get_group_channel_name("channel.d"), later)
    await asyncio.wait_for(loop_layer._delivering, 1)

    assert dana.groups == {"channel.d"}
    assert dana.queued == 2  # the subscribe, and the message behind it, in order
    assert [loop_layer.channels["dana"].get_nowait() for _ in range(2)] == [subscribe, later]


# --- review (s11): orderings the layer's early (un)subscribe must survive ------------------


async def _bob_in_a_channel(ws, user_with_token):
    alice, alice_token = await user_with_token()
    bob, bob_token = await user_with_token()
    channel_id = await make_channel(alice, bob)
    alice_socket, bob_socket = await ws(alice_token), await ws(bob_token)
    await asyncio.sleep(0.3)  # presence of the connects delivered
    workspace_id = await in_thread(lambda: str(Channel.objects.get(pk=channel_id).workspace_id))
    return channel_id, alice_socket, bob, bob_socket, workspace_id


def _gate_confirm(monkeypatch, event_type: str) -> asyncio.Event:
    """Hold every consumer in its confirm of `event_type` (a consumer slow to handle it)
    until the returned event is set."""
    from realtime.consumers import RealtimeConsumer

    gate, original = asyncio.Event(), RealtimeConsumer.confirm

    async def slow(self, event):
        if event["type"] == event_type:
            await gate.wait()
        await original(self, event)

    monkeypatch.setattr(RealtimeConsumer, "confirm", slow)
    return gate


def _consumer_of(user) -> object:
    """The (one) registered consumer of `user`'s socket in this process."""
    loop_layer = get_channel_layer()._get_layer()
    return next(c for c in loop_layer.consumers.values() if c.user_id == str(user.pk))


def _drain(comm) -> list[dict]:
    heard = []
    while not comm.output_queue.empty():
        heard.append(json.loads(comm.output_queue.get_nowait()["text"]))
    return heard


async def _read_together(ws, user_with_token, monkeypatch, kinds: tuple[str, str], content: str):
    """bob's socket in a channel reads the two membership events `kinds` of its group in
    one pass, its consumer held in its confirm of the first, then a message of the
    channel (alice heard it). Returns (bob, his socket, the loop layer, the channel's
    group, the gate that lets the confirm go on)."""
    channel_id, alice_socket, bob, bob_socket, workspace_id = await _bob_in_a_channel(ws, user_with_token)
    layer = get_channel_layer()
    loop_layer = layer._get_layer()
    gate = _gate_confirm(monkeypatch, kinds[0])
    group = events.channel_group(channel_id)
    user_group = loop_layer._get_group_channel_name(events.user_group(bob.pk, workspace_id))
    for kind in kinds:
        loop_layer.accept(user_group, layer.serialize({"type": kind, "group": group}))
    await asyncio.sleep(0.3)  # both read; bob's consumer is in its confirm of the first
    later = broadcast.frame_event(events.MESSAGE_CREATED, {"message": {"content": content}})
    loop_layer.accept(loop_layer._get_group_channel_name(group), layer.serialize(later))
    await output_of_type(alice_socket, events.MESSAGE_CREATED)
    return bob, bob_socket, loop_layer, group, gate


async def test_a_subscribe_then_unsubscribe_read_together_leave_the_socket_out_of_the_group(
    ws, user_with_token, monkeypatch
):
    """Join then removal read in one pass: the consumer handling the stale subscribe must
    not put the removed socket back in the group until it gets to the unsubscribe (a
    message read meanwhile was queued behind and written to the removed member)."""
    bob, bob_socket, loop_layer, group, gate = await _read_together(
        ws, user_with_token, monkeypatch, (events.SUBSCRIBE, events.UNSUBSCRIBE), "after the removal"
    )
    gate.set()
    await asyncio.sleep(0.3)
    assert "after the removal" not in json.dumps(_drain(bob_socket))
    assert _consumer_of(bob).channel_name not in loop_layer.groups.get(loop_layer._get_group_channel_name(group), ())


async def test_an_unsubscribe_then_subscribe_read_together_leave_the_socket_in_the_group(
    ws, user_with_token, monkeypatch
):
    """Removal then rejoin (or a rolled-back removal: member_resubscribe) read in one pass:
    the consumer handling the stale unsubscribe must not take the socket out of the
    group again (a message read meanwhile was lost for the member)."""
    bob, bob_socket, loop_layer, group, gate = await _read_together(
        ws, user_with_token, monkeypatch, (events.UNSUBSCRIBE, events.SUBSCRIBE), "after the rejoin"
    )
    gate.set()
    frame = await output_of_type(bob_socket, events.MESSAGE_CREATED, within=2)
    assert json.loads(frame["text"])["message"] == {"content": "after the rejoin"}
    assert _consumer_of(bob).channel_name in loop_layer.groups[loop_layer._get_group_channel_name(group)]
    assert group in _consumer_of(bob).subscriptions


async def test_a_socket_closing_while_its_subscribe_is_applied_leaves_no_group_behind(ws, user_with_token):
    """The layer's group_add waits for Redis (here: for the shard, held busy); the socket
    closes meanwhile. Its consumer must still leave the group (and the shard its
    subscription) at close."""
    dana, dana_token = await user_with_token()
    dana_socket = await ws(dana_token)
    await asyncio.sleep(0.3)
    consumer = _consumer_of(dana)
    layer = get_channel_layer()
    loop_layer = layer._get_layer()
    user_group = next(g for g in consumer.subscriptions if g.startswith("user."))
    group = "channel.review-closing"
    group_channel = loop_layer._get_group_channel_name(group)
    shard = loop_layer._get_shard(group_channel)
    # Another socket of the user group (of another loop's consumer, say): leaving it at
    # close then needs no Redis round trip, so the close completes before the subscribe.
    loop_layer.groups[loop_layer._get_group_channel_name(user_group)].add("elsewhere")
    async with shard._lock:  # Redis slow to answer the SUBSCRIBE
        loop_layer.accept(
            loop_layer._get_group_channel_name(user_group), layer.serialize({"type": events.SUBSCRIBE, "group": group})
        )
        await asyncio.sleep(0.1)  # the layer is in group_add
        await dana_socket.send_input({"type": "websocket.disconnect", "code": 1000})
        await asyncio.sleep(0.3)  # the consumer is in (or done with) its cleanup
    await dana_socket.wait(timeout=3)
    await asyncio.sleep(0.2)
    user_members = loop_layer.groups[loop_layer._get_group_channel_name(user_group)]
    user_members.discard("elsewhere")
    if not user_members:
        del loop_layer.groups[loop_layer._get_group_channel_name(user_group)]
    assert consumer.channel_name not in loop_layer.groups.get(group_channel, ())
    assert group_channel not in shard._subscribed_to


async def test_a_socket_removed_while_it_connects_does_not_join_from_the_older_read(ws, user_with_token, monkeypatch):
    """The connect read bob's groups (still a member), then the unsubscribe of his
    removal is read, then the connect joins what it read: the socket must not end up in
    the channel's group, nor hear its messages read meanwhile (queued behind the
    unsubscribe, they were written once the connect was done)."""
    from realtime.consumers import RealtimeConsumer

    alice, _alice_token = await user_with_token()
    bob, bob_token = await user_with_token()
    channel_id = await make_channel(alice, bob)
    layer = get_channel_layer()
    loop_layer = layer._get_layer()
    group = events.channel_group(channel_id)
    original = RealtimeConsumer.join

    async def join_around_a_removal(self, groups):
        if self.user_id != str(bob.pk) or group not in groups:
            return await original(self, groups)
        user_group = loop_layer._get_group_channel_name(events.user_group(self.user_id, self.workspace.pk))
        loop_layer.accept(user_group, layer.serialize({"type": events.UNSUBSCRIBE, "group": group}))
        await asyncio.sleep(0.1)  # read by the layer
        await original(self, groups)
        later = broadcast.frame_event(events.MESSAGE_CREATED, {"message": {"content": "after the removal"}})
        loop_layer.accept(loop_layer._get_group_channel_name(group), layer.serialize(later))
        await asyncio.sleep(0.1)

    monkeypatch.setattr(RealtimeConsumer, "join", join_around_a_removal)
    bob_socket = await ws(bob_token)
    await asyncio.sleep(0.3)
    assert "after the removal" not in json.dumps(_drain(bob_socket))
    assert _consumer_of(bob).channel_name not in loop_layer.groups.get(loop_layer._get_group_channel_name(group), ())
    assert group not in _consumer_of(bob).subscriptions


async def test_a_socket_connecting_during_a_removal_does_not_keep_the_channel(ws, user_with_token, monkeypatch):
    """bob's socket joins its user group just after the removal's unsubscribe was sent (it
    misses it) and reads his groups before the removal is committed (the channel is
    still his): once the removal is announced, the socket must hear nothing more of
    the channel."""
    from channels_app.models import ChannelMember
    from realtime.consumers import RealtimeConsumer

    alice, alice_token = await user_with_token()
    bob, bob_token = await user_with_token()
    channel_id = await make_channel(alice, bob)
    alice_socket = await ws(alice_token)
    workspace_id = await in_thread(lambda: str(Channel.objects.get(pk=channel_id).workspace_id))
    original = RealtimeConsumer.join

    async def join_after_the_unsubscribe(self, groups):
        if self.user_id == str(bob.pk) and len(groups) == 1:  # the user group, before the read
            await in_thread(
                broadcast.member_unsubscribe, channel_id=channel_id, user_id=str(bob.pk), workspace_id=workspace_id
            )
        await original(self, groups)

    monkeypatch.setattr(RealtimeConsumer, "join", join_after_the_unsubscribe)
    bob_socket = await ws(bob_token)
    # The removal commits (the membership goes) and is announced.
    await in_thread(lambda: ChannelMember.objects.filter(channel_id=channel_id, user=bob).delete())
    removal_seq = await in_thread(lambda: MessageSequence.objects.get(conversation_id=channel_id).last_seq)
    await in_thread(
        broadcast.member_removed_announce,
        channel_id=channel_id,
        user_id=str(bob.pk),
        workspace_id=workspace_id,
        seq=removal_seq,
    )
    await output_of_type(bob_socket, events.MEMBER_LEFT)
    later = broadcast.frame_event(events.MESSAGE_CREATED, {"message": {"content": "after the removal"}})
    await in_thread(
        lambda: broadcast.delivery._deliver("t", lambda **_: [[("send", events.channel_group(channel_id), later)]])
    )
    await output_of_type(alice_socket, events.MESSAGE_CREATED)
    await asyncio.sleep(0.3)
    assert "after the removal" not in json.dumps(_drain(bob_socket))


async def test_a_late_member_left_does_not_undo_a_rejoin_the_socket_heard(ws, user_with_token):
    """The removal's member.left for bob himself is sent after its commit, so a quick
    rejoin's subscribe can be read before it: a socket that heard the unsubscribe and
    then the subscribe stays in the group (only a socket that heard neither leaves it)."""
    channel_id, _alice_socket, bob, bob_socket, workspace_id = await _bob_in_a_channel(ws, user_with_token)
    layer = get_channel_layer()
    loop_layer = layer._get_layer()
    group = events.channel_group(channel_id)
    user_group = loop_layer._get_group_channel_name(events.user_group(bob.pk, workspace_id))
    removal_seq, rejoin_seq = 5, 7
    left = broadcast.frame_event(
        events.MEMBER_LEFT,
        {"channel_id": channel_id, "user_id": str(bob.pk)},
        **{events.UNSUBSCRIBE_IF_OLDER: group, events.MEMBERSHIP_SEQ: removal_seq},
    )
    later = broadcast.frame_event(events.MESSAGE_CREATED, {"message": {"content": "after the rejoin"}})

    loop_layer.accept(
        user_group, layer.serialize({"type": events.UNSUBSCRIBE, "group": group, events.MEMBERSHIP_SEQ: removal_seq})
    )
    loop_layer.accept(
        user_group, layer.serialize({"type": events.SUBSCRIBE, "group": group, events.MEMBERSHIP_SEQ: rejoin_seq})
    )
    loop_layer.accept(user_group, layer.serialize(left))
    loop_layer.accept(loop_layer._get_group_channel_name(group), layer.serialize(later))

    frame = await output_of_type(bob_socket, events.MESSAGE_CREATED)
    assert json.loads(frame["text"])["message"] == {"content": "after the rejoin"}
    assert group in _consumer_of(bob).subscriptions


async def test_a_join_announced_late_does_not_put_back_a_member_removed_since(ws, user_with_token, monkeypatch):
    """alice adds bob; his join's subscribe is published after its commit (outside the
    channel's lock), so the removal that follows can publish its unsubscribe first. That
    stale subscribe, read after the unsubscribe and before the removal's member.left,
    must not leave bob's socket in the channel: he is no member."""
    from channels_app import services_manage

    alice, alice_token = await user_with_token()
    bob, bob_token = await user_with_token()
    channel_id = await make_channel(alice)
    alice_socket, bob_socket = await ws(alice_token), await ws(bob_token)
    await asyncio.sleep(0.3)  # presence of the connects delivered
    held = []
    joined, unsubscribe = broadcast.member_joined, broadcast.member_unsubscribe
    monkeypatch.setattr(broadcast, "member_joined", lambda **kwargs: held.append(kwargs))

    def unsubscribe_then_the_late_join(**kwargs):
        unsubscribe(**kwargs)
        for late in held:  # the join's on_commit, slower than the removal's unsubscribe
            joined(**late)

    monkeypatch.setattr(broadcast, "member_unsubscribe", unsubscribe_then_the_late_join)
    await in_thread(services_manage.channel_members_add, user=alice, channel_id=channel_id, user_ids=[bob.pk])
    await in_thread(services_manage.channel_member_remove, user=alice, channel_id=channel_id, user_id=bob.pk)
    left = await output_of_type(bob_socket, events.MEMBER_LEFT)
    # The frame is the contract's, without the layer's meta (shared/API.md).
    assert json.loads(left["text"]) == {"type": "member.left", "channel_id": channel_id, "user_id": str(bob.pk)}
    await in_thread(messaging_services.message_send, sender=alice, channel_id=channel_id, content="after the removal")
    await output_of_type(alice_socket, events.MESSAGE_CREATED)
    await asyncio.sleep(0.3)
    assert "after the removal" not in json.dumps(_drain(bob_socket))
    # Added again (announced in time): his subscribe is newer than the removal.
    monkeypatch.setattr(broadcast, "member_joined", joined)
    await in_thread(services_manage.channel_members_add, user=alice, channel_id=channel_id, user_ids=[bob.pk])
    await output_of_type(bob_socket, events.MEMBER_JOINED)
    await in_thread(messaging_services.message_send, sender=alice, channel_id=channel_id, content="after the rejoin")
    frame = await output_of_type(bob_socket, events.MESSAGE_CREATED)
    assert json.loads(frame["text"])["message"]["content"] == "after the rejoin"


async def test_a_connecting_socket_that_missed_the_unsubscribe_and_heard_a_late_join_leaves(ws, user_with_token):
    """bob's socket joined the channel from its connect's read and missed the removal's
    unsubscribe; then it hears the subscribe of the join before that removal (published
    late), then the removal's own member.left: it leaves the group. A rejoin's subscribe
    (newer than the removal) heard before that member.left still wins."""
    channel_id, _alice_socket, bob, bob_socket, workspace_id = await _bob_in_a_channel(ws, user_with_token)
    layer = get_channel_layer()
    loop_layer = layer._get_layer()
    group = events.channel_group(channel_id)
    user_group = loop_layer._get_group_channel_name(events.user_group(bob.pk, workspace_id))

    def left(seq):
        fields = {"channel_id": channel_id, "user_id": str(bob.pk)}
        meta = {events.UNSUBSCRIBE_IF_OLDER: group, events.MEMBERSHIP_SEQ: seq}
        return layer.serialize(broadcast.frame_event(events.MEMBER_LEFT, fields, **meta))

    loop_layer.accept(user_group, layer.serialize({"type": events.SUBSCRIBE, "group": group, "membership_seq": 4}))
    loop_layer.accept(user_group, left(5))
    await output_of_type(bob_socket, events.MEMBER_LEFT)
    assert group not in _consumer_of(bob).subscriptions
    assert _consumer_of(bob).channel_name not in loop_layer.groups.get(loop_layer._get_group_channel_name(group), ())

    loop_layer.accept(user_group, layer.serialize({"type": events.SUBSCRIBE, "group": group, "membership_seq": 7}))
    loop_layer.accept(user_group, left(5))  # an older removal's, read late
    await output_of_type(bob_socket, events.MEMBER_LEFT)
    assert group in _consumer_of(bob).subscriptions
    assert _consumer_of(bob).channel_name in loop_layer.groups[loop_layer._get_group_channel_name(group)]


async def test_a_socket_that_connected_after_a_rejoin_keeps_the_channel_on_the_older_removals_member_left(
    ws, user_with_token
):
    """bob was removed and added again; his socket connected after the rejoin committed
    (it read the channel among his groups, with the channel's seq then), and only then
    is the removal's own member.left read, late: its seq is older than that read, so the
    socket stays. A member.left not older than the read takes it out."""
    alice, alice_token = await user_with_token()
    bob, bob_token = await user_with_token()
    channel_id = await make_channel(alice, bob)
    for text in ("one", "two"):
        await in_thread(messaging_services.message_send, sender=alice, channel_id=channel_id, content=text)
    read_at = await in_thread(lambda: MessageSequence.objects.get(conversation_id=channel_id).last_seq)
    alice_socket, bob_socket = await ws(alice_token), await ws(bob_token)  # bob's reads the channel at read_at
    await asyncio.sleep(0.3)  # presence of the connects delivered
    layer = get_channel_layer()
    loop_layer = layer._get_layer()
    workspace_id = await in_thread(lambda: str(Channel.objects.get(pk=channel_id).workspace_id))
    group = events.channel_group(channel_id)
    user_group = loop_layer._get_group_channel_name(events.user_group(bob.pk, workspace_id))

    async def member_left_then_a_message(seq: int, content: str) -> None:
        fields = {"channel_id": channel_id, "user_id": str(bob.pk)}
        meta = {events.UNSUBSCRIBE_IF_OLDER: group, events.MEMBERSHIP_SEQ: seq}
        loop_layer.accept(user_group, layer.serialize(broadcast.frame_event(events.MEMBER_LEFT, fields, **meta)))
        message = broadcast.frame_event(events.MESSAGE_CREATED, {"message": {"content": content}})
        loop_layer.accept(loop_layer._get_group_channel_name(group), layer.serialize(message))
        await output_of_type(bob_socket, events.MEMBER_LEFT)
        await output_of_type(alice_socket, events.MESSAGE_CREATED)
        await asyncio.sleep(0.3)

    await member_left_then_a_message(read_at - 1, "after an older removal")
    assert "after an older removal" in json.dumps(_drain(bob_socket))
    assert group in _consumer_of(bob).subscriptions

    await member_left_then_a_message(read_at, "after a removal since the read")
    assert "after a removal since the read" not in json.dumps(_drain(bob_socket))
    assert group not in _consumer_of(bob).subscriptions
