"""Server-side notifications (issue 18; contract: "Read state, unread counts and
notifications").

Decided once per message and recipient, after the message is stored (send) or edited:
- reasons, strongest first: `mention` (the recipient is in `mentions`, or the message
  mentions the conversation), `dm` (any message of a DM or group DM), `thread_reply` (a
  reply in a thread the recipient follows);
- only to members of the conversation now, never to the sender, never for SYSTEM;
- not while the recipient's `dnd_until` is in the future;
- not in a conversation the recipient muted, unless they are mentioned directly
  (`<@me>` / `@me`; `@channel` does not break through a mute).
Once per (message, recipient): a row in `notifications_sent` is inserted with
`ON CONFLICT DO NOTHING RETURNING`, and only the rows this call inserted are notified;
so an edit that adds a mention notifies the newly mentioned once, and never someone
already notified for the message (its DM, an earlier mention), even when edits race.
Each recipient's sockets of the workspace get `notification {"reason", "message"}`.
"""

import logging
from datetime import UTC, datetime
from uuid import UUID

from django.db import connection

from messaging.documents import ConversationKind, MessageDocument, MessageType
from messaging.models import ThreadFollow
from messaging.serializers import message_to_api
from readstate import selectors
from readstate.models import ReadMarker, UserStatus
from realtime import broadcast, events

logger = logging.getLogger(__name__)

MENTION, DM, THREAD_REPLY = "mention", "dm", "thread_reply"

# Conversation kinds whose every message notifies: DMs and group DMs (both DM).
DIRECT_KINDS = frozenset({ConversationKind.DM.value})


def _candidates(message: MessageDocument, *, members: set[str], mention_only: bool) -> dict[str, tuple[str, bool]]:
    """{user_id: (reason, direct mention)} before the per-recipient filters."""
    out: dict[str, tuple[str, bool]] = {}
    direct = set(message.mentions) & members
    if not mention_only and message.thread_id is not None:
        followers = ThreadFollow.objects.filter(root_id=message.thread_id, following=True).values_list(
            "user_id", flat=True
        )
        for uid in followers:
            if str(uid) in members:
                out[str(uid)] = (THREAD_REPLY, False)
    if not mention_only and message.conversation.kind.value in DIRECT_KINDS:
        for uid in members:
            out[uid] = (DM, False)
    if message.mentions_channel:
        for uid in members:
            out[uid] = (MENTION, uid in direct)
    for uid in direct:
        out[uid] = (MENTION, True)
    out.pop(message.sender_id or "", None)
    return out


def _filter(candidates: dict[str, tuple[str, bool]], message: MessageDocument) -> dict[str, str]:
    if not candidates:
        return {}
    now = datetime.now(UTC)
    ids = list(candidates)
    in_dnd = set(
        str(uid)
        for uid in UserStatus.objects.filter(user_id__in=ids, dnd_until__gt=now).values_list("user_id", flat=True)
    )
    muted = set(
        str(uid)
        for uid in ReadMarker.objects.filter(
            user_id__in=ids, conversation_id=UUID(message.conversation.id), muted=True
        ).values_list("user_id", flat=True)
    )
    return {
        uid: reason
        for uid, (reason, direct) in candidates.items()
        if uid not in in_dnd and (uid not in muted or direct)
    }


_ONCE_SQL = """
INSERT INTO notifications_sent (message_id, user_id, reason, created_at)
SELECT %s, u, r, now() FROM unnest(%s::uuid[], %s::text[]) AS t(u, r)
ON CONFLICT (message_id, user_id) DO NOTHING
RETURNING user_id
"""


def _claim(message_id: str, decided: dict[str, str]) -> list[str]:
    """The recipients not notified for this message yet (now claimed for it)."""
    if not decided:
        return []
    ids = list(decided)
    with connection.cursor() as cursor:
        cursor.execute(_ONCE_SQL, [message_id, [UUID(uid) for uid in ids], [decided[uid] for uid in ids]])
        return [str(row[0]) for row in cursor.fetchall()]


def _notify(message: MessageDocument, *, mention_only: bool, only: set[str] | None = None) -> dict[str, str]:
    if message.type is not MessageType.TEXT or message.is_deleted:
        return {}
    direct_kind = message.conversation.kind.value in DIRECT_KINDS
    if not (message.mentions or message.mentions_channel or message.thread_id or direct_kind):
        return {}  # a plain channel message notifies nobody: no query at all
    members = set(selectors.conversation_member_ids(conversation=message.conversation))
    candidates = _candidates(message, members=members, mention_only=mention_only)
    if only is not None:
        candidates = {uid: value for uid, value in candidates.items() if uid in only}
    decided = _filter(candidates, message)
    claimed = _claim(message.id, decided)
    if claimed:
        api = message_to_api(message)
        broadcast.user_events(
            workspace_id=message.conversation.workspace_id,
            event_type=events.NOTIFICATION,
            per_user={uid: {"reason": decided[uid], "message": api} for uid in claimed},
        )
    return {uid: decided[uid] for uid in claimed}


def after_send(*, message: MessageDocument) -> dict[str, str]:
    """A message was stored and announced: notify its recipients. Returns {user_id:
    reason} of those notified. Never raises (a stored message must not fail on it)."""
    try:
        return _notify(message, mention_only=False)
    except Exception:
        logger.exception("notifications of %s failed", message.id)
        return {}


def after_edit(*, before: MessageDocument, after: MessageDocument) -> dict[str, str]:
    """An edit: whoever it newly mentions is notified, unless notified for this message
    already (the once-per-recipient claim decides). Never raises."""
    try:
        added = set(after.mentions) - set(before.mentions)
        if after.mentions_channel and not before.mentions_channel:
            return _notify(after, mention_only=True)  # everyone newly mentioned
        if not added:
            return {}
        return _notify(after, mention_only=True, only=added)
    except Exception:
        logger.exception("notifications of the edit of %s failed", after.id)
        return {}
