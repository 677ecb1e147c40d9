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
is sent to the group, so the next event reaches them there too. A removal does not rest
on that wait: the project's layer (realtime.layers) takes the sockets out of the group
when it reads the unsubscribe from Redis, so a socket whose consumer is too slow to
confirm in time still hears nothing published after it.

The package: `delivery` (the layer operations, timeout, cool-down and the pub/sub fast
path), `messages`, `memberships` and `ephemeral` (the hooks, by what they announce).
Callers import the package (`from realtime import broadcast`) and call its hooks.
"""

from realtime.broadcast.delivery import frame_event
from realtime.broadcast.ephemeral import (
    presence_changed,
    presence_changed_many,
    typing,
)
from realtime.broadcast.memberships import (
    channel_deleted,
    channel_updated,
    dm_created,
    member_joined,
    member_left,
    member_removed_announce,
    member_resubscribe,
    member_role_changed,
    member_unsubscribe,
    sessions_close,
)
from realtime.broadcast.messages import (
    conversation_event,
    message_created,
    message_deleted,
    message_updated,
    messages_created,
    user_event,
    user_events,
)

__all__ = [
    "channel_deleted",
    "channel_updated",
    "conversation_event",
    "dm_created",
    "frame_event",
    "member_joined",
    "member_left",
    "member_removed_announce",
    "member_resubscribe",
    "member_role_changed",
    "member_unsubscribe",
    "message_created",
    "message_deleted",
    "message_updated",
    "messages_created",
    "presence_changed",
    "presence_changed_many",
    "sessions_close",
    "typing",
    "user_event",
    "user_events",
]
