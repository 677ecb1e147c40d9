"""Membership events: joins and leaves, which also move the user's live sockets
into or out of the conversation's group; channel management (issue 16); new DMs;
closing a user's sessions."""

from realtime import events
from realtime.broadcast.delivery import _deliver, _live_connections, frame_event


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
            subscribe[events.MEMBERSHIP_SEQ] = system_message["seq"]  # see events.MEMBERSHIP_SEQ
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


def _unsubscribe_steps(
    *, group: str, user_ids: list[str], workspace_id: str, remote_membership: bool, seq: int | None = None
) -> list:
    """The steps that take every live socket of `user_ids` (of `workspace_id`) out of
    `group`, waiting for the sockets of other processes to confirm (see the module
    docstring). `seq`: events.MEMBERSHIP_SEQ."""
    connections = _live_connections(user_ids, workspace_id)
    unsubscribe = {"type": events.UNSUBSCRIBE, "group": group}
    if seq is not None:
        unsubscribe[events.MEMBERSHIP_SEQ] = seq
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


def member_unsubscribe(*, channel_id: str, user_id: str, workspace_id: str, seq: int | None = None) -> None:
    """Take a removed (or leaving) member's live sockets out of the channel's group, on
    every server process, and return once they confirmed (bounded by
    SUBSCRIBE_WAIT_SECONDS). Called by channels_app.services under the channel's lock,
    BEFORE the removal is announced (member_removed_announce): from then on those sockets
    hear nothing of the channel. `seq`: the channel's last seq, read under its lock
    (events.MEMBERSHIP_SEQ). Best-effort like everything here."""
    channel_id, user_id, workspace_id = str(channel_id), str(user_id), str(workspace_id)

    def build(*, remote_membership: bool):
        group = events.channel_group(channel_id)
        return _unsubscribe_steps(
            group=group, user_ids=[user_id], workspace_id=workspace_id, remote_membership=remote_membership, seq=seq
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


def member_removed_announce(*, channel_id: str, user_id: str, workspace_id: str, seq: int) -> None:
    """After member_unsubscribe and the commit: the removed (or leaving) user's own
    sockets get member.left for themselves (through their user group), then the
    remaining members hear member.left. `seq`: the one given to member_unsubscribe."""
    channel_id, user_id, workspace_id = str(channel_id), str(user_id), str(workspace_id)

    def build(*, remote_membership: bool):
        fields = {"channel_id": channel_id, "user_id": user_id}
        # The user's own copy also takes out of the channel's group a socket that joined
        # it from a read older than the commit and so missed the unsubscribe
        # (realtime.layers `_leave_if_older`).
        meta = {events.UNSUBSCRIBE_IF_OLDER: events.channel_group(channel_id), events.MEMBERSHIP_SEQ: seq}
        own = frame_event(events.MEMBER_LEFT, fields, **meta)
        return [
            [("send", events.user_group(user_id, workspace_id), own)],
            [("send", events.channel_group(channel_id), frame_event(events.MEMBER_LEFT, fields))],
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
