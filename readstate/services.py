"""Writes of read state (issue 18): read markers, preferences, status and DND.

Markers only move forward
=========================
`read_mark` is ONE statement: an upsert whose update only applies when it raises the
marker (`ON CONFLICT ... DO UPDATE ... WHERE last_read_seq < EXCLUDED.last_read_seq`).
PostgreSQL serialises the two writers on the row (or on the unique index for the first
insert), and the loser re-evaluates the WHERE on the winner's row, so two devices that
mark 10 and 12 concurrently end at 12 in either order, with no lock held in Python.
The value offered is clamped to the conversation's newest seq first (the committed
counter extended over the messages already stored past it: `_clamp`). The `read.updated` of a
move is published in the upsert's transaction, under the row's lock, so the caller's
other sockets hear the markers of racing devices in the order they were written.
"""

from uuid import UUID

from django.db import connection, transaction

from messaging import selectors as message_selectors
from messaging.documents import Conversation
from messaging.repositories import repository_for
from readstate import selectors
from readstate.models import ReadMarker, UserStatus
from realtime import broadcast, events
from slackclone import errors

_MARK_SQL = """
INSERT INTO {table} (user_id, workspace_id, kind, conversation_id, {extra_cols} last_read_seq, updated_at)
VALUES (%s, %s, %s, %s, {extra_vals} %s, now())
ON CONFLICT ({key}) DO UPDATE SET last_read_seq = EXCLUDED.last_read_seq, updated_at = now()
WHERE {table}.last_read_seq < EXCLUDED.last_read_seq
RETURNING last_read_seq
"""
_CONVERSATION_MARK_SQL = _MARK_SQL.format(
    table="read_markers", extra_cols="muted,", extra_vals="false,", key="user_id, conversation_id"
)
_THREAD_MARK_SQL = _MARK_SQL.format(
    table="thread_read_markers", extra_cols="root_id,", extra_vals="%s,", key="user_id, root_id"
)


SEQ_MAX = 2**62  # any seq a conversation can reach; above it, 400 (the schema's maximum)


def clean_seq(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value > SEQ_MAX:
        text = f"Must be an integer from 0 to {SEQ_MAX}."
        raise errors.ValidationFailed(f"seq: {text}", fields={"seq": [text]})
    return value


def _clamp(conversation: Conversation, seq: int) -> int:
    """`seq` clamped to the conversation's newest seq: its committed counter, extended
    over the messages already stored past it (`stored_through`: the history page's own
    end). A send publishes `message.created` once its message is stored but before its
    transaction commits, so a client that marks the seq it was just told about may be
    ahead of the counter for a moment; it still reaches that message. Read only when
    `seq` is above the counter (one point read in MongoDB), and without the
    conversation's lock: a mark never waits for, nor delays, the sends."""
    newest = selectors.newest_seq(conversation_id=conversation.id)
    if seq <= newest:
        return seq
    repo = repository_for(conversation.kind)
    return min(seq, repo.stored_through(conversation_id=conversation.id, top=newest))


def _mark(sql: str, params: list, *, current, announce) -> int:
    """The upsert, and `announce(marker)` when it moved the marker, both in one
    transaction: the upsert locks the marker's row (even when its WHERE leaves it as it
    is), so the read.updated of two devices racing are published in the order their
    markers were written, and the caller's other sockets never hear it go back."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        if row is None:  # not raised: the marker was already at or above the target
            return current()
        marker = int(row[0])
        if marker > 0:  # raised (an update applies only upwards; a first row from 0)
            announce(marker)
    return marker


def read_mark(
    *, user, workspace=None, seq: object, channel_id=None, conversation_id=None, connection_id: str | None = None
) -> dict:
    """PUT …/read: move the caller's marker in a conversation they are in (403/404 as
    for history) forward to `seq`, clamped to the newest seq; a lower one leaves it.
    Returns {last_read_seq, unread_count, mention_count}; when the marker moved, the
    caller's sockets (but `connection_id`'s) get read.updated."""
    seq = clean_seq(seq)
    conversation = message_selectors.conversation_get_for_member(
        user=user, workspace=workspace, channel_id=channel_id, conversation_id=conversation_id
    )
    target = _clamp(conversation, seq)
    marker = _mark(
        _CONVERSATION_MARK_SQL,
        [user.pk, UUID(conversation.workspace_id), conversation.kind.value, UUID(conversation.id), target],
        current=lambda: selectors.marker_get(user_id=user.pk, conversation_id=conversation.id),
        announce=lambda marker: _read_updated(
            user, conversation, {conversation.api_field: conversation.id}, marker, connection_id
        ),
    )
    counts = selectors.counts_for(user_id=user.pk, conversation=conversation, marker=marker)
    return {"last_read_seq": marker, "unread_count": counts.unread_count, "mention_count": counts.mention_count}


def thread_read_mark(
    *,
    user,
    workspace=None,
    root_id: str,
    seq: object,
    channel_id=None,
    conversation_id=None,
    connection_id: str | None = None,
) -> dict:
    """PUT …/messages/{root_id}/replies/read: the same for a thread (404 unless a root,
    live or a tombstone). unread_count: its visible replies after the marker that are
    not the caller's; mention_count: the part of them that mention the caller or the
    conversation."""
    from messaging.threads import thread_root_get

    seq = clean_seq(seq)
    conversation = message_selectors.conversation_get_for_member(
        user=user, workspace=workspace, channel_id=channel_id, conversation_id=conversation_id
    )
    root = thread_root_get(conversation=conversation, root_id=root_id, include_tombstone=True, in_path=True)
    target = _clamp(conversation, seq)
    fields = {conversation.api_field: conversation.id, "root_id": root.id}
    marker = _mark(
        _THREAD_MARK_SQL,
        [user.pk, UUID(conversation.workspace_id), conversation.kind.value, UUID(conversation.id), root.id, target],
        current=lambda: selectors.thread_marker_get(user_id=user.pk, root_id=root.id),
        announce=lambda marker: _read_updated(user, conversation, fields, marker, connection_id),
    )
    counts = selectors.thread_counts(user_id=user.pk, conversation=conversation, root_id=root.id, marker=marker)
    return {"last_read_seq": marker, "unread_count": counts.unread_count, "mention_count": counts.mention_count}


def _read_updated(user, conversation: Conversation, fields: dict, marker: int, connection_id: str | None) -> None:
    broadcast.user_event(
        user_id=str(user.pk),
        workspace_id=conversation.workspace_id,
        event_type=events.READ_UPDATED,
        fields={**fields, "last_read_seq": marker},
        skip_connection=connection_id,
    )


def marker_start(*, user_id, workspace_id, conversation: Conversation, seq: int) -> None:
    """A member joined: their marker starts at `seq` (the newest; raised, never lowered,
    so a re-join does not make old messages read again... nor unread)."""
    with connection.cursor() as cursor:
        cursor.execute(
            _CONVERSATION_MARK_SQL,
            [UUID(str(user_id)), UUID(str(workspace_id)), conversation.kind.value, UUID(conversation.id), seq],
        )


def preferences_set(*, user, workspace=None, muted: bool, channel_id=None, conversation_id=None) -> dict:
    """PUT …/preferences {muted}: 200 {"muted"}; members only (403/404 as for history).
    `muted` is a bool the view has already checked (a JSON boolean only)."""
    conversation = message_selectors.conversation_get_for_member(
        user=user, workspace=workspace, channel_id=channel_id, conversation_id=conversation_id
    )
    ReadMarker.objects.bulk_create(
        [
            ReadMarker(
                user_id=user.pk,
                workspace_id=conversation.workspace_id,
                kind=conversation.kind.value,
                conversation_id=UUID(conversation.id),
                muted=muted,
            )
        ],
        update_conflicts=True,
        unique_fields=["user", "conversation_id"],
        update_fields=["muted"],
    )
    return {"muted": muted}


_UNSET = object()


def status_update(*, user, dnd_until=_UNSET, status_text=_UNSET, status_emoji=_UNSET) -> UserStatus:
    """PATCH /users/me's status fields (validated by the serializer); unchanged fields
    keep their value. Announces presence.changed (with the new status) when any changed."""
    status, _created = UserStatus.objects.get_or_create(user_id=user.pk)
    changed = []
    for name, value in (("dnd_until", dnd_until), ("status_text", status_text), ("status_emoji", status_emoji)):
        if value is not _UNSET and getattr(status, name) != value:
            setattr(status, name, value)
            changed.append(name)
    if changed:
        status.save(update_fields=changed)
        from presence.services import presence_status_announce

        presence_status_announce(user_id=str(user.pk))
    return status


def unread_index_rebuild(conversation: Conversation) -> int:
    """Rebuild one conversation's unread index rows (`unread_entries`) from MongoDB, in
    one transaction holding the conversation's lock (the lock every send, edit and
    delete takes), so it runs beside live traffic and never writes an older state over
    a newer one. A conversation whose messages are gone from MongoDB loses its rows, and
    so does one that no longer exists in PostgreSQL (its messages are orphans:
    check_consistency's first check removes them). Returns the rows written. Used by
    `manage.py unread_index_rebuild` and `check_consistency --fix`. Raises
    StoreUnavailable when MongoDB is unreachable."""
    from django.db import transaction

    from messaging.repositories import repository_for
    from messaging.selectors import conversation_ids_existing
    from messaging.services import conversation_writes_lock
    from readstate.counting import conversation_entries_drop, conversation_entries_rebuild

    if not conversation_ids_existing(kind=conversation.kind, conversation_ids=[conversation.id]):
        with transaction.atomic():
            conversation_entries_drop(conversation)
        return 0
    with transaction.atomic():
        conversation_writes_lock(conversation)
        messages = list(repository_for(conversation.kind).iter_live(conversation_id=conversation.id))
        return conversation_entries_rebuild(conversation, messages)
