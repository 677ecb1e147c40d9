"""Reads of read state (issue 18): unread and mention counts, totals, statuses.

Counting (docs/read-state.md)
=============================
The counts are counted, not stored: from the reader's marker, on the unread index
(`unread_entries`, one row per live TEXT message, kept by the messages' own write
transactions: readstate.counting). `unread_count` of `user` in a conversation is the
number of messages with

    seq > marker, deletedAt null, type TEXT, senderId != user,
    and (threadId null or alsoInChannel true)

and `mention_count` the part of those with `mentions` containing the user or
`mentionsChannel` true: WHERE clauses on those rows. Every later change shows at once:
a delete removes its row in the delete's transaction, an edit that adds or removes a
mention updates it, a late joiner's marker starts at the newest seq. Counting a page
is one PostgreSQL query: a range on the (conversation, seq) primary key per
conversation with something after its marker, so the cost grows with what is unread,
not with history, and does not depend on the message store.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from django.db import connection

from channels_app.selectors import channel_member_ids, user_channel_ids
from dms.selectors import dm_member_ids, user_dm_ids
from messaging.documents import Conversation, ConversationKind
from messaging.models import MessageSequence, ThreadFollow
from readstate.models import ReadMarker, ThreadReadMarker, UserStatus


@dataclass(frozen=True, slots=True)
class Counts:
    unread_count: int
    mention_count: int


# The contract's definitions as WHERE clauses on the unread index (readstate.counting).
_COUNTS_SQL = """
SELECT e.conversation_id, count(*),
       count(*) FILTER (WHERE e.mentions_conversation OR %(me)s = ANY(e.mentions))
FROM unnest(%(ids)s::uuid[], %(markers)s::bigint[]) AS m(conversation_id, last_read_seq)
JOIN unread_entries e ON e.conversation_id = m.conversation_id AND e.seq > m.last_read_seq
WHERE e.in_conversation AND e.sender_id IS DISTINCT FROM %(me)s
GROUP BY e.conversation_id
"""

_THREAD_COUNTS_SQL = """
SELECT e.thread_id, count(*),
       count(*) FILTER (WHERE e.mentions_conversation OR %(me)s = ANY(e.mentions))
FROM unnest(%(roots)s::varchar[], %(ids)s::uuid[], %(markers)s::bigint[]) AS t(root_id, conversation_id, last_read_seq)
JOIN unread_entries e
  ON e.thread_id = t.root_id AND e.conversation_id = t.conversation_id AND e.seq > t.last_read_seq
WHERE e.sender_id IS DISTINCT FROM %(me)s
GROUP BY e.thread_id
"""


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


def counts_many(
    *, user_id, markers: dict[Conversation, int], newest: dict[str, int] | None = None
) -> dict[Conversation, Counts]:
    """Unread and mention counts of `user_id` in each conversation, from its marker, in
    one query on the unread index. `newest` ({conversation id: newest seq}) when the
    caller already read it, else one more query reads it."""
    user_id = str(user_id)
    result = {conversation: Counts(0, 0) for conversation in markers}
    if not markers:
        return result
    # A conversation whose newest seq is not after the marker has nothing unread and
    # is left out of the count query.
    if newest is None:
        newest = {
            str(cid): seq
            for cid, seq in MessageSequence.objects.filter(conversation_id__in=[c.id for c in markers]).values_list(
                "conversation_id", "last_seq"
            )
        }
    todo = [
        (conversation, marker) for conversation, marker in markers.items() if newest.get(conversation.id, 0) > marker
    ]
    if not todo:
        return result
    with connection.cursor() as cursor:
        cursor.execute(
            _COUNTS_SQL,
            {"me": UUID(user_id), "ids": [UUID(c.id) for c, _m in todo], "markers": [m for _c, m in todo]},
        )
        found = {str(cid): Counts(int(unread), int(mentions)) for cid, unread, mentions in cursor.fetchall()}
    for conversation, _marker in todo:
        result[conversation] = found.get(conversation.id, Counts(0, 0))
    return result


def counts_for(*, user_id, conversation: Conversation, marker: int) -> Counts:
    return counts_many(user_id=user_id, markers={conversation: marker})[conversation]


def thread_unread_many(*, user_id, threads: list[tuple[ConversationKind, str, str, int]]) -> dict[str, int]:
    """{root_id: replies after the marker, visible, not the user's own} for each
    (kind, conversation_id, root_id, marker); one query on the unread index."""
    user_id = str(user_id)
    counts: dict[str, int] = {root_id: 0 for _k, _c, root_id, _m in threads}
    if not threads:
        return counts
    with connection.cursor() as cursor:
        cursor.execute(
            _THREAD_COUNTS_SQL,
            {
                "me": UUID(user_id),
                "roots": [root_id for _k, _c, root_id, _m in threads],
                "ids": [UUID(cid) for _k, cid, _r, _m in threads],
                "markers": [marker for _k, _c, _r, marker in threads],
            },
        )
        for root_id, unread, _mentions in cursor.fetchall():
            counts[root_id] = int(unread)
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
    marker are counted, in one more query (counts_many)."""
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
    with connection.cursor() as cursor:
        cursor.execute(
            _THREAD_COUNTS_SQL,
            {"me": UUID(str(user_id)), "roots": [root_id], "ids": [UUID(conversation.id)], "markers": [marker]},
        )
        row = cursor.fetchone()
    return Counts(int(row[1]), int(row[2])) if row else Counts(0, 0)


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


@dataclass(frozen=True, slots=True)
class UnreadIndexDrift:
    """A conversation whose unread index rows disagree with MongoDB: `stored` is its
    count of live TEXT messages created before the check started, `indexed` its rows."""

    conversation: Conversation
    stored: int
    indexed: int


def unread_index_drift(*, created_before: datetime) -> list[UnreadIndexDrift]:
    """manage.py check_consistency: the conversations whose count of live TEXT messages
    in MongoDB differs from their count of `unread_entries` rows (created before
    `created_before`, so writes committing during the check are not drift). One
    aggregation per collection and one GROUP BY; a drift in a row's content (its
    mentions, its thread) with equal counts is not seen here: `unread_index_rebuild`
    rewrites every row."""
    from messaging.repositories import repository_for

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT kind, conversation_id, count(*) FROM unread_entries WHERE created_at < %s "
            "GROUP BY kind, conversation_id",
            [created_before],
        )
        indexed = {(ConversationKind(kind), str(cid)): int(n) for kind, cid, n in cursor.fetchall()}
    drift = []
    for kind in ConversationKind:
        stored = repository_for(kind).counts_per_conversation(
            created_before=created_before, live_only=True, text_only=True
        )
        for conversation_id in set(stored) | {cid for k, cid in indexed if k is kind}:
            counts = (stored.get(conversation_id, 0), indexed.get((kind, conversation_id), 0))
            if counts[0] != counts[1]:
                drift.append(UnreadIndexDrift(Conversation(kind, conversation_id), *counts))
    return sorted(drift, key=lambda d: (d.conversation.kind.value, d.conversation.id))
