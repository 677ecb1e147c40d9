"""Reads of messages, and the access rule every message operation goes through.

History is keyset-paged on `seq`, not on (createdAt, _id) as STYLE.md suggests for
message history in general: `seq` IS the conversation order here (it is assigned
under a per-conversation lock, see messaging.services), it is unique per
conversation, so the seek condition is one range (`seq < s` / `seq > s`) on the
unique (conversation, seq) index, with no tie to break between messages sharing a
millisecond; and it is what clients compare to spot gaps. createdAt never
decreases with seq, so the order is the same as by time.
"""

from dataclasses import dataclass
from uuid import UUID

from channels_app.selectors import channel_get_for_member
from dms.selectors import dm_get_for_participant
from messaging import validation
from messaging.cursors import decode_cursor, encode_cursor
from messaging.documents import Conversation, ConversationKind, MessageDocument
from messaging.repositories import repository_for
from slackclone import errors


@dataclass(frozen=True, slots=True)
class HistoryPage:
    results: list[MessageDocument]  # conversation order, oldest first
    has_more: bool  # another page exists in the direction asked (default page: older)
    before_cursor: str
    after_cursor: str


def conversation_get_for_member(
    *, user, channel_id: UUID | str | None = None, conversation_id: UUID | str | None = None
) -> Conversation:
    """The channel or DM named by exactly one of the two ids, if `user` may read and
    post in it. Channel: 404 if unknown, 403 if not a member. DM: 404 for anyone but
    its two users. Checked on every call: membership can end at any time."""
    if (channel_id is None) == (conversation_id is None):
        raise errors.ValidationFailed(
            "Give exactly one of channel_id and conversation_id.",
            fields={"channel_id": ["Give exactly one of channel_id and conversation_id."]},
        )
    if channel_id is not None:
        cid = validation.clean_uuid(channel_id, field="channel_id", not_found="Channel not found.")
        channel_get_for_member(user=user, channel_id=cid)
        return Conversation(ConversationKind.CHANNEL, cid)
    cid = validation.clean_uuid(conversation_id, field="conversation_id", not_found="Conversation not found.")
    dm_get_for_participant(user=user, conversation_id=cid)
    return Conversation(ConversationKind.DM, cid)


def message_history(
    *,
    user,
    channel_id: UUID | str | None = None,
    conversation_id: UUID | str | None = None,
    limit: object = None,
    before: object = None,
    after: object = None,
) -> HistoryPage:
    """One page of a conversation's live (not deleted) messages, oldest first.

    Neither cursor: the newest `limit`. `before`: the `limit` just older than the
    cursor's position; `after`: the `limit` just newer. Cursors name a seq; an empty
    page hands back the position it was asked for (seq 0 for an empty conversation),
    so a client polling with `after_cursor` keeps its place.
    """
    conversation = conversation_get_for_member(user=user, channel_id=channel_id, conversation_id=conversation_id)
    limit = validation.clean_limit(limit)
    if before is not None and after is not None:
        text = "Give at most one of before and after."
        raise errors.ValidationFailed(text, fields={"before": [text], "after": [text]}, code="invalid_cursor")
    repo = repository_for(conversation.kind)

    # Fetch one more than asked: its presence is `has_more`.
    if after is not None:
        boundary = decode_cursor(after, conversation=conversation, field="after")
        found = repo.page_after(conversation_id=conversation.id, seq=boundary, limit=limit + 1)
        results = found[:limit]
    else:
        if before is not None:
            boundary = decode_cursor(before, conversation=conversation, field="before")
            found = repo.page_before(conversation_id=conversation.id, seq=boundary, limit=limit + 1)
        else:
            boundary = 0
            found = repo.newest_page(conversation_id=conversation.id, limit=limit + 1)
        results = found[:limit][::-1]  # fetched newest first

    if results:
        before_cursor = encode_cursor(conversation, results[0].seq)
        after_cursor = encode_cursor(conversation, results[-1].seq)
    else:
        before_cursor = after_cursor = encode_cursor(conversation, boundary)
    return HistoryPage(
        results=results, has_more=len(found) > limit, before_cursor=before_cursor, after_cursor=after_cursor
    )
