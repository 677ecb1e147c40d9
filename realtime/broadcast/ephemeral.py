"""Ephemeral events: typing and presence (never stored)."""

import json
import uuid

from realtime import events
from realtime.broadcast.delivery import _conversation_fields, _deliver, frame_event


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
