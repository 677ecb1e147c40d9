"""The realtime hook that services call after a write is durable.

Every function is synchronous, best-effort and never raises: realtime delivery is
degraded, never a reason to fail a write that has been stored. Payloads are already
in the API's shape (a Message is what the REST API would answer).

How a call is delivered
-----------------------
The channel-layer operations run on an event loop through `async_to_sync`: from a
request or `database_sync_to_async` thread of a server process that is the process's
own loop (so the layer's Redis pool is shared), from plain sync code (a management
command, a test) a short-lived loop. The whole call is bounded by
REALTIME_BROADCAST_TIMEOUT_SECONDS (default 1 s). Any failure is logged as a warning
and swallowed; after a connection failure or a timeout the process skips broadcasts
for a short cool-down (1 s), so a dead Redis costs a send at most one timeout, not one
per message while a per-conversation lock is held.

Subscriptions
-------------
A socket joins its user's, channels' and DMs' groups when it connects. When a
membership changes later (member_joined, member_left, dm_created), the user's live
sockets are added to or removed from the conversation's group right here (their
channel-layer names are in the presence registry), before anything is sent to that
group, so the next event already reaches them; and a `realtime.subscribe` /
`realtime.unsubscribe` event to the user's group tells each socket to record the
change (and repeat it, harmlessly) so it leaves the right groups when it closes.
With a channel layer that keeps groups in-process (Redis pub/sub, the default since
issue 8; in-memory) another process's socket cannot be added from here: the event then
carries a `reply_to` channel, every live socket of the user answers on it once it has
joined (or left) the group, and this call waits for those answers (at most
SUBSCRIBE_WAIT_SECONDS; a stale registry entry only costs that wait) before anything
is sent to the group, so the next event reaches them there too.
"""

import asyncio
import json
import logging
import time
import uuid

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
# per-conversation lock (README "Performance").

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


# --- Messages -------------------------------------------------------------------


def message_created(*, message: dict) -> None:
    """A stored message; `message` has `channel_id` or `conversation_id`, and `seq`."""

    def build(*, remote_membership: bool):
        group = events.conversation_group(
            channel_id=message.get("channel_id"), conversation_id=message.get("conversation_id")
        )
        return [[("send", group, frame_event(events.MESSAGE_CREATED, {"message": message}))]]

    _deliver(f"message.created {message.get('id')}", build)


def messages_created(*, messages: list[dict]) -> None:
    """Several stored messages of ONE conversation (a group commit, messaging.services),
    in seq order: one layer event, one publish; each socket gets one message.created
    frame per message, as if each had been broadcast alone."""
    if not messages:
        return
    first = messages[0]

    def build(*, remote_membership: bool):
        group = events.conversation_group(
            channel_id=first.get("channel_id"), conversation_id=first.get("conversation_id")
        )
        texts = [frame_event(events.MESSAGE_CREATED, {"message": message})["text"] for message in messages]
        return [[("send", group, {"type": events.MESSAGE_CREATED, "texts": texts})]]

    _deliver(f"message.created of {len(messages)} messages from {first.get('id')}", build)


def message_updated(*, message: dict) -> None:
    """An edited message."""

    def build(*, remote_membership: bool):
        group = events.conversation_group(
            channel_id=message.get("channel_id"), conversation_id=message.get("conversation_id")
        )
        return [[("send", group, frame_event(events.MESSAGE_UPDATED, {"message": message}))]]

    _deliver(f"message.updated {message.get('id')}", build)


def conversation_event(*, event_type: str, fields: dict) -> None:
    """An issue-17 event (`thread.updated`, `reaction.added`, `reaction.removed`) to the
    members of the conversation named by `fields` (`channel_id` or `conversation_id`):
    of a private channel, its members only, as every event of the conversation."""
    if event_type not in events.CONVERSATION_EVENTS:
        raise ValueError(f"not a conversation event: {event_type}")

    def build(*, remote_membership: bool):
        group = events.conversation_group(
            channel_id=fields.get("channel_id"), conversation_id=fields.get("conversation_id")
        )
        return [[("send", group, frame_event(event_type, fields))]]

    _deliver(f"{event_type} {fields.get('message_id') or fields.get('root_id')}", build)


def user_event(
    *, user_id: str, workspace_id: str, event_type: str, fields: dict, skip_connection: str | None = None
) -> None:
    """An issue-18 event (`read.updated`, `notification`) to one user's sockets of one
    workspace; the socket whose hello `connection_id` is `skip_connection` is left out."""
    if event_type not in events.USER_EVENTS:
        raise ValueError(f"not a user event: {event_type}")

    def build(*, remote_membership: bool):
        group = events.user_group(user_id, workspace_id)
        return [[("send", group, frame_event(event_type, fields, skip_connection=skip_connection))]]

    _deliver(f"{event_type} -> {user_id}", build)


def user_events(*, workspace_id: str, event_type: str, per_user: dict[str, dict]) -> None:
    """`user_event` to several users at once ({user_id: fields}), in one delivery."""
    if event_type not in events.USER_EVENTS:
        raise ValueError(f"not a user event: {event_type}")
    if not per_user:
        return

    def build(*, remote_membership: bool):
        return [
            [
                ("send", events.user_group(uid, workspace_id), frame_event(event_type, fields))
                for uid, fields in per_user.items()
            ]
        ]

    _deliver(f"{event_type} x{len(per_user)}", build)


def message_deleted(*, message_id: str, channel_id: str | None = None, conversation_id: str | None = None) -> None:
    """A message hidden from history."""

    def build(*, remote_membership: bool):
        group = events.conversation_group(channel_id=channel_id, conversation_id=conversation_id)
        fields = {"id": str(message_id), **_conversation_fields(channel_id=channel_id, conversation_id=conversation_id)}
        return [[("send", group, frame_event(events.MESSAGE_DELETED, fields))]]

    _deliver(f"message.deleted {message_id}", build)


# --- Memberships ------------------------------------------------------------------


def _channel_workspace_id(channel_id: str) -> str:
    from channels_app.models import Channel  # channels_app imports this module

    return str(Channel.objects.filter(pk=channel_id).values_list("workspace_id", flat=True).first())


def member_joined(
    *, channel_id: str, user_id: str, workspace_id: str | None = None, system_message: dict | None = None
) -> None:
    """A user joined a channel: their sockets subscribe to it, members (the joiner's
    sockets too) hear member.joined.

    `system_message` is the "<username> joined" SYSTEM message of the join. It went to
    the channel's group when it was stored, before the joiner's sockets were subscribed
    (they subscribe once the membership is committed: subscribing earlier would let a
    rolled-back join hear the channel), so it is sent to them here, before they
    subscribe: later messages of the channel cannot overtake it on their sockets.
    `workspace_id` is the channel's (looked up when not given)."""
    channel_id, user_id = str(channel_id), str(user_id)
    workspace_id = str(workspace_id) if workspace_id is not None else _channel_workspace_id(channel_id)

    def build(*, remote_membership: bool):
        group = events.channel_group(channel_id)
        user_group = events.user_group(user_id, workspace_id)
        connections = _live_connections([user_id], workspace_id)[user_id]
        joined = frame_event(events.MEMBER_JOINED, {"channel_id": channel_id, "user_id": user_id})
        subscribe = {"type": events.SUBSCRIBE, "group": group}
        steps = []
        if system_message is not None:
            steps.append([("send", user_group, frame_event(events.MESSAGE_CREATED, {"message": system_message}))])
        if not remote_membership:
            return [*steps, [("send_and_wait", user_group, (subscribe, connections))], [("send", group, joined)]]
        return [
            *steps,
            [("add", group, connection) for connection in connections],
            [("send", user_group, subscribe), ("send", group, joined)],
        ]

    _deliver(f"member.joined {user_id} -> {channel_id}", build)


def member_left(*, channel_id: str, user_id: str, workspace_id: str | None = None) -> None:
    """A user left a channel: members (the leaver's sockets too) hear member.left, then
    the leaver's sockets unsubscribe (`workspace_id`: the channel's, looked up when not given)."""
    channel_id, user_id = str(channel_id), str(user_id)
    workspace_id = str(workspace_id) if workspace_id is not None else _channel_workspace_id(channel_id)

    def build(*, remote_membership: bool):
        group = events.channel_group(channel_id)
        connections = _live_connections([user_id], workspace_id)[user_id]
        left = frame_event(events.MEMBER_LEFT, {"channel_id": channel_id, "user_id": user_id})
        unsubscribe = {"type": events.UNSUBSCRIBE, "group": group}
        if not remote_membership:
            wait = ("send_and_wait", events.user_group(user_id, workspace_id), (unsubscribe, connections))
            return [[("send", group, left)], [wait]]
        return [
            [("send", group, left)],
            [("discard", group, connection) for connection in connections]
            + [("send", events.user_group(user_id, workspace_id), unsubscribe)],
        ]

    _deliver(f"member.left {user_id} <- {channel_id}", build)


# --- Channel management (issue 16) --------------------------------------------------


def _unsubscribe_steps(*, group: str, user_ids: list[str], workspace_id: str, remote_membership: bool) -> list:
    """The steps that take every live socket of `user_ids` (of `workspace_id`) out of
    `group`, waiting for the sockets of other processes to confirm (see the module
    docstring)."""
    connections = _live_connections(user_ids, workspace_id)
    unsubscribe = {"type": events.UNSUBSCRIBE, "group": group}
    if not remote_membership:
        return [
            [
                ("send_and_wait", events.user_group(uid, workspace_id), (unsubscribe, connections[uid]))
                for uid in user_ids
            ]
        ]
    return [
        [("discard", group, connection) for uid in user_ids for connection in connections[uid]]
        + [("send", events.user_group(uid, workspace_id), unsubscribe) for uid in user_ids]
    ]


def member_unsubscribe(*, channel_id: str, user_id: str, workspace_id: str) -> None:
    """Take a removed (or leaving) member's live sockets out of the channel's group, on
    every server process, and return once they confirmed (bounded by
    SUBSCRIBE_WAIT_SECONDS). Called by channels_app.services under the channel's lock,
    BEFORE the removal is announced (member_removed_announce): from then on those sockets
    hear nothing of the channel. Best-effort like everything here."""
    channel_id, user_id, workspace_id = str(channel_id), str(user_id), str(workspace_id)

    def build(*, remote_membership: bool):
        group = events.channel_group(channel_id)
        return _unsubscribe_steps(
            group=group, user_ids=[user_id], workspace_id=workspace_id, remote_membership=remote_membership
        )

    _deliver(f"unsubscribe {user_id} <- {channel_id}", build)


def member_resubscribe(*, channel_id: str, user_id: str, workspace_id: str) -> None:
    """Undo member_unsubscribe when the removal it preceded rolled back (a store failed):
    the user's sockets join the channel's group again."""
    channel_id, user_id, workspace_id = str(channel_id), str(user_id), str(workspace_id)

    def build(*, remote_membership: bool):
        group = events.channel_group(channel_id)
        connections = _live_connections([user_id], workspace_id)[user_id]
        subscribe = {"type": events.SUBSCRIBE, "group": group}
        if not remote_membership:
            return [[("send_and_wait", events.user_group(user_id, workspace_id), (subscribe, connections))]]
        return [
            [("add", group, connection) for connection in connections],
            [("send", events.user_group(user_id, workspace_id), subscribe)],
        ]

    _deliver(f"resubscribe {user_id} -> {channel_id}", build)


def member_removed_announce(*, channel_id: str, user_id: str, workspace_id: str) -> None:
    """After member_unsubscribe and the commit: the removed (or leaving) user's own
    sockets get member.left for themselves (through their user group), then the
    remaining members hear member.left."""
    channel_id, user_id, workspace_id = str(channel_id), str(user_id), str(workspace_id)

    def build(*, remote_membership: bool):
        left = frame_event(events.MEMBER_LEFT, {"channel_id": channel_id, "user_id": user_id})
        return [
            [("send", events.user_group(user_id, workspace_id), left)],
            [("send", events.channel_group(channel_id), left)],
        ]

    _deliver(f"member.left (removed) {user_id} <- {channel_id}", build)


def member_role_changed(*, channel_id: str, user_id: str, role: str) -> None:
    """A member's role in a channel changed; the channel's members hear it."""
    channel_id, user_id = str(channel_id), str(user_id)

    def build(*, remote_membership: bool):
        fields = {"channel_id": channel_id, "user_id": user_id, "role": role}
        return [[("send", events.channel_group(channel_id), frame_event(events.MEMBER_ROLE_CHANGED, fields))]]

    _deliver(f"member.role_changed {user_id} in {channel_id}", build)


def channel_updated(*, channel: dict) -> None:
    """A channel was renamed, re-described, given a topic, archived or unarchived;
    `channel` is its API shape (without the viewer's `my_role`, which is null here)."""

    def build(*, remote_membership: bool):
        group = events.channel_group(channel["id"])
        return [[("send", group, frame_event(events.CHANNEL_UPDATED, {"channel": channel}))]]

    _deliver(f"channel.updated {channel.get('id')}", build)


def channel_deleted(*, channel_id: str, member_ids: list[str], workspace_id: str) -> None:
    """A deleted channel: its members hear channel.deleted, then their sockets leave the group."""
    channel_id, workspace_id = str(channel_id), str(workspace_id)
    member_ids = [str(uid) for uid in member_ids]

    def build(*, remote_membership: bool):
        group = events.channel_group(channel_id)
        deleted = frame_event(events.CHANNEL_DELETED, {"channel_id": channel_id})
        unsubscribe = _unsubscribe_steps(
            group=group, user_ids=member_ids, workspace_id=workspace_id, remote_membership=remote_membership
        )
        return [[("send", group, deleted)], *unsubscribe]

    _deliver(f"channel.deleted {channel_id}", build)


def dm_created(*, conversation_id: str, user_ids: list[str], workspace_id: str) -> None:
    """A new DM: both users' sockets subscribe to it (no frame: the first message.created
    of the conversation tells the clients)."""
    user_ids = [str(uid) for uid in user_ids]

    def build(*, remote_membership: bool):
        group = events.dm_group(conversation_id)
        connections = _live_connections(user_ids, workspace_id)
        subscribe = {"type": events.SUBSCRIBE, "group": group}
        if not remote_membership:
            return [
                [
                    ("send_and_wait", events.user_group(uid, workspace_id), (subscribe, connections[uid]))
                    for uid in user_ids
                ]
            ]
        return [
            [("add", group, connection) for uid in user_ids for connection in connections[uid]],
            [("send", events.user_group(uid, workspace_id), subscribe) for uid in user_ids],
        ]

    _deliver(f"dm.created {conversation_id}", build)


def sessions_close(*, user_id: str, workspace_ids: list[str] | None = None, token_digest: str | None = None) -> None:
    """Close the user's open sockets of these workspaces (None: of every workspace they
    have a membership in): all of them (a deactivated account or membership), or only
    those opened with the knox token of this digest (that token was revoked). They close
    with 4401, as a bad credential at connect would."""
    user_id = str(user_id)

    def build(*, remote_membership: bool):
        nonlocal workspace_ids
        if workspace_ids is None:
            from accounts.selectors import workspace_ids_of_user  # accounts imports this module

            workspace_ids = workspace_ids_of_user(user_id=user_id)
        event = {"type": events.SESSIONS_CLOSE, "token_digest": token_digest}
        return [[("send", events.user_group(user_id, wid), event) for wid in workspace_ids]]

    _deliver(f"sessions.close {user_id}", build)


# --- Ephemeral events ---------------------------------------------------------------


def typing(*, user_id: str, channel_id: str | None = None, conversation_id: str | None = None) -> None:
    """`user_id` is typing in a channel or DM (the typist's own sockets do not get it)."""

    def build(*, remote_membership: bool):
        group = events.conversation_group(channel_id=channel_id, conversation_id=conversation_id)
        fields = {**_conversation_fields(channel_id=channel_id, conversation_id=conversation_id), "user_id": user_id}
        return [[("send", group, frame_event(events.TYPING, fields, user_id=str(user_id)))]]

    _deliver(f"typing {user_id}", build)


def presence_changed(
    *, user_id: str, status: str, last_seen_at: str | None, channel_ids: list[str], conversation_ids: list[str]
) -> None:
    """`user_id` went online or offline: every socket that shares a channel or DM with
    them hears it once (see presence_changed_many)."""
    presence_changed_many(
        changes=[
            {
                "user_id": user_id,
                "status": status,
                "last_seen_at": last_seen_at,
                "channel_ids": channel_ids,
                "conversation_ids": conversation_ids,
            }
        ]
    )


def presence_changed_many(*, changes: list[dict]) -> None:
    """Several presence changes, each {user_id, status, last_seen_at, channel_ids,
    conversation_ids, workspace_ids?, self_workspace_ids?} (issue 13: the presence
    subscribers of each of workspace_ids hear it too, and the user's own sockets of each
    of self_workspace_ids). Each group gets
    ONE layer event carrying the changes of every user it concerns (a burst of users
    connecting costs one event per group, not one per user), and a socket turns it
    into one presence.changed frame per change. A socket in several of a user's groups
    drops the repeats by each change's id."""

    def build(*, remote_membership: bool):
        per_group: dict[str, list] = {}
        for change in changes:
            user_id = str(change["user_id"])
            frame = {"type": events.PRESENCE_CHANGED, "user_id": user_id}
            frame |= {"status": change["status"], "last_seen_at": change["last_seen_at"]}
            frame |= change.get("extra") or {}  # issue 18: status_text, status_emoji, dnd, dnd_until
            item = [uuid.uuid4().hex, json.dumps(frame, separators=(",", ":"))]
            groups = [events.channel_group(cid) for cid in change["channel_ids"]]
            groups += [events.dm_group(cid) for cid in change["conversation_ids"]]
            # Issue 13: the sockets subscribed to the user, per workspace; the user's own
            # sockets when a channel too big to fan out would have told them.
            groups += [events.presence_group(user_id, wid) for wid in change.get("workspace_ids", ())]
            groups += [events.user_group(user_id, wid) for wid in change.get("self_workspace_ids", ())]
            for group in groups:
                per_group.setdefault(group, []).append(item)
        return [
            [("send", group, {"type": events.PRESENCE_CHANGED, "changes": items}) for group, items in per_group.items()]
        ]

    _deliver(f"presence.changed x{len(changes)}", build)
