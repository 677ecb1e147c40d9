"""Threads (contract: "Threads"; issue 17): replies, their root's counters, tombstones,
`thread.updated`, following (its rows: messaging.thread_follows), and GET /threads.

A reply is an ordinary message of its conversation with `threadId` = its root's id: it
is stored by `messaging.services.message_send` through the one send path, so it takes
the conversation's next seq and keeps every promise of history and `after_cursor`.

The root's counters
===================
`replyCount` counts the visible (not deleted) replies and changes only by `$inc`,
under the conversation's lock (`_lock_if_stored`, the lock every write of the
conversation's messages takes), after the reply is stored:
- a reply stored by a send batch is stored marked counted (`threadCounted`), and the
  batch, still holding the lock, raises its root's `replyCount` by its replies there
  (`replies_counted_locked`; session 14);
- a reply stored otherwise (a send with files) is first marked counted by a conditional
  update that matches only a live, uncounted reply, and only if that matched is the
  root's `replyCount` raised by one (`after_send`);
- a deleted reply lowers it by one only if it had been counted.
So a reply deleted before its root was counted (the delete got the lock first) is
never counted at all, and each reply is counted at most once: the count is exact
whatever the interleaving of sends and deletes. `replyUsers` (the 5 most recent
repliers, most recent first) and `lastReplyAt` are set in the same update: from the
batch's repliers and the root's list, or recomputed from the visible replies
(FerretDB 1.24 lacks `$push` `$position`; see repositories_ext).

A deleted root stays in history as a tombstone while its `replyCount` is above 0: the
history query selects live messages and deleted ones with replies (so a reply that
arrives while its root is being deleted turns the root into a tombstone, and deleting
a tombstone's last reply lets it disappear, announced with `message.deleted`).
"""

import logging
from dataclasses import dataclass
from uuid import UUID

from django.db import transaction
from django.db.models import Q

from channels_app.selectors import user_channel_ids
from dms.selectors import user_dm_ids
from messaging import repositories_ext as ext
from messaging import selectors, validation
from messaging.documents import Conversation, ConversationKind, MessageDocument
from messaging.mentions import mentions_resolve
from messaging.models import ThreadFollow
from messaging.repositories import repository_for
from messaging.serializers import message_to_api
from messaging.services import _lock_if_stored
from messaging.thread_follows import follows_on_replies, follows_touch
from realtime import broadcast, events
from search import services as search_services
from slackclone import errors
from slackclone.api.serializers import StrictBooleanField, clean_value

logger = logging.getLogger(__name__)


def _invalid_thread(text: str = "thread_id must name a live message of this conversation that is no reply."):
    return errors.ValidationFailed(text, fields={"thread_id": [text]}, code="invalid_thread")


def clean_also_in_channel(value: object) -> bool:
    """`also_in_channel`: absent/null -> false, else a JSON boolean (the REST field's rule)."""
    if value is None:
        return False
    return clean_value(StrictBooleanField(), value, name="also_in_channel")


def thread_root_get(
    *, conversation: Conversation, root_id: object, include_tombstone: bool = False, in_path: bool = False
) -> MessageDocument:
    """The root named by `root_id` in `conversation`: a TEXT message that is no reply,
    live (or, with `include_tombstone`, a deleted root that still has replies). 400
    `invalid_thread` otherwise (a malformed id included), or 404 when the id is a path
    segment (`in_path`: …/messages/{root_id}/replies, …/follow)."""
    fail = (lambda: errors.NotFound("Thread not found.")) if in_path else _invalid_thread
    if not isinstance(root_id, str):
        raise fail()
    try:
        root_id = validation.clean_message_id(root_id)
    except errors.NotFound as exc:
        raise fail() from exc
    repo = repository_for(conversation.kind)
    if include_tombstone:
        root = ext.get_visible(repo, conversation_id=conversation.id, message_id=root_id)
    else:
        root = repo.get(conversation_id=conversation.id, message_id=root_id)
    if root is None or not root.takes_replies:
        raise fail()
    return root


def send_fields(*, conversation: Conversation, content: str, thread_id: object, also_in_channel: object) -> dict:
    """The issue-17 fields of a new message (MessageDocument keywords): its mentions,
    resolved in the conversation's workspace, and, for a reply, its root (400
    `invalid_thread`). `also_in_channel` without `thread_id` is a 400 too."""
    also = clean_also_in_channel(also_in_channel)
    mentioned = mentions_resolve(content=content, workspace_id=conversation.workspace_id)
    fields: dict = {"mentions": mentioned.user_ids, "mentions_channel": mentioned.channel}
    if thread_id is None:
        if also:
            raise _invalid_thread("also_in_channel needs a thread_id.")
        return fields
    root = thread_root_get(conversation=conversation, root_id=thread_id)
    return fields | {"thread_id": root.id, "also_in_channel": also}


def _thread_event(root: MessageDocument) -> dict:
    return {
        root.conversation.api_field: root.conversation.id,
        "root_id": root.id,
        "reply_count": root.reply_count,
        "reply_users": list(root.reply_users),
        "last_reply_at": message_to_api(root)["last_reply_at"],
    }


def _announce(event_type: str, fields: dict) -> None:
    try:
        broadcast.conversation_event(event_type=event_type, fields=fields)
    except Exception:  # broadcast never raises by contract; a stored change must not fail on it
        logger.exception("%s broadcast failed", event_type)


def after_send(*, message: MessageDocument) -> None:
    """A message was stored (and its `message.created` announced) outside a send batch
    that counted it (a send with files, a reply whose batch could not count it): if it
    is a reply, count it in its root under the conversation's lock, add the thread's
    followers, and announce `thread.updated` (before the lock is released, so these
    events reach a socket in the order of the counts)."""
    if message.thread_id is None or message.thread_counted:
        return
    conversation = message.conversation
    repo = repository_for(conversation.kind)
    with transaction.atomic():
        _lock_if_stored(conversation)
        if not ext.reply_mark_counted(repo, conversation_id=conversation.id, reply_id=message.id):
            return  # deleted meanwhile (then never counted), or counted already
        root = ext.thread_counters_update(repo, conversation_id=conversation.id, root_id=message.thread_id, delta=1)
        if root is not None:  # else the root was purged
            _after_counted_locked(root=root, replies=[message])


def replies_counted_locked(
    *, conversation: Conversation, replies: list[MessageDocument], roots: dict[str, MessageDocument]
) -> None:
    """Inside a send batch's transaction, under the conversation's lock, once its
    messages were stored and announced (`message.created`): count the batch's replies,
    stored already marked counted (`threadCounted`), in their roots. ONE counter update
    per root the batch replies to (`thread_counters_add`: `replyCount` += its replies
    there; they are its newest, so they lead `replyUsers`; `roots`: the roots as the
    batch read them under the same lock, giving the replies their places), its
    followers, its search entry, and ONE `thread.updated` with the counts after all
    of them (contract, "Threads": the replies' `message.created`, then
    `thread.updated`). Session 14: before, every reply took the lock a second time for
    its own count, which capped a busy thread's conversation at about a dozen replies
    a second on the embedded store.

    Nothing here fails a send: the batch's messages are stored and answered already.
    Each root is counted in a savepoint; a failure (a store that does not answer, a
    bug) leaves that root's counters behind, as a crash between a reply's mark and its
    root's `$inc` would, logged, and `manage.py check_consistency --fix` repairs them."""
    repo = repository_for(conversation.kind)
    by_root: dict[str, list[MessageDocument]] = {}
    for reply in replies:
        by_root.setdefault(reply.thread_id, []).append(reply)
    for root_id, counted in by_root.items():
        try:
            with transaction.atomic():
                root = ext.thread_counters_add(
                    repo, conversation_id=conversation.id, root_id=root_id, replies=counted, root=roots.get(root_id)
                )
                if root is not None:  # else the root was purged
                    _after_counted_locked(root=root, replies=counted)
        except Exception:
            logger.exception(
                "thread counters of %s %s left behind by %d replies (check_consistency --fix repairs them)",
                conversation.kind,
                root_id,
                len(counted),
            )


def _after_counted_locked(*, root: MessageDocument, replies: list[MessageDocument]) -> None:
    """Under the lock, once `replies` were counted in `root` (its state after): its
    search entry, the thread's followers, and the events."""
    search_services.messages_indexed([root])  # `is:thread` from its first reply on
    follows_on_replies(root=root, replies=replies)
    if root.is_deleted and root.reply_count == len(replies):
        # Deleted without replies (announced with message.deleted) while these replies
        # were on their way: it is back in history as a tombstone, so say so first.
        try:
            broadcast.message_updated(message=message_to_api(root))
        except Exception:
            logger.exception("message_updated broadcast failed for %s", root.id)
    _announce(events.THREAD_UPDATED, _thread_event(root))


def reply_removed_locked(*, reply: MessageDocument) -> MessageDocument | None:
    """Inside the deleting transaction, under the conversation's lock, once `reply` was
    soft-deleted: lower its root's counters if it had been counted. Returns the root
    after the update (for `after_reply_removed`), or None."""
    if reply.thread_id is None or not reply.thread_counted:
        return None
    repo = repository_for(reply.conversation.kind)
    root = ext.thread_counters_update(repo, conversation_id=reply.conversation.id, root_id=reply.thread_id, delta=-1)
    if root is not None:
        search_services.messages_indexed([root])  # no longer `is:thread` once its last reply went
        follows_touch(root)
    return root


def after_reply_removed(*, root: MessageDocument | None) -> None:
    """After a reply's `message.deleted`: `thread.updated`; and if its root was a
    tombstone that just lost its last reply, the root disappears (`message.deleted`)."""
    if root is None:
        return
    _announce(events.THREAD_UPDATED, _thread_event(root))
    if root.is_deleted and root.reply_count == 0:
        try:
            broadcast.message_deleted(message_id=root.id, **{root.conversation.api_field: root.conversation.id})
        except Exception:
            logger.exception("message_deleted broadcast failed for %s", root.id)


# --- Following -------------------------------------------------------------------


def thread_follow_set(
    *,
    user,
    workspace=None,
    root_id: str,
    following: bool,
    channel_id: UUID | str | None = None,
    conversation_id: UUID | str | None = None,
) -> MessageDocument:
    """PUT (`following` true) / DELETE (false) …/messages/{root_id}/follow: a member of
    the conversation (403/404 as for history) follows or stops following a thread;
    idempotent. The root must be a root (a live one or a tombstone): 404 otherwise.
    Returns the root."""
    conversation = selectors.conversation_get_for_member(
        user=user, workspace=workspace, channel_id=channel_id, conversation_id=conversation_id
    )
    with transaction.atomic():
        # Under the lock a reply's counting takes (`after_send`): a new row takes the
        # thread's newest reply time as it is, not one a reply counted meanwhile made
        # stale (GET /threads lists rows with a reply time).
        _lock_if_stored(conversation)
        root = thread_root_get(conversation=conversation, root_id=root_id, include_tombstone=True, in_path=True)
        ThreadFollow.objects.bulk_create(
            [
                ThreadFollow(
                    user_id=user.pk,
                    workspace_id=conversation.workspace_id,
                    kind=conversation.kind.value,
                    conversation_id=UUID(conversation.id),
                    root_id=root.id,
                    following=following,
                    last_reply_at=root.last_reply_at,
                )
            ],
            update_conflicts=True,
            unique_fields=["user", "root_id"],
            update_fields=["following"],
        )
    return root


@dataclass(frozen=True, slots=True)
class FollowedThread:
    root: MessageDocument
    # Left 0 / None here: the threads list (messaging/apis_ext.py) answers them from
    # the thread read markers (readstate, issue 18).
    unread_replies: int
    last_read_seq: int | None


def thread_follows_for_user(*, user, workspace):
    """The queryset behind GET /threads (paged by the API with an indexed cursor on
    (-last_reply_at, -id)): threads `user` follows in `workspace`, that have replies,
    in conversations the user is in now."""
    workspace_id = str(workspace.pk)
    channel_ids = user_channel_ids(user_id=user.pk, workspace_id=workspace_id)
    dm_ids = user_dm_ids(user_id=user.pk, workspace_id=workspace_id)
    return ThreadFollow.objects.filter(
        Q(kind=ConversationKind.CHANNEL.value, conversation_id__in=channel_ids)
        | Q(kind=ConversationKind.DM.value, conversation_id__in=dm_ids),
        user_id=user.pk,
        workspace_id=workspace_id,
        following=True,
        last_reply_at__isnull=False,
    )


def followed_threads(*, rows: list[ThreadFollow]) -> list[FollowedThread]:
    """The roots of a page of follow rows (one query per conversation kind), in the
    rows' order; roots that are gone (deleted without replies, purged) are left out."""
    found: dict[str, MessageDocument] = {}
    for kind in ConversationKind:
        mine = [row for row in rows if row.kind == kind.value]
        found |= ext.get_many_in(
            repository_for(kind),
            conversation_ids=sorted({str(row.conversation_id) for row in mine}),
            message_ids=[row.root_id for row in mine],
        )
    threads = []
    for row in rows:
        root = found.get(row.root_id)
        if root is None or root.reply_count == 0:
            continue  # gone, or its replies all deleted (then no thread to list)
        threads.append(FollowedThread(root=root, unread_replies=0, last_read_seq=None))
    return threads
