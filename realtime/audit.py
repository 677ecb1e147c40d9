"""The live sockets' audit: repairs what a lost membership or session event left behind.

Why
---
A member removed from a channel stops hearing it because the removal publishes a
realtime.unsubscribe (and the user's own member.left) on the channel layer; a revoked
token or a deactivated user's sockets close on a realtime.sessions_close
(realtime.broadcast). Those events are best effort: while Redis cannot be reached, the
broadcaster drops them (realtime.broadcast.delivery: a cool-down after an error), but
the removal or revocation itself commits. The sockets outlive the outage: channels_redis
subscribes their groups again once Redis is back. So a member removed during the outage
would hear the private channel again, and a revoked token's socket would stay open,
until the socket reconnected; a member added during the outage would not hear the
channel live.

What it does
------------
Every REALTIME_AUDIT_SECONDS (default 30, jittered; 0: off) each server process checks
every registered socket of its event loop against PostgreSQL, with five statements
whatever the number of sockets (`_read`), so that what its sockets hear converges to
what PostgreSQL says within one period:

- `accounts.selectors.credentials_revoked`: the sockets whose user, workspace
  membership or token no longer stands. Each is handed a sessions.close through its own
  queue (`deliver_here`: no Redis needed) and closes with 4401, as it would have.
- `channels_app.selectors.memberships_ended`: of the (user, channel) pairs the sockets
  hear, those that are no longer a membership, with the channel's newest seq from the
  same snapshot. Each such socket leaves the channel's group unless it knows of a
  membership change newer than that read (`RealtimeConsumer.departed`: a rejoin's
  subscribe, events.MEMBERSHIP_SEQ), so a read overtaken by a rejoin undoes nothing.
- `channels_app.selectors.users_channel_seqs` and `dms.selectors.users_dm_ids`: the
  channels (with their seqs) and DMs of the sockets' users. A socket missing one joins
  it (a join or a new DM whose subscribe was lost), unless it knows of a membership
  change of the channel as new as the read (`subscribed`: a removal whose unsubscribe
  it heard after the read), as a connect does.

A repair is counted (`slackclone_realtime_audit_repairs_total{repair="closed"|"left"|
"joined"}`) and logged at WARNING: on a healthy deployment it stays at zero, since the
events arrive first.
"""

import asyncio
import logging
import random
from dataclasses import dataclass

from channels.db import database_sync_to_async
from django.conf import settings

from realtime import events
from slackclone import metrics

logger = logging.getLogger(__name__)

_CHANNEL_PREFIX = events.channel_group("")
_JITTER = 0.2  # each period is REALTIME_AUDIT_SECONDS +- 20%: processes do not audit in step

_running: dict[asyncio.AbstractEventLoop, asyncio.Task] = {}


def ensure_running(layer) -> None:
    """Start the running loop's audit task if it is not running (called by each socket
    as it registers with `layer`; one task per event loop; off when
    REALTIME_AUDIT_SECONDS is 0 or the layer has no registry of local sockets)."""
    if settings.REALTIME_AUDIT_SECONDS <= 0 or not hasattr(layer, "consumers_here"):
        return
    loop = asyncio.get_running_loop()
    task = _running.get(loop)
    if task is None or task.done():
        for other in [other for other, t in _running.items() if t.done() or other.is_closed()]:
            _running.pop(other, None)
        _running[loop] = loop.create_task(_audit_forever(layer), name="realtime-audit")


async def _audit_forever(layer) -> None:
    while True:
        period = settings.REALTIME_AUDIT_SECONDS
        if period <= 0:
            return  # switched off while running
        await asyncio.sleep(period * random.uniform(1 - _JITTER, 1 + _JITTER))
        if not layer.consumers_here():
            return  # the last socket closed; the next one to register starts it again
        try:
            await audit_once(layer)
        except Exception as exc:  # a store down: try again next period
            logger.warning("realtime: the live sockets' audit failed: %r", exc)


async def audit_once(layer) -> dict[str, int]:
    """Audit the sockets registered on the running loop now (module docstring); returns
    how many were repaired: {"left": groups left, "joined": groups joined, "closed":
    sockets closed}. Raises what PostgreSQL raises when it cannot be read (the periodic
    task logs it)."""
    consumers = {name: c for name, c in layer.consumers_here().items() if c.ready}
    repaired = {"left": 0, "joined": 0, "closed": 0}
    if not consumers:
        return repaired
    heard = {
        (consumer.user_id, group[len(_CHANNEL_PREFIX) :])
        for consumer in consumers.values()
        for group in consumer.subscriptions
        if group.startswith(_CHANNEL_PREFIX)
    }
    users = {_socket_user(consumer) for consumer in consumers.values()}
    credentials = {_credentials(consumer) for consumer in consumers.values()}
    reads = await database_sync_to_async(_read, thread_sensitive=False)(heard, users, credentials)
    repaired["closed"] = _close_revoked(layer, consumers, reads.revoked)
    standing = {n: c for n, c in consumers.items() if _credentials(c) not in reads.revoked}
    repaired["left"] = await _leave_ended(layer, standing, reads.ended)
    repaired["joined"] = await _join_missing(layer, standing, reads.channels, reads.dms)
    for repair, count in repaired.items():
        if count:
            metrics.REALTIME_AUDIT_REPAIRS.labels(repair).inc(count)
    return repaired


@dataclass(frozen=True)
class _Reads:
    ended: dict[tuple[str, str], int]  # (user id, channel id) heard but no longer a membership -> seq
    channels: dict[tuple[str, str], dict[str, int]]  # (user id, workspace id) -> {channel id: seq}
    dms: dict[tuple[str, str], set[str]]  # (user id, workspace id) -> DM and group DM ids
    revoked: set[tuple[str, str, str | None]]  # (user id, workspace id, token digest)


def _socket_user(consumer) -> tuple[str, str]:
    return consumer.user_id, str(consumer.workspace.pk)


def _credentials(consumer) -> tuple[str, str, str | None]:
    return *_socket_user(consumer), consumer.scope.get("auth_token_digest")


def _read(heard: set, users: set, credentials: set) -> _Reads:
    """The audit's reads (in a thread; five statements whatever the number of sockets):
    of the (user id, channel id) pairs the sockets hear, the (user id, workspace id) of
    their users and their credentials, all taken on the loop before."""
    from accounts.selectors import credentials_revoked
    from channels_app.selectors import memberships_ended, users_channel_seqs
    from dms.selectors import users_dm_ids

    return _Reads(
        ended=memberships_ended(pairs=list(heard)),
        channels=users_channel_seqs(pairs=list(users)),
        dms=users_dm_ids(pairs=list(users)),
        revoked=credentials_revoked(credentials=list(credentials)),
    )


async def _leave_ended(layer, consumers: dict, ended: dict[tuple[str, str], int]) -> int:
    """Each socket still hearing a channel its user is no longer a member of leaves it,
    unless it knows of a newer membership change (`RealtimeConsumer.departed`)."""
    left = 0
    for (user_id, channel_id), seq in ended.items():
        group = events.channel_group(channel_id)
        names = [n for n, c in consumers.items() if c.user_id == user_id and group in c.subscriptions]
        await layer.leave_if_older(group, names, seq)
        gone = [n for n in names if group not in consumers[n].subscriptions]
        if gone:
            left += len(gone)
            logger.warning("realtime: audit: %d socket(s) of user %s left channel %s", len(gone), user_id, channel_id)
    return left


async def _join_missing(layer, consumers: dict, channels: dict, dms: dict) -> int:
    """Each socket missing a channel or DM of its user joins it, unless it knows of a
    membership change of the channel as new as the read or newer (`subscribed`: a
    removal whose unsubscribe it heard after this read)."""
    joined = 0
    for name, consumer in consumers.items():
        user = _socket_user(consumer)
        wanted = [(events.channel_group(cid), seq) for cid, seq in channels.get(user, {}).items()]
        wanted += [(events.dm_group(cid), None) for cid in dms.get(user, ())]
        for group, seq in wanted:
            if group in consumer.subscriptions:
                continue
            await layer.join_if_newer(group, [name], seq)  # a failed join is undone there
            if group in consumer.subscriptions:
                joined += 1
                logger.warning("realtime: audit: a socket of user %s joined %s", user[0], group)
    return joined


def _close_revoked(layer, consumers: dict, revoked: set) -> int:
    """Each socket of credentials that no longer stand gets a sessions.close through its
    own queue (it closes with 4401)."""
    names = [name for name, consumer in consumers.items() if _credentials(consumer) in revoked]
    for name in names:
        layer.deliver_here(name, {"type": events.SESSIONS_CLOSE, "token_digest": None})
    if names:
        logger.warning("realtime: audit: closing %d socket(s) of revoked credentials", len(names))
    return len(names)
