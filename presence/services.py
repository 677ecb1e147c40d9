"""Presence: who is online, kept live in Redis (presence.store), announced as presence.changed.

How it works
============
- Each WebSocket connection registers itself (its channel-layer name) in its user's
  set in Redis with a heartbeat expiry of PRESENCE_TTL_SECONDS (`presence_connect`).
  The first live connection turns the user online; the server process announces it
  with its next tick (within PRESENCE_SWEEP_SECONDS), in one batch with every other
  user who came online there meanwhile, so a burst of reconnects (a deploy) costs one
  layer event per channel instead of one per user and channel.
- Each server process refreshes the expiry of all its open connections every TTL/3
  in one pipelined round trip (`LocalPresence`, one asyncio task per process).
- Closing a connection removes it (`presence_disconnect`). When it was the user's
  last live connection on any process, the user stays online for
  PRESENCE_GRACE_SECONDS: a reconnect within the grace keeps them online and
  announces nothing (no flapping).
- Going offline is decided by a sweep (`presence_sweep`) that every server process
  holding connections runs every PRESENCE_SWEEP_SECONDS (default 1 s). It settles the
  users whose grace ended or whose connections all expired (a process that died
  without closing its sockets stops refreshing them, so they expire within the TTL).
  The Redis script that flips a user to offline succeeds for exactly one caller, and
  that caller announces presence.changed once, however many processes sweep.
- Reads (`presence_get_many`, GET /api/v1/presence) evaluate lazily: a user whose
  connections have all expired reads as offline even before any sweep has run, so a
  reader never sees a dead process's users online forever.
- presence.changed goes to each DM (and group DM) group of the user, each of the
  user's channels of at most PRESENCE_FANOUT_MAX_MEMBERS members (and the user's own
  sockets when a bigger channel is left out), and the sockets that subscribed to the
  user (`presence.subscribe`, issue 13: a client names whose presence it shows, up to
  500 users, each frame replacing the last); a socket in several of those groups drops
  the repeats (each change has an id).

`last_seen_at` is the last time a connection of the user was seen: connect, heartbeat
or close (a dead process's users: their last heartbeat). Never seen: null.
"""

import asyncio
import logging
import time
import weakref
from datetime import UTC, datetime
from typing import NamedTuple
from uuid import UUID

from channels.db import database_sync_to_async
from django.conf import settings

from channels_app.selectors import channel_ids_with_at_most, user_channel_ids
from dms.selectors import user_dm_ids
from presence import store
from presence.models import UserPresence
from realtime import broadcast
from slackclone.api.fields import format_time

logger = logging.getLogger(__name__)

ONLINE = store.ONLINE
OFFLINE = store.OFFLINE
MAX_USER_IDS = 200
# presence.subscribe (issue 13): at most this many user ids per frame, as Slack's.
SUBSCRIBE_MAX_USER_IDS = 500


def _ttl() -> float:
    return float(settings.PRESENCE_TTL_SECONDS)


def _grace() -> float:
    return float(settings.PRESENCE_GRACE_SECONDS)


def _sweep_interval() -> float:
    return float(settings.PRESENCE_SWEEP_SECONDS)


def _datetime(seconds: float | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds is not None else None


class Registered(NamedTuple):
    went_online: bool  # this was the user's first live connection
    at: float  # when (epoch seconds, Redis clock)


def presence_announce_many(*, changes: list[tuple[str, str, float | None]]) -> None:
    """Broadcast presence.changed for each (user_id, status, last_seen_at), in one layer
    event per group, to: the user's DMs and group DMs; the user's channels of at most
    PRESENCE_FANOUT_MAX_MEMBERS members (issue 13: a bigger channel no longer hears
    every member's presence, O(N^2) frames when N people connect), and then the user's
    own sockets (who heard themselves through it); and, per workspace of the user, the
    sockets subscribed to them with `presence.subscribe`
    (realtime.services.presence_subscribe)."""
    if not changes:
        return
    from accounts.models import WorkspaceMember

    user_ids = [str(user_id) for user_id, _status, _seen in changes]
    statuses = _statuses(user_ids)
    # Every workspace's the user is an active member of: each socket is only in its own
    # workspace's groups, and a workspace that deactivated the user hears nothing of them.
    channels = {uid: user_channel_ids(user_id=uid, workspace_id=None) for uid in user_ids}
    fanning = channel_ids_with_at_most(
        channel_ids=sorted({cid for ids in channels.values() for cid in ids}),
        members=settings.PRESENCE_FANOUT_MAX_MEMBERS,
    )
    workspaces: dict[str, list[str]] = {}
    for uid, wid in WorkspaceMember.objects.filter(user_id__in=user_ids, is_active=True).values_list(
        "user_id", "workspace_id"
    ):
        workspaces.setdefault(str(uid), []).append(str(wid))
    announced = []
    for user_id, status, last_seen_at in changes:
        uid = str(user_id)
        fanned = [cid for cid in channels[uid] if cid in fanning]
        announced.append(
            {
                "user_id": uid,
                "status": status,
                "last_seen_at": format_time(_datetime(last_seen_at)),
                "extra": statuses[uid],  # issue 18: status text/emoji, DND
                "channel_ids": fanned,
                "conversation_ids": user_dm_ids(user_id=uid, workspace_id=None),
                "workspace_ids": workspaces.get(uid, []),
                # "yourself included": a channel no longer fanning out would have told them.
                "self_workspace_ids": workspaces.get(uid, []) if len(fanned) < len(channels[uid]) else [],
            }
        )
    broadcast.presence_changed_many(changes=announced)


def presence_withdraw(*, user_id: str, workspace_id: str) -> None:
    """A member deactivated in `workspace_id` (accounts.services.member_deactivate, once
    it committed): that workspace's channels and DMs of theirs, and its sockets
    subscribed to them, hear them offline, never seen, without status, as GET /presence
    there now reads them; from then on the fan-out leaves that workspace out
    (`user_channel_ids` / `user_dm_ids` with no workspace: active memberships only), so
    without this last word its clients would show them online for good."""
    uid, wid = str(user_id), str(workspace_id)
    channel_ids = user_channel_ids(user_id=uid, workspace_id=wid)
    fanning = channel_ids_with_at_most(channel_ids=channel_ids, members=settings.PRESENCE_FANOUT_MAX_MEMBERS)
    broadcast.presence_changed_many(
        changes=[
            {
                "user_id": uid,
                "status": OFFLINE,
                "last_seen_at": None,
                "extra": {"status_text": "", "status_emoji": "", "dnd": False, "dnd_until": None},
                "channel_ids": [cid for cid in channel_ids if cid in fanning],
                "conversation_ids": user_dm_ids(user_id=uid, workspace_id=wid),
                "workspace_ids": [wid],
            }
        ]
    )


def _statuses(user_ids: list[str]) -> dict[str, dict]:
    """{user_id: {status_text, status_emoji, dnd, dnd_until}} (issue 18), one query."""
    from readstate.selectors import status_fields, statuses_of

    found = statuses_of(user_ids=[str(uid) for uid in user_ids])
    out = {}
    for uid in user_ids:
        fields = status_fields(found.get(str(uid)))
        out[str(uid)] = {**fields, "dnd_until": format_time(fields["dnd_until"])}
    return out


def presence_status_announce(*, user_id: str) -> None:
    """The user's status or DND changed: presence.changed with their current presence."""
    for uid, online, seen in store.read_many(user_ids=[str(user_id)]):
        presence_announce(user_id=uid, status=ONLINE if online else OFFLINE, last_seen_at=seen)


def presence_announce(*, user_id: str, status: str, last_seen_at: float | None) -> None:
    presence_announce_many(changes=[(str(user_id), status, last_seen_at)])


def presence_announce_online(*, user_ids: list[str]) -> list[str]:
    """Announce users who went online a moment ago, if they still are (a queued
    announcement never follows an offline one). Returns those announced."""
    online = [(uid, ONLINE, seen) for uid, is_online, seen in store.read_many(user_ids=user_ids) if is_online]
    presence_announce_many(changes=online)
    return [uid for uid, _status, _seen in online]


def presence_connect(*, user_id: str, connection: str, announce: bool = True) -> Registered:
    """Register a live connection. If it is the user's first, they go online, announced
    here unless `announce` is false (the caller then announces, e.g. in a batch).
    Raises StoreUnavailable("redis")."""
    went_online, now = store.connect(user_id=str(user_id), connection=connection, ttl=_ttl())
    if went_online and announce:
        presence_announce(user_id=str(user_id), status=ONLINE, last_seen_at=now)
    return Registered(went_online, now)


def presence_disconnect(*, user_id: str, connection: str) -> None:
    """Forget a connection. Going offline (after the grace) is the sweep's job."""
    store.disconnect(user_id=str(user_id), connection=connection, grace=_grace())


def presence_sweep(*, user_ids: list[str] | None = None) -> list[str]:
    """Settle due users (`user_ids`, or every due user): those with no live connection
    and no grace left go offline, announced once (in one batch). Returns the users that
    went offline."""
    gone = []
    for user_id in store.due_user_ids() if user_ids is None else user_ids:
        went_offline, last_seen_at = store.evaluate(user_id=user_id)
        if went_offline:
            gone.append((user_id, OFFLINE, last_seen_at))
    presence_announce_many(changes=gone)
    return [user_id for user_id, _status, _seen in gone]


def presence_get_many(*, user_ids: list[str], workspace=None) -> list[dict]:
    """The API's presence of each user, in the order given. Unknown users, and with a
    `workspace` anyone who is not an active member of it, read as offline, never seen.
    Raises StoreUnavailable("redis")."""
    user_ids = [str(uid) for uid in user_ids]
    visible = set(user_ids)
    if workspace is not None:
        from accounts.selectors import users_of_workspace

        visible = {
            str(pk)
            for pk in users_of_workspace(workspace=workspace).filter(pk__in=user_ids).values_list("pk", flat=True)
        }
    statuses = _statuses(list(visible))
    hidden = {"status_text": "", "status_emoji": "", "dnd": False, "dnd_until": None}
    return [
        {
            "user_id": uid,
            "status": ONLINE if online and uid in visible else OFFLINE,
            "last_seen_at": format_time(_datetime(seen)) if uid in visible else None,
            **(statuses.get(uid, hidden) if uid in visible else hidden),
        }
        for uid, online, seen in store.read_many(user_ids=user_ids)
    ]


def _is_uuid(value: str) -> bool:
    try:
        UUID(value)
    except ValueError:
        return False
    return True


def presence_snapshot() -> int:
    """Copy presence from Redis into the user_presence table (analytics only): a row per
    (workspace, user) for every user Redis knows and every workspace they are an active
    member of, and OFFLINE for rows Redis no longer knows. Returns rows written."""
    from accounts.models import WorkspaceMember

    known = [uid for uid in store.known_user_ids() if _is_uuid(uid)]
    rows: list[UserPresence] = []
    for start in range(0, len(known), MAX_USER_IDS):
        for uid, online, seen in store.read_many(user_ids=known[start : start + MAX_USER_IDS]):
            rows.append(
                UserPresence(
                    user_id=uid,
                    status=UserPresence.Status.ONLINE if online else UserPresence.Status.OFFLINE,
                    last_seen_at=_datetime(seen),
                )
            )
    workspaces: dict[str, list] = {}
    for user_id, workspace_id in WorkspaceMember.objects.filter(
        user_id__in=[row.user_id for row in rows], is_active=True
    ).values_list("user_id", "workspace_id"):
        workspaces.setdefault(str(user_id), []).append(workspace_id)
    rows = [
        UserPresence(workspace_id=wid, user_id=row.user_id, status=row.status, last_seen_at=row.last_seen_at)
        for row in rows
        for wid in workspaces.get(row.user_id, [])
    ]
    UserPresence.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["workspace", "user"],
        update_fields=["status", "last_seen_at"],
        batch_size=1000,
    )
    stale = UserPresence.objects.exclude(user_id__in=[row.user_id for row in rows]).exclude(
        status=UserPresence.Status.OFFLINE
    )
    return len(rows) + stale.update(status=UserPresence.Status.OFFLINE)


# --- This process's connections (event loop side) --------------------------------


def _run_sync(func):
    # Not thread-sensitive: each call is self-contained, so any worker thread (with its
    # own DB connection) may run it, and presence work does not queue behind other
    # consumers' calls on one shared thread.
    return database_sync_to_async(func, thread_sensitive=False)


class LocalPresence:
    """The open connections of this process (one instance per event loop) and the one
    asyncio task that keeps their heartbeats fresh and sweeps due users.

    The task starts with the first connection and ends once the process has had no
    connection for longer than the grace period (so its last users' grace is settled);
    a process without connections does not sweep: the others do, and readers evaluate
    lazily."""

    def __init__(self):
        self.connections: dict[str, str] = {}  # channel-layer name -> user id
        self.to_announce: set[str] = set()  # users who went online here, not yet announced
        self.task: asyncio.Task | None = None
        self.idle_since = time.monotonic()
        self._failing = False

    def track(self, *, user_id: str, connection: str, went_online: bool = False) -> None:
        """Keep this open connection's heartbeat fresh; if it made its user go online,
        announce that with the next tick (one batch for every user who came online
        meanwhile: a burst of reconnecting users costs one layer event per group)."""
        self.connections[connection] = str(user_id)
        if went_online:
            self.to_announce.add(str(user_id))
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run(), name="presence-ticker")

    async def untrack(self, *, user_id: str, connection: str) -> None:
        self.connections.pop(connection, None)
        if not self.connections:
            self.idle_since = time.monotonic()
        try:
            await store.adisconnect(user_id=str(user_id), connection=connection, grace=_grace())
        except Exception as exc:
            # The connection expires by itself within the TTL.
            logger.warning("presence: could not unregister a connection of %s: %r", user_id, exc)

    async def _run(self) -> None:
        beat_every = _ttl() / 3
        next_beat = time.monotonic() + beat_every
        while True:
            await asyncio.sleep(_sweep_interval())
            await self._guard("announce", self.announce)
            if time.monotonic() >= next_beat:
                next_beat = time.monotonic() + beat_every
                await self._guard("heartbeat", self.heartbeat)
            await self._guard("sweep", self.sweep)
            if (
                not self.connections
                and not self.to_announce
                and time.monotonic() - self.idle_since > _grace() + 2 * _sweep_interval()
            ):
                return

    async def _guard(self, what: str, step) -> None:
        try:
            await step()
        except Exception as exc:
            if not self._failing:  # one warning per failure streak
                logger.warning("presence: %s failed: %r", what, exc)
            self._failing = True
        else:
            if self._failing:
                logger.info("presence: %s works again", what)
            self._failing = False

    async def announce(self) -> None:
        if self.to_announce:
            user_ids, self.to_announce = sorted(self.to_announce), set()
            await _run_sync(presence_announce_online)(user_ids=user_ids)

    async def heartbeat(self) -> None:
        pairs = [(uid, connection) for connection, uid in self.connections.items()]
        unknown = await store.aheartbeat(connections=pairs, ttl=_ttl())
        # Swept while this process stalled (or Redis lost them): still open, so register again.
        for user_id, connection in unknown:
            if self.connections.get(connection) == user_id:
                registered = await _run_sync(presence_connect)(user_id=user_id, connection=connection, announce=False)
                if registered.went_online:
                    self.to_announce.add(user_id)

    async def sweep(self) -> None:
        due = await store.adue_user_ids()
        if due:
            await _run_sync(presence_sweep)(user_ids=due)


_local: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LocalPresence]" = weakref.WeakKeyDictionary()


def local_presence() -> LocalPresence:
    """This event loop's LocalPresence (call on the loop)."""
    loop = asyncio.get_running_loop()
    found = _local.get(loop)
    if found is None:
        found = _local[loop] = LocalPresence()
    return found
