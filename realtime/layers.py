"""The channel layer: channels_redis' Redis pub/sub layer with a process-local fan-out.

Why (issue 13, section 3; docs/performance.md)
-----------------------------------------------
With channels_redis' pub/sub layer a group message reaches a process once (one Redis
subscription per group), and then costs, PER LOCAL SOCKET: a put into the socket's
in-process queue, the wake-up of its consumer's receive task (channels'
`await_many_dispatch`: an `asyncio.wait`, a new task per message), a msgpack decode of
the same event, a dispatch, and the ASGI send. At 500 sockets per process that machinery
was about as much CPU as the frame writes themselves (py-spy, docs/performance.md).

What this layer does instead
----------------------------
Every message read from Redis goes, in arrival order, through ONE delivery task of the
process. For a group message it decodes the event once, and for each local socket of
the group whose consumer registered itself (`register`) and has nothing in flight
(no layer event queued or being handled, no client frame being handled: see
`RealtimeConsumer.can_take_now`) it asks the consumer for the frames of that event
(`frames_of`: the already-encoded texts, after the consumer's own filters: typing not
back to the typist, presence repeats, `skip_connection`) and writes them with one ASGI
`websocket.send` message per text shared by every socket. Anything else (a consumer that
is busy, or events that need the consumer: subscribe, unsubscribe, sessions.close, or a
consumer that does not register) goes into the socket's queue exactly as before. So the
order of everything one socket receives is the order the process read it from Redis,
as before (a socket with something queued gets the rest queued behind it; a socket busy
with a client frame, e.g. a message.send, gets the frames of that time after its answer:
`message.ack` still precedes the `message.created` of the same message).

Only groups the socket joined reach it (the layer's groups, joined and left by the
consumer and realtime.broadcast as before); a socket that leaves a group or closes is
no longer in it, and `unregister` at close drops it from the registry. A
realtime.unsubscribe (a member removed or leaving) takes its sockets out of the group the
moment the event is read from Redis (`_leave_now`), so nothing of the group read after it
reaches them, however long their consumers take to handle it; a realtime.subscribe (a new
member) puts its registered sockets in the group the same way (`_join_now`).

`local_fanout: False` in the layer's CONFIG (env `REALTIME_LOCAL_FANOUT=false`) turns
this off: every message then goes to the sockets' queues as in channels_redis (the
same-run baseline of bench/fanout.py).

This relies on channels_redis 4.3's pub/sub internals (`RedisPubSubLoopLayer.channels`,
`.groups`, `RedisSingleShardConnection._receive_message`), pinned in requirements.txt;
tests/realtime/test_local_fanout.py pins the behaviour.
"""

import asyncio
import logging
import types
from collections import deque

from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer, RedisSingleShardConnection
from channels_redis.utils import _wrap_close

from realtime import events
from slackclone.transports import coalesced_writes

logger = logging.getLogger(__name__)

# Seen in an event's msgpack bytes before it is decoded to check its type: a part of
# realtime.subscribe, realtime.unsubscribe and the key UNSUBSCRIBE_IF_OLDER.
_SUBSCRIBE_MARK = b"subscribe"


class LocalFanoutPubSubLayer(RedisPubSubChannelLayer):
    """channels_redis' RedisPubSubChannelLayer whose per-event-loop layer fans group
    messages out to the process's registered consumers directly (module docstring)."""

    def __init__(self, *args, local_fanout: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.local_fanout = local_fanout

    def _get_layer(self):
        loop = asyncio.get_running_loop()
        try:
            return self._layers[loop]
        except KeyError:
            layer = LocalFanoutLoopLayer(*self._args, **self._kwargs, channel_layer=self)
            self._layers[loop] = layer
            _wrap_close(self, loop)
            return layer

    # Sync (the consumer calls them on its loop, without awaiting anything).
    def register(self, channel_name: str, consumer) -> None:
        """Let the layer write frames of `channel_name`'s group messages through `consumer`
        (frames_of, can_take_now, send_now, layer_event_queued, subscribed,
        unsubscribed). Call before the first group_add of the channel; `unregister` when it closes."""
        self._get_layer().consumers[channel_name] = consumer

    def unregister(self, channel_name: str) -> None:
        self._get_layer().consumers.pop(channel_name, None)

    def consumers_here(self) -> dict[str, object]:
        """{channel name: consumer} of the sockets registered on the running loop (a copy;
        realtime.audit)."""
        return dict(self._get_layer().consumers)

    async def leave_if_older(self, group: str, channel_names: list[str], seq: int) -> None:
        """Take the registered sockets `channel_names` out of `group` unless their consumer
        knows of a membership change of it newer than `seq` (`departed`), as a user's own
        member.left does when it is read (realtime.audit)."""
        await self._get_layer()._leave_if_older(group, channel_names, seq)

    async def join_if_newer(self, group: str, channel_names: list[str], seq: int | None) -> None:
        """Put the registered sockets `channel_names` into `group` unless their consumer
        knows of a membership change of it as new as `seq` or newer (`subscribed`), as a
        realtime.subscribe does when it is read (realtime.audit)."""
        await self._get_layer()._join_now(group, channel_names, seq)

    def deliver_here(self, channel_name: str, event: dict) -> None:
        """Hand `event` to the local socket `channel_name` as if it had been read from
        Redis now (in order behind what was read before it), without Redis: a repair that
        must not depend on the store whose outage it repairs (realtime.audit)."""
        layer = self._get_layer()
        layer.accept(channel_name, self.serialize(event))

    def registered(self) -> int:
        """How many consumers of the running loop are registered (tests: no leak)."""
        return len(self._get_layer().consumers)


class LocalFanoutLoopLayer(RedisPubSubLoopLayer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # channel name -> consumer, of this loop's sockets that registered
        self.consumers: dict[str, object] = {}
        self._inbox: deque[tuple[str, bytes]] = deque()
        self._delivering: asyncio.Task | None = None
        self._shards = [LocalFanoutShard(shard.host, self) for shard in self._shards]
        self.stats = {"decoded": 0, "direct": 0, "queued": 0}  # tests and bench

    def accept(self, name: str, data: bytes) -> None:
        """A message read from Redis on channel `name`: delivered in arrival order by
        the one delivery task."""
        self._inbox.append((name, data))
        if self._delivering is None:
            self._delivering = asyncio.get_running_loop().create_task(self._deliver_all())

    async def _deliver_all(self) -> None:
        try:
            # A socket's frames of this pass go out as one write (slackclone.transports).
            with coalesced_writes():
                while self._inbox:
                    name, data = self._inbox.popleft()
                    try:
                        await self._deliver(name, data)
                    except Exception:  # one bad message must not stop the delivery of the rest
                        logger.exception("realtime: local fan-out of a message on %s failed", name)
        finally:
            self._delivering = None
            if self._inbox:  # cancelled with messages left (loop closing): nothing to do
                self._inbox.clear()

    def _queue(self, channel: str, queue: asyncio.Queue, data: bytes) -> None:
        consumer = self.consumers.get(channel)
        if consumer is not None:
            consumer.layer_event_queued()
        queue.put_nowait(data)
        self.stats["queued"] += 1

    async def _deliver(self, name: str, data: bytes) -> None:
        queue = self.channels.get(name)
        if queue is not None:  # a specific channel (a reply channel, a consumer's own)
            self._queue(name, queue, data)
            return
        members = self.groups.get(name)
        if not members:
            return
        event = None
        if _SUBSCRIBE_MARK in data:  # a membership change (see the mark)
            event = self.channel_layer.deserialize(data)
            seq = event.get(events.MEMBERSHIP_SEQ)
            if event["type"] == events.UNSUBSCRIBE:
                await self._leave_now(event["group"], list(members), seq)
            elif event["type"] == events.SUBSCRIBE:
                await self._join_now(event["group"], list(members), seq)
            elif event.get(events.UNSUBSCRIBE_IF_OLDER) and seq is not None:
                await self._leave_if_older(event[events.UNSUBSCRIBE_IF_OLDER], list(members), seq)
        sends: dict[str, dict] = {}  # text -> the one ASGI message for every socket
        for channel in list(members):
            queue = self.channels.get(channel)
            if queue is None:
                continue
            consumer = self.consumers.get(channel)
            if consumer is None or not self.channel_layer.local_fanout or not consumer.can_take_now():
                self._queue(channel, queue, data)
                continue
            if event is None:
                event = self.channel_layer.deserialize(data)
                self.stats["decoded"] += 1
            texts = consumer.frames_of(event)
            if texts is None:  # the consumer must handle this event itself
                self._queue(channel, queue, data)
                continue
            self.stats["direct"] += 1
            for text in texts:
                message = sends.get(text)
                if message is None:
                    message = sends[text] = {"type": "websocket.send", "text": text}
                await send_eagerly(consumer, message)

    async def _leave_now(self, group: str, channels: list[str], seq: int | None = None) -> None:
        """Take `channels` (local sockets a realtime.unsubscribe is addressed to) out of
        `group` as the event is read, not when each consumer gets to it: a message of
        the group read after the event (published after it: one Redis connection keeps
        the publish order) then reaches none of them, even when a consumer is slow to
        handle the event and the broadcaster stopped waiting for its confirmation
        (SUBSCRIBE_WAIT_SECONDS). Without this, the group's messages that arrived in the
        meantime were queued behind the event and then written to a removed member's
        socket. The consumer is told (`unsubscribed`) and, handling the event later, only
        confirms it: were it to repeat the group_discard, a subscribe read meanwhile (a
        quick rejoin) would be undone until it got to that one too. `seq`:
        events.MEMBERSHIP_SEQ, recorded by the consumer."""
        for channel in channels:
            consumer = self.consumers.get(channel)
            if consumer is not None:
                consumer.unsubscribed(group, seq)
            await self.group_discard(group, channel)

    async def _leave_if_older(self, group: str, channels: list[str], seq: int) -> None:
        """A user's own member.left (after the removal or leave committed; realtime.broadcast
        `member_removed_announce`), of the removal with `seq`: the registered sockets whose
        consumer says so (`departed`: those that know of no membership change of `group`
        newer than the removal) leave it now, in the order of the stream."""
        for channel in channels:
            consumer = self.consumers.get(channel)
            if consumer is not None and consumer.departed(group, seq):
                await self.group_discard(group, channel)

    async def _join_now(self, group: str, channels: list[str], seq: int | None = None) -> None:
        """The other way round: put the registered sockets a realtime.subscribe (a new
        member) is addressed to into `group` as the event is read, so they hear every
        message of the group read after it, even when a consumer confirms too late. The
        consumer records the group before the layer waits for Redis (`subscribed`: left
        when it closes, also if it closes while the SUBSCRIBE is under way or before
        handling the event, which it then only confirms). A subscribe whose `seq`
        (events.MEMBERSHIP_SEQ) is not newer than a membership change the socket heard
        (a join published after its commit, read after the next removal's unsubscribe)
        is stale: the socket stays as it is. A join whose SUBSCRIBE fails (Redis
        unreachable) is undone, on the consumer and in the local group: channels_redis
        would keep the socket in the group without the subscription and never make it
        once Redis is back, and the socket would count the group as joined, so no later
        join (the audit's, realtime.audit) would make it either."""
        for channel in channels:
            consumer = self.consumers.get(channel)
            if consumer is None or channel not in self.channels:
                continue
            undo = consumer.subscribed(group, seq)
            if not undo:
                continue
            try:
                await self.group_add(group, channel)
            except Exception:
                undo()
                await self.group_discard(group, channel)
                raise


class LocalFanoutShard(RedisSingleShardConnection):
    def _receive_message(self, message):
        if message is None:
            return
        name = message["channel"]
        if isinstance(name, bytes):
            name = name.decode()
        self.channel_layer.accept(name, message["data"])


async def send_eagerly(consumer, message: dict) -> None:
    """`await consumer.send_now(message)` when it completes without suspending (daphne's
    send never suspends); when it would suspend (a server with write backpressure,
    e.g. uvicorn's websockets on a full buffer), the rest of it runs as its own task,
    recorded on the consumer (`sending`), so one slow socket does not hold up the
    fan-out to the others, and the consumer handles nothing else until it is done."""
    coro = consumer.send_now(message)
    try:
        pending = coro.send(None)
    except StopIteration:
        return
    except Exception as exc:  # a socket closing meanwhile: its own business, not the others'
        logger.debug("realtime: a local fan-out send failed: %r", exc)
        return
    task = asyncio.get_running_loop().create_task(_finish(coro, pending))
    task.add_done_callback(_retrieve)
    consumer.sending = task


async def _finish(coro, pending):
    return await _resume(coro, pending)


def _retrieve(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.debug("realtime: a local fan-out send failed: %r", task.exception())


@types.coroutine
def _resume(coro, pending):
    """Continue a coroutine that was started by hand and yielded `pending` (a future),
    as the task running this would have (what asyncio's eager tasks do in 3.12)."""
    while True:
        try:
            value = yield pending
        except BaseException as exc:  # thrown into the task (cancellation): pass it on
            try:
                pending = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                pending = coro.send(value)
            except StopIteration as stop:
                return stop.value
