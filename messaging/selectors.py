"""Reads of messages, and the access rule every message operation goes through.

History is keyset-paged on `seq`, not on (createdAt, _id) as STYLE.md suggests for
message history in general: `seq` IS the conversation order here (it is assigned
under a per-conversation lock, see messaging.services), it is unique per
conversation, so the seek condition is one range (`seq < s` / `seq > s`) on the
unique (conversation, seq) index, with no tie to break between messages sharing a
millisecond; and it is what clients compare to spot gaps. createdAt never
decreases with seq, so the order is the same as by time.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from accounts.selectors import workspace_or_default
from channels_app.selectors import (
    channel_archived_error,
    channel_get,
    channel_get_for_member,
    channel_get_visible,
    channel_ids_existing,
)
from dms.selectors import dm_get_for_participant, dm_ids_existing
from messaging import repositories_ext as ext
from messaging import validation
from messaging.cursors import decode_cursor, decode_moderation_cursor, encode_cursor, encode_moderation_cursor
from messaging.documents import Conversation, ConversationKind, MessageDocument
from messaging.models import MessageSequence
from messaging.repositories import repository_for
from slackclone import errors


@dataclass(frozen=True, slots=True)
class HistoryPage:
    results: list[MessageDocument]  # conversation order, oldest first
    has_more: bool  # another page exists in the direction asked (default page: older)
    before_cursor: str
    after_cursor: str


def conversation_get_for_member(
    *,
    user,
    workspace=None,
    channel_id: UUID | str | None = None,
    conversation_id: UUID | str | None = None,
    for_write: bool = False,
) -> Conversation:
    """The channel or DM of `workspace` named by exactly one of the two ids, if `user`
    may read and post in it. Channel: 404 if unknown (or another workspace's), 403 if
    not a member. DM: 404 for anyone but its two users. Checked on every call:
    membership can end at any time.

    `for_write` (posting or editing a message): an archived channel is read-only, 409
    `channel_archived`. This is the one place that rule lives for messages; deleting
    stays possible (authors, staff and moderators may still remove content)."""
    if (channel_id is None) == (conversation_id is None):
        raise errors.ValidationFailed(
            "Give exactly one of channel_id and conversation_id.",
            fields={"channel_id": ["Give exactly one of channel_id and conversation_id."]},
        )
    workspace = workspace_or_default(workspace)
    if channel_id is not None:
        cid = validation.clean_uuid(channel_id, field="channel_id", not_found="Channel not found.")
        channel = channel_get_for_member(user=user, workspace=workspace, channel_id=cid)
        if for_write and channel.is_archived:
            raise channel_archived_error()
        return Conversation(ConversationKind.CHANNEL, cid, str(channel.workspace_id))
    cid = validation.clean_uuid(conversation_id, field="conversation_id", not_found="Conversation not found.")
    # A DM or a group DM (issue 16): both are addressed by conversation_id and stored in
    # dm_messages; each is visible to its own members only (404 for anyone else).
    dm = dm_get_for_participant(user=user, workspace=workspace, conversation_id=cid)
    return Conversation(ConversationKind.DM, cid, str(dm.workspace_id))


def conversation_get_for_deleter(
    *, user, workspace=None, channel_id: UUID | str | None = None, conversation_id: UUID | str | None = None
) -> Conversation:
    """Where `user` may delete messages: staff moderate every channel (channels are
    public; 404 if unknown), members their own channels; a DM stays private to its two
    users (staff moderate DMs from the admin). Who may delete WHICH message is
    messaging.services.message_delete's rule."""
    if channel_id is not None and conversation_id is None and getattr(user, "is_staff", False):
        cid = validation.clean_uuid(channel_id, field="channel_id", not_found="Channel not found.")
        channel = channel_get_visible(user=user, workspace=workspace_or_default(workspace), channel_id=cid)
        return Conversation(ConversationKind.CHANNEL, cid, str(channel.workspace_id))
    return conversation_get_for_member(
        user=user, workspace=workspace, channel_id=channel_id, conversation_id=conversation_id
    )


def message_history(
    *,
    user,
    workspace=None,
    channel_id: UUID | str | None = None,
    conversation_id: UUID | str | None = None,
    limit: object = None,
    before: object = None,
    after: object = None,
    thread_roots_only: object = None,
    thread_root_id: object = None,
) -> HistoryPage:
    """One page of a conversation's live (not deleted) messages, oldest first.

    Issue 17: tombstones (deleted roots that still have replies) are included;
    `thread_roots_only` ("true"/"false") leaves out replies not also in the channel;
    `thread_root_id` pages that root's replies instead (404 unless it is a root, live
    or a tombstone), with the same cursors.

    Neither cursor: the newest `limit`. `before`: the `limit` just older than the
    cursor's position; `after`: the `limit` just newer. Cursors name a seq; an empty
    page hands back the position it was asked for (seq 0 for an empty conversation),
    so a client polling with `after_cursor` keeps its place.
    """
    conversation = conversation_get_for_member(
        user=user, workspace=workspace, channel_id=channel_id, conversation_id=conversation_id
    )
    limit = validation.clean_limit(limit)
    if before is not None and after is not None:
        text = "Give at most one of before and after."
        raise errors.ValidationFailed(text, fields={"before": [text], "after": [text]}, code="invalid_cursor")
    repo = repository_for(conversation.kind)
    view = _history_view(conversation, thread_roots_only=thread_roots_only, thread_root_id=thread_root_id)

    # Fetch one more than asked: its presence is `has_more`. Read in bounded seq windows
    # below the conversation's counter (issue 13, MessageRepository.window_page).
    top = conversation_last_seq(conversation=conversation)
    cursor: dict[str, int] = {}
    if after is not None:
        cursor["after"] = decode_cursor(after, conversation=conversation, field="after")
    elif before is not None:
        cursor["before"] = decode_cursor(before, conversation=conversation, field="before")
    boundary = next(iter(cursor.values()), 0)
    if "thread_id" in view:
        found = _thread_replies(repo, conversation, view["thread_id"], top=top, limit=limit + 1, **cursor)
    else:
        found = repo.window_page(conversation_id=conversation.id, top=top, limit=limit + 1, **cursor, **view)
    results = found[:limit] if after is not None else found[:limit][::-1]  # newest first unless `after`

    if results:
        before_cursor = encode_cursor(conversation, results[0].seq)
        after_cursor = encode_cursor(conversation, results[-1].seq)
    else:
        before_cursor = after_cursor = encode_cursor(conversation, boundary)
    return HistoryPage(
        results=results, has_more=len(found) > limit, before_cursor=before_cursor, after_cursor=after_cursor
    )


def _thread_replies(repo, conversation: Conversation, root_id: str, **page) -> list:
    """A page of a thread's replies (`MessageRepository.thread_page`, `page`: top, limit
    and the cursor), read in the thread's own blocks below its root's `lastThreadSeq`
    (session 14). The root is read first for that (one `_id` read); replies found prove
    their root (only a root of this conversation gets replies, and one with live replies
    is live or a tombstone), so only an empty page checks it: 404 unless it names a
    root, live or a tombstone."""
    root = ext.get_visible(repo, conversation_id=conversation.id, message_id=root_id)
    is_root = root is not None and root.takes_replies
    thread_top = root.last_thread_seq if is_root else None
    found = repo.thread_page(conversation_id=conversation.id, thread_id=root_id, thread_top=thread_top, **page)
    if not found and not is_root:
        raise errors.NotFound("Thread not found.")
    return found


def conversation_last_seq(*, conversation: Conversation) -> int:
    """The conversation's newest committed seq (its `message_sequences` counter; 0 if
    nothing was ever sent). One primary-key read in PostgreSQL; what bounds a history
    window (issue 13)."""
    last = MessageSequence.objects.filter(conversation_id=conversation.id).values_list("last_seq", flat=True).first()
    return int(last or 0)


def _history_view(conversation: Conversation, *, thread_roots_only: object, thread_root_id: object) -> dict:
    """The repository's history view (issue 17) from the raw query values."""
    if thread_root_id is not None:
        # The root itself is checked by _thread_replies.
        if not isinstance(thread_root_id, str):
            raise errors.NotFound("Thread not found.")
        try:
            return {"thread_id": validation.clean_message_id(thread_root_id)}
        except errors.NotFound as exc:
            raise errors.NotFound("Thread not found.") from exc
    return {"roots_only": validation.clean_bool_param(thread_roots_only, field="thread_roots_only")}


# --- Moderation and operations ----------------------------------------------------
# No access rule here: the callers are the admin (which lets only staff with the
# `moderation` permissions in) and management commands.

MODERATION_PAGE_SIZE = 50
SEARCH_TEXT_MAX_LENGTH = 200


class MessageStatus(StrEnum):
    LIVE = "live"
    DELETED = "deleted"
    ALL = "all"


@dataclass(frozen=True, slots=True)
class MessageFilter:
    """What the moderation list shows; every value already checked (see moderation.forms)."""

    kind: ConversationKind = ConversationKind.CHANNEL
    workspace_id: str | None = None
    conversation_id: str | None = None
    sender_id: str | None = None
    created_from: datetime | None = None
    created_before: datetime | None = None
    text: str | None = None
    status: MessageStatus = MessageStatus.LIVE


@dataclass(frozen=True, slots=True)
class MessagePage:
    results: list[MessageDocument]  # newest first
    next_cursor: str | None  # the page just older, or None


def message_search(
    *, filters: MessageFilter, cursor: str | None = None, limit: int = MODERATION_PAGE_SIZE
) -> MessagePage:
    """A page of the moderation list: the messages of one collection (channels or DMs)
    matching `filters`, newest first, keyset-paged on (createdAt, _id) with an opaque
    signed cursor (400 `invalid_cursor` for anything else)."""
    seek = decode_moderation_cursor(cursor, kind=filters.kind) if cursor else None
    text = (filters.text or "").strip()
    if len(text) > SEARCH_TEXT_MAX_LENGTH:
        raise errors.ValidationFailed(
            f"At most {SEARCH_TEXT_MAX_LENGTH} characters.",
            fields={"text": [f"At most {SEARCH_TEXT_MAX_LENGTH} characters."]},
        )
    where = {
        "workspace_id": filters.workspace_id,
        "conversation_id": filters.conversation_id,
        "sender_id": filters.sender_id,
        "created_from": filters.created_from,
        "created_before": filters.created_before,
        "deleted": {MessageStatus.LIVE: False, MessageStatus.DELETED: True}.get(filters.status),
        "seek": seek,
        "limit": limit + 1,
    }
    repo = repository_for(filters.kind)
    if text:
        # The text filter runs on the search engine (search.selectors); MongoDB then
        # hands over the documents of the ids it found, kept in its order.
        from search.selectors import moderation_message_ids

        ids = moderation_message_ids(kind=filters.kind, text=text, **where)
        documents = repo.get_each(message_ids=ids)
        found = [documents[mid] for mid in ids if mid in documents]
    else:
        found = repo.search(**where)
    results = found[:limit]
    next_cursor = None
    if len(found) > limit:
        last = results[-1]
        next_cursor = encode_moderation_cursor(kind=filters.kind, created_at=last.created_at, message_id=last.id)
    return MessagePage(results=results, next_cursor=next_cursor)


def message_get_any(*, kind: ConversationKind, message_id: object) -> MessageDocument:
    """A message of any conversation, deleted or not; 404 if there is none."""
    message = repository_for(kind).get_by_id(message_id=validation.clean_message_id(message_id))
    if message is None:
        raise errors.NotFound("Message not found.")
    return message


def message_context(*, message: MessageDocument, count: int) -> tuple[list[MessageDocument], list[MessageDocument]]:
    """The `count` messages just before and just after `message` in its conversation
    (deleted ones included), each list oldest first."""
    return repository_for(message.conversation.kind).around(
        conversation_id=message.conversation.id, seq=message.seq, count=count
    )


def messages_get_many(*, kind: ConversationKind, message_ids: list[object]) -> list[MessageDocument]:
    """These messages (deleted or not; unknown or malformed ids are skipped), newest first."""
    ids = []
    for message_id in message_ids:
        try:
            ids.append(validation.clean_message_id(message_id))
        except errors.NotFound:
            continue
    return repository_for(kind).get_many(message_ids=ids)


def channel_export(*, channel_id: UUID | str, batch_size: int = 1000) -> Iterator[MessageDocument]:
    """Every live message of an existing channel (404 otherwise) in seq order, read
    `batch_size` at a time."""
    cid = validation.clean_uuid(channel_id, field="channel_id", not_found="Channel not found.")
    channel_get(workspace=None, channel_id=cid)
    return repository_for(ConversationKind.CHANNEL).iter_live(conversation_id=cid, batch_size=batch_size)


def conversation_ids_existing(*, kind: ConversationKind, conversation_ids: list[str]) -> set[str]:
    """Which of these channel (or DM conversation) ids exist in PostgreSQL."""
    if kind is ConversationKind.CHANNEL:
        return channel_ids_existing(channel_ids=conversation_ids)
    return dm_ids_existing(conversation_ids=conversation_ids)


@dataclass(frozen=True, slots=True)
class OrphanConversation:
    """A conversation id that has messages in MongoDB but no row in PostgreSQL."""

    conversation: Conversation
    messages: int  # stored messages created before the check started


def orphan_conversations(*, created_before: datetime) -> list[OrphanConversation]:
    """Channels and DMs that have messages in MongoDB (created before `created_before`)
    but no longer exist in PostgreSQL, e.g. deleted while MongoDB was unavailable.

    MongoDB is read before PostgreSQL, so a conversation created meanwhile is seen in
    PostgreSQL too; a channel whose creating transaction is still open when PostgreSQL
    is read (its "joined" message is stored before the commit) can show up here, which
    is why `orphan_messages_delete` checks again before deleting anything."""
    orphans: list[OrphanConversation] = []
    for kind in (ConversationKind.CHANNEL, ConversationKind.DM):
        repo = repository_for(kind)
        stored = repo.conversation_ids()
        missing = sorted(set(stored) - conversation_ids_existing(kind=kind, conversation_ids=stored))
        counts = repo.count_by_conversation(conversation_ids=missing, created_before=created_before)
        orphans += [
            OrphanConversation(Conversation(kind, cid), counts[cid]) for cid in missing if counts.get(cid, 0) > 0
        ]
    return orphans


# --- Workspaces (manage.py export_workspace, check_consistency) ----------------------


def workspace_messages(*, workspace_id: str, batch_size: int = 1000) -> Iterator[MessageDocument]:
    """Every stored message of a workspace, channels' then DMs', deleted ones included,
    each collection by (createdAt, _id) on its (workspaceId, createdAt, _id) index, read
    `batch_size` at a time (constant memory)."""
    for kind in (ConversationKind.CHANNEL, ConversationKind.DM):
        yield from repository_for(kind).iter_workspace(workspace_id=str(workspace_id), batch_size=batch_size)


def messages_without_workspace() -> dict[str, int]:
    """{collection: documents without a workspaceId} (stored before workspaces existed;
    `manage.py backfill_workspace_ids` sets it)."""
    return {
        repository_for(kind).collection_name: repository_for(kind).count_without_workspace()
        for kind in ConversationKind
    }


def conversations_for_maintenance(
    *, workspace: str | None = None, conversation: str | None = None
) -> list[Conversation]:
    """Every channel, DM and group DM (group DMs are DMs to the message store), or those
    of one workspace (slug or id), or one conversation (id): what maintenance commands
    walk (search_reindex, unread_index_rebuild). Raises errors.NotFound for an unknown
    workspace or conversation, errors.ValidationFailed for a malformed id."""
    from accounts.models import Workspace
    from channels_app.models import Channel
    from dms.models import DmConversation, GroupDm

    channels, dms, groups = Channel.objects.all(), DmConversation.objects.all(), GroupDm.objects.all()
    if workspace:
        found = Workspace.objects.filter(slug=workspace).first() or (
            Workspace.objects.filter(pk=workspace).first() if validation.is_uuid(workspace) else None
        )
        if found is None:
            raise errors.NotFound(f"No workspace {workspace!r}.")
        channels, dms, groups = (q.filter(workspace=found) for q in (channels, dms, groups))
    if conversation:
        if not validation.is_uuid(conversation):
            raise errors.ValidationFailed("A conversation is given by its channel, DM or group DM id.")
        channels, dms, groups = (q.filter(pk=conversation) for q in (channels, dms, groups))
    result = [
        Conversation(ConversationKind.CHANNEL, str(pk), str(ws))
        for pk, ws in channels.values_list("pk", "workspace_id")
    ] + [
        Conversation(ConversationKind.DM, str(pk), str(ws))
        for query in (dms, groups)
        for pk, ws in query.values_list("pk", "workspace_id")
    ]
    if conversation and not result:
        raise errors.NotFound(f"No channel, DM or group DM {conversation}.")
    return result
