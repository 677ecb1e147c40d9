"""The sidebar (issue 16): GET /conversations, a user's channels, DMs and group DMs of
one workspace, most recent activity first.

One SQL query per page, however many conversations the user has: the three membership
sources (channel_members by user, dm_conversations by either side, group_dm_members by
user; each on its own index) are united, each joined to its conversation's
`message_sequences` row (primary key) for the latest message (messaging.latest keeps it
in the send's transaction), ordered by activity (the latest message's time, else the
conversation's creation) and id, and keyset-paged on that pair. The user's
conversations are all read and sorted inside PostgreSQL (a few hundred rows for a busy
user: bench/sidebar.py measures 500), never shipped to Python. Then at most two more
queries per page (not per row) load the DMs' other users and the group DMs' members.
"""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.core import signing
from django.db import connection

from accounts.selectors import users_of_workspace
from dms.models import GroupDmMember
from messaging.documents import Conversation, ConversationKind
from slackclone import errors

KINDS = ("channel", "dm", "group_dm")
_signer = signing.Signer(salt="messaging.sidebar", sep=".")

_BRANCHES = {
    "channel": """
        SELECT 'channel'::text AS kind, c.id, c.created_at, c.name::text AS name, c.is_private,
               NULL::uuid AS other_user_id
        FROM channel_members m JOIN channels c ON c.id = m.channel_id
        WHERE m.user_id = %(user)s AND c.workspace_id = %(workspace)s""",
    "dm": """
        SELECT 'dm'::text AS kind, d.id, d.created_at, NULL::text AS name, TRUE AS is_private,
               CASE WHEN d.user1_id = %(user)s THEN d.user2_id ELSE d.user1_id END AS other_user_id
        FROM dm_conversations d
        WHERE d.workspace_id = %(workspace)s AND (d.user1_id = %(user)s OR d.user2_id = %(user)s)""",
    "group_dm": """
        SELECT 'group_dm'::text AS kind, g.id, g.created_at, NULL::text AS name, TRUE AS is_private,
               NULL::uuid AS other_user_id
        FROM group_dm_members gm JOIN group_dms g ON g.id = gm.group_dm_id
        WHERE gm.user_id = %(user)s AND g.workspace_id = %(workspace)s""",
}

_PAGE_SQL = """
SELECT mine.kind, mine.id, mine.name, mine.is_private, mine.other_user_id,
       s.latest_seq, s.latest_created_at, s.latest_sender_id, s.latest_preview,
       COALESCE(s.latest_created_at, mine.created_at) AS activity,
       COALESCE(s.last_seq, 0), COALESCE(r.last_read_seq, 0), COALESCE(r.muted, FALSE)
FROM ({branches}) AS mine
LEFT JOIN message_sequences s ON s.conversation_id = mine.id
LEFT JOIN read_markers r ON r.user_id = %(user)s AND r.conversation_id = mine.id
{seek}
ORDER BY activity DESC, mine.id DESC
LIMIT %(limit)s
"""


@dataclass(frozen=True, slots=True)
class SidebarRow:
    kind: str
    id: UUID
    name: str | None
    is_private: bool
    other_user_id: UUID | None
    latest_seq: int | None
    latest_created_at: datetime | None
    latest_sender_id: UUID | None
    latest_preview: str | None
    activity: datetime
    last_seq: int  # the conversation's newest seq (0: none yet)
    last_read_seq: int  # the caller's read marker (issue 18; 0 without one)
    muted: bool


@dataclass(frozen=True, slots=True)
class SidebarPage:
    results: list[SidebarRow]
    next_cursor: str | None
    other_users: dict  # user id -> User (annotated with the workspace role), for DMs
    group_members: dict  # group DM id -> [User], for group DMs
    read_states: dict  # conversation id (str) -> readstate.selectors.ReadState (issue 18)


def clean_kinds(raw: str | None) -> list[str]:
    """`?kinds=channel,dm,group_dm` (any non-empty subset; absent: all); 400 otherwise."""
    if raw is None:
        return list(KINDS)
    kinds = [k.strip() for k in raw.split(",") if k.strip()]
    if not kinds or any(k not in KINDS for k in kinds):
        text = "A comma-separated list of channel, dm, group_dm."
        raise errors.ValidationFailed(text, fields={"kinds": [text]})
    return list(dict.fromkeys(kinds))


def _clean_limit(raw) -> int:
    if raw is None:
        return 50
    try:
        limit = int(raw)
    except (TypeError, ValueError):
        limit = 0
    if not 1 <= limit <= 200:
        raise errors.ValidationFailed("Must be an integer from 1 to 200.", fields={"limit": ["1-200."]})
    return limit


def _decode_cursor(token: str) -> tuple[datetime, UUID]:
    try:
        activity, conversation_id = _signer.unsign_object(token)
        return datetime.fromisoformat(activity), UUID(conversation_id)
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise errors.ValidationFailed(
            "Not a cursor of this list.", fields={"cursor": ["Not a cursor of this list."]}, code="invalid_cursor"
        ) from exc


def conversations_list(*, user, workspace, kinds: list[str], cursor: str | None = None, limit=None) -> SidebarPage:
    """One page of `user`'s conversations of `workspace` of these `kinds`, most recent
    activity first (ties: by id). Only conversations `user` is a member of appear: a
    private channel is never seen by anyone else. 400 for a bad cursor or limit."""
    limit = _clean_limit(limit)
    params = {"user": user.pk, "workspace": workspace.pk, "limit": limit + 1}
    seek = ""
    if cursor:
        params["activity"], params["after_id"] = _decode_cursor(cursor)
        seek = "WHERE (COALESCE(s.latest_created_at, mine.created_at), mine.id) < (%(activity)s, %(after_id)s)"
    sql = _PAGE_SQL.format(branches=" UNION ALL ".join(_BRANCHES[k] for k in kinds), seek=seek)
    with connection.cursor() as db:
        db.execute(sql, params)
        rows = [SidebarRow(*row) for row in db.fetchall()]
    results = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = results[-1]
        next_cursor = _signer.sign_object([last.activity.isoformat(), str(last.id)])
    other_ids = {row.other_user_id for row in results if row.kind == "dm"}
    group_ids = [row.id for row in results if row.kind == "group_dm"]
    group_members: dict = {gid: [] for gid in group_ids}
    member_pairs = (
        list(GroupDmMember.objects.filter(group_dm_id__in=group_ids).values_list("group_dm_id", "user_id"))
        if group_ids
        else []
    )
    user_ids = other_ids | {uid for _, uid in member_pairs}
    users = (
        {u.pk: u for u in users_of_workspace(workspace=workspace, active_only=False).filter(pk__in=user_ids)}
        if user_ids
        else {}
    )
    for gid, uid in member_pairs:
        if uid in users:
            group_members[gid].append(users[uid])
    for members in group_members.values():
        members.sort(key=lambda u: (u.username, str(u.pk)))
    from readstate.selectors import read_states_from  # readstate builds on messaging: imported late

    markers = {
        Conversation(ConversationKind.CHANNEL if row.kind == "channel" else ConversationKind.DM, str(row.id)): (
            row.last_read_seq,
            row.muted,
            row.last_seq,
        )
        for row in results
    }
    return SidebarPage(
        results=results,
        next_cursor=next_cursor,
        other_users={uid: users.get(uid) for uid in other_ids},
        group_members=group_members,
        read_states=read_states_from(user_id=user.pk, markers=markers),
    )
