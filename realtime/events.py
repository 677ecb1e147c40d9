"""Every realtime name in one place: channel-layer group names, frame types and the
internal layer event types. Nobody else spells them.

Groups
------
- `channel_group(id)`: every socket of every member of a channel.
- `dm_group(id)`: every socket of the two users of a DM conversation.
- `user_group(user_id, workspace_id)`: every socket of one user opened with a token of
  one workspace (subscription changes, closing sessions). Per (user, workspace), so a
  socket of workspace A is never told of anything in workspace B.
- `presence_group(user_id, workspace_id)`: every socket of that workspace that
  subscribed to the user's presence (`presence.subscribe`, issue 13).

A layer event that becomes a frame carries the frame already encoded as JSON text
(`"text"`), so a fan-out to N sockets encodes once instead of N times; the consumer
method named after the event type (`message.created` -> `message_created`) sends it.
"""

from uuid import UUID

# --- Server -> client frames (and the layer events that carry them) -----------
HELLO = "hello"
PONG = "pong"
ERROR = "error"
MESSAGE_ACK = "message.ack"
MESSAGE_CREATED = "message.created"
MESSAGE_UPDATED = "message.updated"
MESSAGE_DELETED = "message.deleted"
MEMBER_JOINED = "member.joined"
MEMBER_LEFT = "member.left"
MEMBER_ROLE_CHANGED = "member.role_changed"  # issue 16
CHANNEL_UPDATED = "channel.updated"  # issue 16
CHANNEL_DELETED = "channel.deleted"  # issue 16
PRESENCE_CHANGED = "presence.changed"
TYPING = "typing"
# Issue 17, to a conversation's group.
THREAD_UPDATED = "thread.updated"
REACTION_ADDED = "reaction.added"
REACTION_REMOVED = "reaction.removed"
CONVERSATION_EVENTS = frozenset({THREAD_UPDATED, REACTION_ADDED, REACTION_REMOVED})
# Issue 18, to a user_group: a read marker moved; a notification for the user.
READ_UPDATED = "read.updated"
NOTIFICATION = "notification"
USER_EVENTS = frozenset({READ_UPDATED, NOTIFICATION})
# Acknowledges a client frame other than message.send (issue 17).
ACK = "ack"

# --- Client -> server frames ---------------------------------------------------
PING = "ping"
MESSAGE_SEND = "message.send"
REACTION_ADD = "reaction.add"
REACTION_REMOVE = "reaction.remove"
MESSAGE_EDIT = "message.edit"
MESSAGE_DELETE = "message.delete"
# Issue 13: whose presence this socket hears besides its small channels and DMs.
PRESENCE_SUBSCRIBE = "presence.subscribe"
# TYPING is both a client frame and a server frame.
CLIENT_FRAME_TYPES = frozenset(
    {PING, TYPING, MESSAGE_SEND, REACTION_ADD, REACTION_REMOVE, MESSAGE_EDIT, MESSAGE_DELETE, PRESENCE_SUBSCRIBE}
)

# --- Internal layer events (never sent to a client) ----------------------------
# Sent to a user_group: the user's sockets (un)subscribe the named group.
SUBSCRIBE = "realtime.subscribe"
UNSUBSCRIBE = "realtime.unsubscribe"
# Beside a user's own member.left (a layer event's meta, not in the frame, with
# MEMBERSHIP_SEQ): the group its sockets leave unless they know of a newer membership
# change of it (realtime.layers).
UNSUBSCRIBE_IF_OLDER = "unsubscribe_if_older"
# Beside a channel's subscribe, unsubscribe and own member.left: the channel's message
# seq at that membership change (taken under its lock, so the changes are in its order).
# A subscribe published after its commit, outside the lock, can be read after a later
# removal's unsubscribe: a socket drops a subscribe not newer than what it heard.
MEMBERSHIP_SEQ = "membership_seq"
SUBSCRIBED = "realtime.subscribed"  # a socket's answer on a reply channel (never a frame)
# Sent to a user_group: close the user's sockets (all, or those of one revoked token).
SESSIONS_CLOSE = "realtime.sessions_close"

# --- WebSocket close codes -----------------------------------------------------
CLOSE_UNAUTHENTICATED = 4401  # missing, bad, used or expired credential
CLOSE_NOT_FOUND = 4404  # no WebSocket endpoint at this path
# A store (Redis) is unavailable: reconnect with backoff. (Not the protocol's own 1013
# "try again later": daphne, the server before session 7, could not send it, and the
# contract names 4503.)
CLOSE_TRY_AGAIN_LATER = 4503

# --- Presence statuses ---------------------------------------------------------
ONLINE = "online"
OFFLINE = "offline"


def _id(value: UUID | str) -> str:
    return str(value)


def channel_group(channel_id: UUID | str) -> str:
    return f"channel.{_id(channel_id)}"


def dm_group(conversation_id: UUID | str) -> str:
    return f"dm.{_id(conversation_id)}"


def user_group(user_id: UUID | str, workspace_id: UUID | str) -> str:
    return f"user.{_id(user_id)}.{_id(workspace_id)}"


def presence_group(user_id: UUID | str, workspace_id: UUID | str) -> str:
    """Every socket of `workspace_id` subscribed (presence.subscribe) to the presence of
    `user_id` (issue 13)."""
    return f"presence.{_id(user_id)}.{_id(workspace_id)}"


def presence_member(connection: str, workspace_id: UUID | str) -> str:
    """A socket's entry in its user's presence registry (presence.store): its channel-layer
    name and the workspace it was opened for, so that a membership change in one
    workspace reaches (and waits for) that workspace's sockets only."""
    return f"{connection}|{_id(workspace_id)}"


def connections_of_workspace(members: list[str], workspace_id: UUID | str) -> list[str]:
    """The channel-layer names of the registry entries of `workspace_id` (entries without
    a workspace, registered before workspaces existed, count for every workspace)."""
    suffix = f"|{_id(workspace_id)}"
    return [m[: -len(suffix)] if m.endswith(suffix) else m for m in members if m.endswith(suffix) or "|" not in m]


def conversation_group(*, channel_id: UUID | str | None = None, conversation_id: UUID | str | None = None) -> str:
    """The group of a channel or of a DM, whichever id is given."""
    if channel_id is not None:
        return channel_group(channel_id)
    if conversation_id is not None:
        return dm_group(conversation_id)
    raise ValueError("channel_id or conversation_id is required")
