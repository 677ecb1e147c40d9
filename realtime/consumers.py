"""The one WebSocket endpoint, /ws/v1/ (protocol: docs of POST /api/v1/realtime/ticket).

The consumer does four things: it authenticates from the scope, joins and leaves
groups, calls services through `database_sync_to_async`, and turns layer events into
frames. Frame rules live in realtime.services, names in realtime.events.

Delivery order: a consumer handles one thing at a time (a client frame or a layer
event), so the `message.ack` of a send reaches the sending socket before the
`message.created` of the same message, which the sending socket also receives
(every socket of every member gets message.created, in seq order).

Frames of layer events usually do not go through `dispatch`: the channel layer
(realtime.layers, issue 13) writes them straight to every idle socket of the process
that joined the group (`frames_of` says which frames, `can_take_now` whether the socket
is idle, i.e. has nothing queued or in hand); only a busy socket's events are queued and
handled here, in order, as before.
"""

import asyncio
import json
import logging
import time
import uuid
from collections import deque

from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.db import InterfaceError, OperationalError
from redis.exceptions import RedisError

from presence.services import local_presence
from realtime import audit, events, services
from realtime.auth import UNAVAILABLE
from slackclone import errors, metrics

logger = logging.getLogger(__name__)

# Typing frames for one conversation closer together than this are dropped silently.
TYPING_MIN_INTERVAL_SECONDS = 1.0
# How many presence.changed event ids a socket remembers to drop repeats.
PRESENCE_DEDUPE_WINDOW = 1024


def run_sync(func):
    """database_sync_to_async, not thread-sensitive: every call is self-contained (one
    service call, its own transaction), so any worker thread may run it and one
    socket's slow send does not queue every other socket's calls on one thread."""
    return database_sync_to_async(func, thread_sensitive=False)


def as_domain_error(exc: Exception) -> errors.DomainError:
    if isinstance(exc, errors.DomainError):
        return exc
    if isinstance(exc, OperationalError | InterfaceError):
        return errors.StoreUnavailable("postgres")
    if isinstance(exc, RedisError | OSError):
        # The layer's Redis connections (a restarted Redis resets them: ConnectionResetError).
        return errors.StoreUnavailable("redis")
    logger.error("websocket: unexpected error", exc_info=exc)
    error = errors.DomainError("Internal server error.", code="server_error")
    error.status = 500
    return error


class RealtimeConsumer(AsyncWebsocketConsumer):
    user = None
    user_id: str | None = None
    workspace = None  # the workspace of the socket's token: everything it hears and does is in it
    presence_member: str | None = None  # its entry in the presence registry
    connection_id: str | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.subscriptions: set[str] = set()
        # realtime.layers (un)subscribes this socket itself as it reads a realtime.(un)subscribe
        # (registered consumers): on_subscribe/on_unsubscribe then only confirm, and a
        # group left that way while connecting is not joined from the connect's (older) read.
        self.layer_moves_groups = False
        self.left_early: set[str] = set()
        # group -> the newest events.MEMBERSHIP_SEQ the socket knows of: of the
        # (un)subscribes the layer applied, or the channel's seq at the connect's read
        self.membership_seqs: dict[str, int] = {}
        self.presence_groups: set[str] = set()  # of the last presence.subscribe (issue 13)
        self.registered = False  # in the presence registry (Redis)
        self.ready = False  # connected: frames are handled
        self.counted = False  # in the open-connections gauge
        self.typing_last: dict[tuple, float] = {}
        self.presence_seen: deque[str] = deque(maxlen=PRESENCE_DEDUPE_WINDOW)
        # The local fan-out (realtime.layers): layer events queued for this socket and
        # not yet handled, whether dispatch is handling something, a direct send still
        # being written.
        self.queued = 0
        self.handling = False
        self.sending: asyncio.Task | None = None
        self.fanout_registered = False
        # Layer event type -> which of its frames this socket sends (frames_of).
        self.frame_selectors = {
            events.MESSAGE_CREATED: self.texts_of,
            events.MESSAGE_UPDATED: self.texts_of,
            events.MESSAGE_DELETED: self.texts_of,
            events.THREAD_UPDATED: self.texts_of,
            events.REACTION_ADDED: self.texts_of,
            events.REACTION_REMOVED: self.texts_of,
            events.MEMBER_JOINED: self.texts_of,
            events.MEMBER_LEFT: self.texts_of,
            events.MEMBER_ROLE_CHANGED: self.texts_of,
            events.CHANNEL_UPDATED: self.texts_of,
            events.CHANNEL_DELETED: self.texts_of,
            events.READ_UPDATED: self.user_event_texts,
            events.NOTIFICATION: self.user_event_texts,
            events.TYPING: self.typing_texts,
            events.PRESENCE_CHANGED: self.presence_texts,
        }
        self.handlers = {
            "websocket.connect": self.websocket_connect,
            "websocket.receive": self.websocket_receive,
            "websocket.disconnect": self.websocket_disconnect,
            **{event_type: self.forward for event_type in self.frame_selectors},
            events.SUBSCRIBE: self.on_subscribe,
            events.UNSUBSCRIBE: self.on_unsubscribe,
            events.SESSIONS_CLOSE: self.on_sessions_close,
        }
        self.frame_handlers = {
            events.PING: self.on_ping,
            events.TYPING: self.on_typing,
            events.MESSAGE_SEND: self.on_message_send,
            events.PRESENCE_SUBSCRIBE: self.on_presence_subscribe,
            **{frame_type: self.on_message_write for frame_type in services.WRITE_FRAMES},
        }

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Also when the consumer dies of an exception or is cancelled, which skips
            # websocket_disconnect: otherwise its heartbeats would keep the user online.
            await self.cleanup()

    async def dispatch(self, message):
        # Channels' dispatch also runs close_old_connections in a thread before every
        # message; nothing here touches the ORM outside run_sync (which does that
        # itself), so a fan-out to many sockets costs no thread hops.
        if not message["type"].startswith("websocket."):
            self.queued = max(0, self.queued - 1)  # a layer event queued by realtime.layers
        handler = self.handlers.get(message["type"])
        if handler is None:
            logger.warning("websocket: no handler for %r", message["type"])
            return
        self.handling = True
        try:
            if self.sending is not None:  # a direct frame still being written goes first
                sending, self.sending = self.sending, None
                await asyncio.gather(sending, return_exceptions=True)
            await handler(message)
        finally:
            self.handling = False

    # --- the local fan-out (realtime.layers) --------------------------------------

    def can_take_now(self) -> bool:
        """Whether a layer event's frames may be written now, bypassing dispatch: the
        socket is connected and has no layer event queued, nothing in hand (a client
        frame being answered, e.g. a message.send whose ack must come first) and no
        direct frame still being written. Otherwise the event is queued behind them."""
        return self.ready and not self.handling and self.queued == 0 and (self.sending is None or self.sending.done())

    def layer_event_queued(self) -> None:
        self.queued += 1

    def subscribed(self, group: str, seq: int | None = None):
        """realtime.layers read a realtime.subscribe of `group` (the event itself follows
        through dispatch), or the audit found the group missing: whether it joins this
        socket to the group now. None when the subscribe is stale: its `seq`
        (events.MEMBERSHIP_SEQ) is not newer than a membership change of the group the
        socket heard. Else the group is recorded (left at close) and the returned
        function undoes that record, for a join whose SUBSCRIBE then failed."""
        previous = self.membership_seqs.get(group)
        if seq is not None and previous is not None and seq <= previous:
            return None
        if seq is not None:
            self.membership_seqs[group] = seq
        self.subscriptions.add(group)
        self.left_early.discard(group)

        def undo() -> None:
            self.subscriptions.discard(group)
            if previous is None:
                self.membership_seqs.pop(group, None)
            else:
                self.membership_seqs[group] = previous

        return undo

    def unsubscribed(self, group: str, seq: int | None = None) -> None:
        """realtime.layers took this socket out of `group` as it read a
        realtime.unsubscribe: not left again at close, nor joined by a connect whose
        read of the user's groups may predate the removal (`seq`: see `subscribed`)."""
        if seq is not None:
            self.membership_seqs[group] = max(seq, self.membership_seqs.get(group, seq))
        self.subscriptions.discard(group)
        self.left_early.add(group)

    def departed(self, group: str, seq: int) -> bool:
        """realtime.layers read this user's own member.left of `group`'s channel (sent
        after the removal or leave committed): whether the socket leaves the group now.

        The socket may have joined the group from its connect's read of the user's
        groups, made before the removal committed, while the removal's unsubscribe was
        published before the socket joined its user's group: it would keep hearing the
        channel until it reconnected. With the removal's `seq`
        (events.MEMBERSHIP_SEQ), the socket stays only if what it knows of the group is
        newer: a rejoin's subscribe it heard (which can overtake this event), or a
        connect's read made after a rejoin committed (`membership_seqs`: the channel's
        seq at that read). A join announced late, read after the removal's
        unsubscribe, does not count."""
        if self.membership_seqs.get(group, -1) > seq:
            return False
        self.unsubscribed(group, seq)
        return True

    def send_now(self, message: dict):
        """The ASGI send of a {"type": "websocket.send", "text"} message shared by every
        socket of a fan-out (a coroutine)."""
        return self.base_send(message)

    # --- frames out -------------------------------------------------------------

    async def send_frame(self, frame: dict) -> None:
        await self.send(text_data=json.dumps(frame, separators=(",", ":")))

    async def send_error(
        self, exc: Exception, *, client_msg_id: object = None, for_send: bool = False, echo: dict | None = None
    ) -> None:
        """An `error` frame for `exc`; `echo`: the frame's `request_id` part ({} or {"request_id"}), or
        {"frame", "request_id"} for the frames answered by `ack` (realtime.services.ACK_FRAMES)."""
        frame = {"type": events.ERROR}
        if for_send:
            frame["client_msg_id"] = client_msg_id if isinstance(client_msg_id, str) else None
        frame.update(echo or {})
        error = as_domain_error(exc)
        if isinstance(error, errors.StoreUnavailable):
            metrics.STORE_UNAVAILABLE.labels(error.store).inc()
        frame["error"] = error.as_dict()
        await self.send_frame(frame)

    # --- connection -------------------------------------------------------------

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            # Accept first, so that a browser sees the close code.
            metrics.WEBSOCKETS_TOTAL.labels("refused").inc()
            await self.accept()
            failed = self.scope.get("auth_failure") == UNAVAILABLE
            await self.close(code=events.CLOSE_TRY_AGAIN_LATER if failed else events.CLOSE_UNAUTHENTICATED)
            return
        self.user, self.user_id, self.connection_id = user, str(user.pk), uuid.uuid4().hex
        register = getattr(self.channel_layer, "register", None)
        if register is not None:  # before the first group: every event queued is counted
            register(self.channel_name, self)
            self.fanout_registered = self.layer_moves_groups = True
            audit.ensure_running(self.channel_layer)
        self.workspace = self.scope["workspace"]
        self.presence_member = events.presence_member(self.channel_name, self.workspace.pk)
        try:
            # The user's own group first, so no subscription change sent from now on is missed.
            await self.join([events.user_group(self.user_id, self.workspace.pk)])
            opened = await run_sync(services.connection_open)(
                user=user, workspace=self.workspace, connection=self.channel_name
            )
            self.registered = True
            for group, seq in opened.membership_seqs.items():  # what the read saw, unless the layer heard newer
                self.membership_seqs[group] = max(seq, self.membership_seqs.get(group, seq))
            await self.join(opened.groups)
        except Exception as exc:
            error = as_domain_error(exc)
            logger.warning("websocket: connect of %s failed: %s", self.user_id, error.message)
            metrics.WEBSOCKETS_TOTAL.labels("refused").inc()
            await self.accept()
            await self.close(code=events.CLOSE_TRY_AGAIN_LATER if error.status == 503 else 1011)
            return
        await self.accept()
        await self.send_frame({"type": events.HELLO, "user_id": self.user_id, "connection_id": self.connection_id})
        local_presence().track(user_id=self.user_id, connection=self.presence_member, went_online=opened.went_online)
        self.ready = True
        self.counted = True
        metrics.WEBSOCKETS_TOTAL.labels("accepted").inc()
        metrics.WEBSOCKETS_OPEN.inc()
        logger.info("websocket: %s connected (%s)", self.user_id, self.connection_id)

    async def join(self, groups) -> None:
        new = [group for group in groups if group not in self.subscriptions and group not in self.left_early]
        await asyncio.gather(*(self.channel_layer.group_add(group, self.channel_name) for group in new))
        self.subscriptions.update(new)

    async def websocket_disconnect(self, message):
        await self.cleanup()
        raise StopConsumer()

    async def cleanup(self) -> None:
        """Leave presence and every group (once; errors are logged: both expire anyway)."""
        self.ready = False
        if self.fanout_registered:
            self.fanout_registered = False
            self.channel_layer.unregister(self.channel_name)
        if self.counted:
            self.counted = False
            metrics.WEBSOCKETS_OPEN.dec()
            logger.info("websocket: %s disconnected (%s)", self.user_id, self.connection_id)
        if self.registered:
            self.registered = False
            await local_presence().untrack(user_id=self.user_id, connection=self.presence_member)
        groups, self.subscriptions = self.subscriptions, set()
        results = await asyncio.gather(
            *(self.channel_layer.group_discard(group, self.channel_name) for group in groups),
            return_exceptions=True,
        )
        if any(isinstance(result, Exception) for result in results):
            logger.warning("websocket: could not leave every group of %s (they expire)", self.user_id)

    # --- frames in --------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None):
        if not self.ready:
            return  # refused at connect, or closing
        frame = None
        try:
            frame = services.frame_parse(text=text_data, data=bytes_data)
            frame_type, fields = services.frame_validate(frame)
        except errors.DomainError as exc:
            kind = frame.get("type") if isinstance(frame, dict) else None
            for_send = kind == events.MESSAGE_SEND
            echo = services.request_id_echo(frame)
            if isinstance(kind, str) and kind in services.ACK_FRAMES:
                # Answered {"type": "error", "frame", "request_id", "error"} whatever was refused.
                echo = {"frame": kind, "request_id": echo.get("request_id")}
            await self.send_error(
                exc,
                client_msg_id=frame.get("client_msg_id") if for_send else None,
                for_send=for_send,
                echo=echo,
            )
            return
        if frame_type in services.WRITE_FRAMES:
            fields["_type"] = frame_type
        await self.frame_handlers[frame_type](fields)

    @staticmethod
    def echo(fields: dict) -> dict:
        """Take the (already checked) `request_id` out of `fields`: the part of the answer
        that echoes it, {} when the frame carried none."""
        return {"request_id": fields.pop("request_id")} if "request_id" in fields else {}

    async def on_ping(self, fields: dict) -> None:
        await self.send_frame({"type": events.PONG, **self.echo(fields)})

    async def on_typing(self, fields: dict) -> None:
        echo = self.echo(fields)
        key = (repr(fields.get("channel_id")), repr(fields.get("conversation_id")))
        now = time.monotonic()
        if now - self.typing_last.get(key, float("-inf")) < TYPING_MIN_INTERVAL_SECONDS:
            return
        try:
            await run_sync(services.typing_notify)(user=self.user, workspace=self.workspace, **fields)
        except Exception as exc:
            await self.send_error(exc, echo=echo)
            return
        if len(self.typing_last) > 256:
            self.typing_last.clear()
        self.typing_last[key] = now

    async def on_message_send(self, fields: dict) -> None:
        echo = self.echo(fields)
        try:
            message = await run_sync(services.socket_message_send)(user=self.user, workspace=self.workspace, **fields)
        except Exception as exc:
            metrics.MESSAGES_SENT.labels("ws", "error").inc()
            await self.send_error(exc, client_msg_id=fields.get("client_msg_id"), for_send=True, echo=echo)
            return
        metrics.MESSAGES_SENT.labels("ws", "ok").inc()
        await self.send_frame(
            {"type": events.MESSAGE_ACK, "client_msg_id": message["client_msg_id"], **echo, "message": message}
        )

    async def on_message_write(self, fields: dict) -> None:
        """reaction.add, reaction.remove, message.edit, message.delete (issue 17): the
        service's answer as {"type": "ack", "frame", "request_id", ...}, or an error frame
        with the same `frame` and `request_id`."""
        frame_type = fields.pop("_type")
        request_id = fields.pop("request_id", None)  # checked by frame_validate
        try:
            answer = await run_sync(services.socket_message_write)(
                user=self.user, workspace=self.workspace, frame_type=frame_type, fields=fields
            )
        except Exception as exc:
            await self.send_error(exc, echo={"frame": frame_type, "request_id": request_id})
            return
        await self.send_frame({"type": events.ACK, "frame": frame_type, "request_id": request_id, **answer})

    async def on_presence_subscribe(self, fields: dict) -> None:
        """presence.subscribe (issue 13): hear the presence of these users from now on,
        instead of those of the previous frame. Answered {"type": "ack", "frame",
        "request_id", "user_ids", "presence"}, or an error frame with `frame` and
        `request_id` (the previous subscription then stays)."""
        request_id = fields.get("request_id")  # checked by frame_validate
        try:
            answer = await run_sync(services.presence_subscribe)(
                workspace=self.workspace, user_ids=fields.get("user_ids")
            )
            wanted = {events.presence_group(uid, self.workspace.pk) for uid in answer["user_ids"]}
            gone, new = self.presence_groups - wanted, wanted - self.presence_groups
            # Recorded first: whatever was joined is left at close, even if this fails.
            self.presence_groups = (self.presence_groups - gone) | new
            self.subscriptions = (self.subscriptions - gone) | new
            await asyncio.gather(*(self.channel_layer.group_discard(group, self.channel_name) for group in gone))
            await asyncio.gather(*(self.channel_layer.group_add(group, self.channel_name) for group in new))
        except Exception as exc:
            await self.send_error(exc, echo={"frame": events.PRESENCE_SUBSCRIBE, "request_id": request_id})
            return
        await self.send_frame(
            {"type": events.ACK, "frame": events.PRESENCE_SUBSCRIBE, "request_id": request_id, **answer}
        )

    # --- layer events -------------------------------------------------------------

    def frames_of(self, event: dict) -> list[str] | None:
        """The frames (encoded texts) this socket sends for a layer event, the same
        whether realtime.layers writes them directly or `forward` does; None for an event
        it must handle itself (subscribe, unsubscribe, sessions.close)."""
        select = self.frame_selectors.get(event["type"])
        return None if select is None else select(event)

    def texts_of(self, event: dict) -> list[str]:
        texts = event.get("texts")  # several frames in one event (broadcast.messages_created)
        return [event["text"]] if texts is None else texts

    def user_event_texts(self, event: dict) -> list[str]:
        if event.get("skip_connection") is None or event["skip_connection"] != self.connection_id:
            return self.texts_of(event)
        return []

    def typing_texts(self, event: dict) -> list[str]:
        return self.texts_of(event) if event.get("user_id") != self.user_id else []  # not back to the typist

    def presence_texts(self, event: dict) -> list[str]:
        texts = []
        for change_id, text in event["changes"]:
            if change_id in self.presence_seen:
                continue  # heard through another shared group
            self.presence_seen.append(change_id)
            texts.append(text)
        return texts

    async def forward(self, event: dict) -> None:
        for text in self.frames_of(event):
            await self.send(text_data=text)

    async def on_subscribe(self, event: dict) -> None:
        if not self.layer_moves_groups:  # realtime.layers already did (subscribed)
            group = event["group"]
            await self.channel_layer.group_add(group, self.channel_name)
            self.subscriptions.add(group)
        await self.confirm(event)

    async def on_unsubscribe(self, event: dict) -> None:
        if not self.layer_moves_groups:  # realtime.layers already did (unsubscribed)
            group = event["group"]
            await self.channel_layer.group_discard(group, self.channel_name)
            self.subscriptions.discard(group)
        await self.confirm(event)

    async def confirm(self, event: dict) -> None:
        """Tell the broadcaster waiting on `reply_to` (realtime.broadcast) that this
        socket's membership change is done."""
        reply_to = event.get("reply_to")
        if reply_to:
            try:
                await self.channel_layer.send(reply_to, {"type": events.SUBSCRIBED, "connection": self.channel_name})
            except Exception as exc:  # the broadcaster stops waiting after a bound
                logger.info("websocket: could not confirm %s: %r", event["type"], exc)

    async def on_sessions_close(self, event: dict) -> None:
        digest = event.get("token_digest")
        if digest is None or digest == self.scope.get("auth_token_digest"):
            await self.cleanup()
            await self.close(code=events.CLOSE_UNAUTHENTICATED)


class NotFoundConsumer(AsyncWebsocketConsumer):
    """Any other WebSocket path: accepted, then closed with 4404."""

    async def connect(self):
        await self.accept()
        await self.close(code=events.CLOSE_NOT_FOUND)
