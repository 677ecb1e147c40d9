"""Reads of read state (issue 18): unread and mention counts, totals, statuses.

Counting (docs/read-state.md)
=============================
The counts are not stored: they are counted on MongoDB, on the messages' unique
(conversation, seq) index, from the reader's marker. `unread_count` of `user` in a
conversation is the number of messages with

    seq > marker, deletedAt null, type TEXT, senderId != user,
    and (threadId null or alsoInChannel true)

and `mention_count` the part of those with `mentions` containing the user or
`mentionsChannel` true. Because the definition is evaluated on the stored documents,
every later change is reflected at once with no maintenance on the write path: a
delete stops counting as soon as MongoDB acknowledged it, an edit that adds or removes
a mention moves `mention_count`, a late joiner's marker starts at the newest seq. The
write path (send, edit, delete) costs nothing more.

Conversations whose newest seq (PostgreSQL's message_sequences, one query for the
page) is not after the marker are answered 0/0 without asking MongoDB. The others are
counted in ONE aggregation per collection: a `$match` on an
`$or` of (conversation, seq > marker) branches, then `$group` by conversation. Only the
messages after each marker are read (the unread ones), so the cost grows with what is
unread, not with history.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from channels_app.selectors import channel_member_ids, user_channel_ids
from dms.selectors import dm_member_ids, user_dm_ids
from messaging.documents import Conversation, ConversationKind
from messaging.models import MessageSequence, ThreadFollow
from messaging.repositories import _mongo_errors, repository_for
from readstate.models import ReadMarker, ThreadReadMarker, UserStatus


@dataclass(frozen=True, slots=True)
class Counts:
    unread_count: int
    mention_count: int


def newest_seq(*, conversation_id: UUID | str) -> int:
    """The conversation's newest seq (0 before its first message)."""
    value = MessageSequence.objects.filter(conversation_id=conversation_id).values_list("last_seq", flat=True).first()
    return int(value or 0)


def marker_get(*, user_id, conversation_id) -> int:
    value = (
        ReadMarker.objects.filter(user_id=user_id, conversation_id=conversation_id)
        .values_list("last_read_seq", flat=True)
        .first()
    )
    return int(value or 0)


def thread_marker_get(*, user_id, root_id: str) -> int:
    value = (
        ThreadReadMarker.objects.filter(user_id=user_id, root_id=root_id)
        .values_list("last_read_seq", flat=True)
        .first()
    )
    return int(value or 0)


def _unread_filter(user_id: str) -> dict:
    return {
        "deletedAt": None,
        "type": "TEXT",
        "senderId": {"$ne": user_id},
    }


def _in_channel_view() -> dict:
    return {"$or": [{"threadId": None}, {"alsoInChannel": True}]}


def _mentioning(user_id: str) -> dict:
    return {"$or": [{"mentions": user_id}, {"mentionsChannel": True}]}


def counts_many(
    *, user_id, markers: dict[Conversation, int], newest: dict[str, int] | None = None
) -> dict[Conversation, Counts]:
    """Unread and mention counts of `user_id` in each conversation, from its marker:
    one aggregation per collection and count (at most 2 x kinds round trips).
    `newest` ({conversation id: newest seq}) when the caller already read it."""
    user_id = str(user_id)
    result = {conversation: Counts(0, 0) for conversation in markers}
    if not markers:
        return result
    # A conversation whose newest seq is not after the marker has nothing unread, and
    # costs MongoDB nothing (one PostgreSQL query, unless the caller has them).
    if newest is None:
        newest = {
            str(cid): seq
            for cid, seq in MessageSequence.objects.filter(conversation_id__in=[c.id for c in markers]).values_list(
                "conversation_id", "last_seq"
            )
        }
    by_kind: dict[ConversationKind, list[tuple[Conversation, int]]] = {}
    for conversation, marker in markers.items():
        if newest.get(conversation.id, 0) > marker:
            by_kind.setdefault(conversation.kind, []).append((conversation, marker))
    for kind, items in by_kind.items():
        repo = repository_for(kind)
        field = repo.conversation_field
        branches = [{field: conversation.id, "seq": {"$gt": marker}} for conversation, marker in items]
        unread = {"$and": [{"$or": branches}, _unread_filter(user_id), _in_channel_view()]}
        found: dict[str, list[int]] = {}
        for index, query in enumerate((unread, {"$and": [unread, _mentioning(user_id)]})):
            pipeline = [{"$match": query}, {"$group": {"_id": f"${field}", "n": {"$sum": 1}}}]
            with _mongo_errors():
                for row in repo.collection.aggregate(pipeline):
                    found.setdefault(row["_id"], [0, 0])[index] = int(row["n"])
        for conversation, _marker in items:
            unread_n, mention_n = found.get(conversation.id, [0, 0])
            result[conversation] = Counts(unread_n, mention_n)
    return result


def counts_for(*, user_id, conversation: Conversation, marker: int) -> Counts:
    return counts_many(user_id=user_id, markers={conversation: marker})[conversation]


def thread_unread_many(*, user_id, threads: list[tuple[ConversationKind, str, str, int]]) -> dict[str, int]:
    """{root_id: replies after the marker, visible, not the user's own} for each
    (kind, conversation_id, root_id, marker); one aggregation per collection."""
    user_id = str(user_id)
    counts: dict[str, int] = {root_id: 0 for _k, _c, root_id, _m in threads}
    for kind in ConversationKind:
        mine = [t for t in threads if t[0] is kind]
        if not mine:
            continue
        repo = repository_for(kind)
        field = repo.conversation_field
        branches = [{field: cid, "threadId": root_id, "seq": {"$gt": marker}} for _k, cid, root_id, marker in mine]
        query = {"$and": [{"$or": branches}, {"deletedAt": None, "senderId": {"$ne": user_id}}]}
        pipeline = [{"$match": query}, {"$group": {"_id": "$threadId", "n": {"$sum": 1}}}]
        with _mongo_errors():
            for row in repo.collection.aggregate(pipeline):
                counts[row["_id"]] = int(row["n"])
    return counts


def user_conversations(*, user_id, workspace_id) -> list[Conversation]:
    """Every conversation of `user_id` in the workspace: channels, DMs and group DMs
    (the last two are both `ConversationKind.DM`)."""
    workspace_id = str(workspace_id)
    conversations = [
        Conversation(ConversationKind.CHANNEL, cid, workspace_id)
        for cid in user_channel_ids(user_id=user_id, workspace_id=workspace_id)
    ]
    conversations += [
        Conversation(ConversationKind.DM, cid, workspace_id)
        for cid in user_dm_ids(user_id=user_id, workspace_id=workspace_id)
    ]
    return conversations


def markers_of(*, user_id, conversations: list[Conversation]) -> dict[Conversation, tuple[int, bool]]:
    """{conversation: (last_read_seq, muted)} (missing rows: (0, False)); one query."""
    rows = {
        str(cid): (seq, muted)
        for cid, seq, muted in ReadMarker.objects.filter(
            user_id=user_id, conversation_id__in=[c.id for c in conversations]
        ).values_list("conversation_id", "last_read_seq", "muted")
    }
    return {c: rows.get(c.id, (0, False)) for c in conversations}


@dataclass(frozen=True, slots=True)
class ReadState:
    """A user's read state of one conversation, as the sidebar shows it."""

    last_read_seq: int
    unread_count: int
    mention_count: int
    muted: bool


def read_states_from(*, user_id, markers: dict[Conversation, tuple[int, bool, int]]) -> dict[str, ReadState]:
    """{conversation id: ReadState} for one sidebar page (GET /conversations), from
    {conversation: (last_read_seq, muted, newest seq)} that the page's one PostgreSQL
    query read beside each conversation: only conversations with a message after the
    marker cost anything, one aggregation per collection and count (counts_many)."""
    newest = {c.id: last_seq for c, (_seq, _muted, last_seq) in markers.items()}
    counts = counts_many(user_id=user_id, markers={c: seq for c, (seq, _m, _l) in markers.items()}, newest=newest)
    return {
        c.id: ReadState(seq, counts[c].unread_count, counts[c].mention_count, muted)
        for c, (seq, muted, _last) in markers.items()
    }


def unreads_totals(*, user, workspace) -> dict:
    """GET /unreads: {unread_conversations, mention_count, threads_with_unread_replies}
    of the token's workspace. Muted conversations do not count as unread conversations;
    their mentions still count in mention_count."""
    conversations = user_conversations(user_id=user.pk, workspace_id=workspace.pk)
    markers = markers_of(user_id=user.pk, conversations=conversations)
    counts = counts_many(user_id=user.pk, markers={c: seq for c, (seq, _muted) in markers.items()})
    unread_conversations = sum(1 for c, n in counts.items() if n.unread_count and not markers[c][1])
    mention_count = sum(n.mention_count for n in counts.values())
    follows = _followed_threads(user_id=user.pk, workspace_id=workspace.pk, conversations=conversations)
    thread_counts = thread_unread_many(user_id=user.pk, threads=follows)
    return {
        "unread_conversations": unread_conversations,
        "mention_count": mention_count,
        "threads_with_unread_replies": sum(1 for n in thread_counts.values() if n),
    }


def _followed_threads(*, user_id, workspace_id, conversations: list[Conversation]):
    ids = {(c.kind.value, c.id) for c in conversations}
    rows = ThreadFollow.objects.filter(
        user_id=user_id, workspace_id=workspace_id, following=True, last_reply_at__isnull=False
    ).values_list("kind", "conversation_id", "root_id")
    follows = [(kind, str(cid), root_id) for kind, cid, root_id in rows if (kind, str(cid)) in ids]
    marks = dict(
        ThreadReadMarker.objects.filter(user_id=user_id, root_id__in=[f[2] for f in follows]).values_list(
            "root_id", "last_read_seq"
        )
    )
    return [(ConversationKind(kind), cid, root_id, int(marks.get(root_id, 0))) for kind, cid, root_id in follows]


def conversation_member_ids(*, conversation: Conversation) -> list[str]:
    """Who is in the conversation now (user id strings)."""
    if conversation.kind is ConversationKind.CHANNEL:
        return channel_member_ids(channel_id=conversation.id)
    return dm_member_ids(conversation_id=conversation.id)


def statuses_of(*, user_ids: list[str]) -> dict[str, UserStatus]:
    return {str(s.user_id): s for s in UserStatus.objects.filter(user_id__in=user_ids)}


def status_fields(status: UserStatus | None, *, now: datetime | None = None) -> dict:
    """The presence/user fields of a status: status_text, status_emoji, dnd, dnd_until."""
    now = now or datetime.now(UTC)
    until = status.dnd_until if status is not None else None
    return {
        "status_text": status.status_text if status is not None else "",
        "status_emoji": status.status_emoji if status is not None else "",
        "dnd": bool(until is not None and until > now),
        "dnd_until": until,
    }


def thread_counts(*, user_id, conversation: Conversation, root_id: str, marker: int) -> Counts:
    """A thread's replies after `marker`: visible, not the user's own; and the part of
    them that mention the user or the conversation."""
    user_id = str(user_id)
    repo = repository_for(conversation.kind)
    query = {repo.conversation_field: conversation.id, "threadId": root_id, "seq": {"$gt": marker}}
    query |= {"deletedAt": None, "senderId": {"$ne": user_id}}
    with _mongo_errors():
        unread = repo.collection.count_documents(query)
        mentions = repo.collection.count_documents({"$and": [query, _mentioning(user_id)]}) if unread else 0
    return Counts(unread, mentions)


def thread_states(*, user_id, roots: list) -> dict[str, tuple[int, int]]:
    """{root_id: (last_read_seq, unread replies)} of these roots (GET /threads)."""
    marks = dict(
        ThreadReadMarker.objects.filter(user_id=user_id, root_id__in=[r.id for r in roots]).values_list(
            "root_id", "last_read_seq"
        )
    )
    items = [(r.conversation.kind, r.conversation.id, r.id, int(marks.get(r.id, 0))) for r in roots]
    unread = thread_unread_many(user_id=user_id, threads=items)
    return {r.id: (int(marks.get(r.id, 0)), unread.get(r.id, 0)) for r in roots}
