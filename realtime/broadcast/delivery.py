"""How a broadcast is delivered: the operations run on the channel layer, the
timeout and cool-down, the Redis pub/sub fast path, and the live-socket registry
lookups the membership events need (see the package docstring)."""

import asyncio
import json
import logging
import time

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer
from channels_redis.utils import _consistent_hash
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from redis.exceptions import RedisError

from realtime import events
from slackclone import errors, metrics

logger = logging.getLogger(__name__)

COOLDOWN_SECONDS = 1.0
# With an in-process-groups layer: how long a membership change waits for the user's
# sockets to confirm that they joined or left the group.
SUBSCRIBE_WAIT_SECONDS = 0.5
# A presence change goes to every channel and DM of the user: at most this many
# group sends at once (each may take its own Redis connection).
MAX_CONCURRENT_SENDS = 16

_cooldown_until = 0.0

# An operation is ("send", group, event), ("add", group, channel_name),
# ("discard", group, channel_name) or ("send_and_wait", group, (event, connections)):
# send the event with a reply channel and wait until each of those connections
# answered on it. A step is a list of operations run concurrently; steps run one after
# the other.
Operation = tuple[str, str, object]


def _timeout() -> float:
    return float(settings.REALTIME_BROADCAST_TIMEOUT_SECONDS)


def frame_event(event_type: str, fields: dict, **meta) -> dict:
    """A layer event that the consumer forwards as the frame {"type": event_type, **fields}.

    The frame is encoded once here, not once per receiving socket. `meta` travels
    beside it for the consumer (e.g. who is typing, a presence event's id)."""
    text = json.dumps({"type": event_type, **fields}, cls=DjangoJSONEncoder, separators=(",", ":"))
    return {"type": event_type, "text": text, **meta}


async def _run(layer, steps: list[list[Operation]]) -> None:
    limit = asyncio.Semaphore(MAX_CONCURRENT_SENDS)

    async def apply(kind: str, group: str, payload) -> None:
        async with limit:
            if kind == "send":
                await layer.group_send(group, payload)
            elif kind == "send_and_wait":
                await _send_and_wait(layer, group, *payload)
            elif kind == "add":
                await layer.group_add(group, payload)
            else:
                await layer.group_discard(group, payload)

    async with asyncio.timeout(_timeout()):
        for step in steps:
            if len(step) == 1:
                await apply(*step[0])
            elif step:
                await asyncio.gather(*(apply(*op) for op in step))


async def _send_and_wait(layer, group: str, event: dict, connections: list[str]) -> None:
    """group_send `event` with a reply channel; wait until every one of `connections`
    answered {"connection": name} on it (or SUBSCRIBE_WAIT_SECONDS passed)."""
    if not connections:
        await layer.group_send(group, event)
        return
    reply_to = await layer.new_channel("reply.")
    pending = set(connections)
    try:
        await layer.group_send(group, {**event, "reply_to": reply_to})
        async with asyncio.timeout(SUBSCRIBE_WAIT_SECONDS):
            while pending:
                pending.discard((await layer.receive(reply_to)).get("connection"))
    except TimeoutError:
        logger.info("realtime: %d socket(s) did not confirm %s of %s in time", len(pending), event["type"], group)
    finally:
        _forget_channel(layer, reply_to)


def _forget_channel(layer, channel: str) -> None:
    """Drop a reply channel of a pub/sub layer (its receive() only does so when cancelled)."""
    try:
        loop_layer = layer._get_layer()
    except AttributeError:  # not a pub/sub layer: nothing is held for the channel
        return
    if loop_layer.channels.pop(channel, None) is not None:
        asyncio.get_running_loop().create_task(_unsubscribe(loop_layer, channel))


async def _unsubscribe(loop_layer, channel: str) -> None:
    try:
        await loop_layer._get_shard(channel).unsubscribe(channel)
    except Exception as exc:  # best-effort: the subscription dies with the connection
        logger.debug("realtime: could not unsubscribe %s: %r", channel, exc)


def _deliver(what: str, build) -> None:
    """Build the steps (which may read the presence registry) and run them; never raise."""
    global _cooldown_until
    if time.monotonic() < _cooldown_until:
        logger.debug("realtime: %s skipped (channel layer cooling down)", what)
        return
    try:
        layer = get_channel_layer()
        if layer is None:
            return
        steps = build(remote_membership=_remote_membership(layer))
        if _can_publish_now(layer, steps):
            _publish_now(layer, steps)
        else:
            async_to_sync(_run)(layer, steps)
        metrics.BROADCASTS.labels(what.split(" ", 1)[0], "ok").inc()
    except (RedisError, OSError, TimeoutError, errors.StoreUnavailable) as exc:
        _cooldown_until = time.monotonic() + COOLDOWN_SECONDS
        metrics.BROADCASTS.labels(what.split(" ", 1)[0], "failed").inc()
        logger.warning("realtime: %s not delivered, channel layer unavailable: %r", what, exc)
    except (Exception, asyncio.CancelledError) as exc:  # best-effort by contract
        metrics.BROADCASTS.labels(what.split(" ", 1)[0], "failed").inc()
        logger.warning("realtime: %s not delivered: %r", what, exc, exc_info=isinstance(exc, Exception))


# --- The pub/sub fast path -----------------------------------------------------------
# A group_send of the Redis pub/sub layer is one PUBLISH of the serialised event on the
# group's Redis channel. Done from the calling thread with a plain (sync) Redis client,
# it skips the hop onto the process's event loop that async_to_sync costs (the loop is
# busy writing frames to sockets): that hop was half of the time message_send holds the
# per-conversation lock (docs/performance.md).

_sync_clients: dict[str, object] = {}


def _sync_client(host: dict):
    import redis

    address = host["address"]
    client = _sync_clients.get(address)
    if client is None:
        options = {k: v for k, v in host.items() if k in ("socket_connect_timeout",)}
        client = _sync_clients[address] = redis.Redis.from_url(address, socket_timeout=_timeout(), **options)
    return client


def _can_publish_now(layer, steps: list[list[Operation]]) -> bool:
    """A pub/sub layer, only sends, and not on an event loop's thread (there the call
    fails like any async_to_sync there: blocking the loop on Redis is not an option)."""
    if not isinstance(layer, RedisPubSubChannelLayer):
        return False
    try:
        asyncio.get_running_loop()
        return False
    except RuntimeError:
        return all(op[0] == "send" for step in steps for op in step)


def _publish_now(layer: RedisPubSubChannelLayer, steps: list[list[Operation]]) -> None:
    config = settings.CHANNEL_LAYERS["default"].get("CONFIG", {})
    hosts = [h if isinstance(h, dict) else {"address": h} for h in config.get("hosts") or []]
    prefix = config.get("prefix", "asgi")
    for step in steps:
        for _kind, group, event in step:
            channel = f"{prefix}__group__{group}"
            host = hosts[_consistent_hash(channel, len(hosts))]
            _sync_client(host).publish(channel, layer.serialize(event))


def _remote_membership(layer) -> bool:
    """Whether this process may add another process's channel to a group. The Redis
    layer keeps groups in Redis (yes); the Redis pub/sub and in-memory layers keep them
    in-process (no: the sockets then subscribe when their subscribe event arrives)."""
    return isinstance(layer, RedisChannelLayer)


def _live_connections(user_ids: list[str], workspace_id: str) -> dict[str, list[str]]:
    """user id -> the channel-layer names of their live sockets of `workspace_id`."""
    from presence import store  # presence imports this module; import at call time

    found = store.live_connections(user_ids=user_ids)
    return {uid: events.connections_of_workspace(members, workspace_id) for uid, members in found.items()}


def _conversation_fields(*, channel_id=None, conversation_id=None) -> dict:
    return {"channel_id": str(channel_id)} if channel_id is not None else {"conversation_id": str(conversation_id)}
