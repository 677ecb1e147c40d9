"""The repair of thread counters (issue 17; `manage.py check_consistency`): roots whose
`replyCount`, `replyUsers` or `lastReplyAt` disagree with their replies, after a
crash or a store that failed between a reply's insert and its root's count (see
messaging.threads, "The root's counters"), found and recomputed under the
conversation's lock, beside live traffic."""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from messaging import repositories_ext as ext
from messaging.documents import Conversation, ConversationKind
from messaging.repositories import repository_for, utc
from messaging.services import _lock_if_stored
from messaging.thread_follows import follows_on_replies
from messaging.threads import after_reply_removed
from search import services as search_services


@dataclass(frozen=True, slots=True)
class ThreadCounterDrift:
    conversation: Conversation
    root_id: str
    stored: tuple[int, tuple[str, ...], datetime | None]  # the root's replyCount, replyUsers, lastReplyAt
    expected: tuple[int, tuple[str, ...], datetime | None]  # what its live replies say
    uncounted: int  # live replies never counted in the root (threadCounted unset)


def _expected_counters(replies: list[dict]) -> tuple[int, tuple[str, ...], datetime | None]:
    """(replyCount, replyUsers, lastReplyAt) from a root's raw replies: the live ones,
    the 5 most recent distinct repliers among the newest REPLY_USERS_SCAN of them (as
    `thread_recent_repliers` reads them), the newest one's time."""
    live = sorted((raw for raw in replies if raw.get("deletedAt") is None), key=lambda raw: raw["seq"], reverse=True)
    users: list[str] = []
    for raw in live[: ext.REPLY_USERS_SCAN]:
        sender = raw.get("senderId")
        if sender is not None and sender not in users:
            users.append(sender)
            if len(users) == ext.REPLY_USERS_MAX:
                break
    return len(live), tuple(users), (utc(live[0]["createdAt"]) if live else None)


def thread_counters_drift(*, created_before: datetime) -> list[ThreadCounterDrift]:
    """Roots (live or tombstones) whose `replyCount`, `replyUsers` or `lastReplyAt`
    disagree with their replies, or that have live replies never counted: what a crash
    between a reply's insert and its root's `$inc` (or between the reply's
    `threadCounted` mark and that `$inc`) leaves behind. A root with a reply stored at
    or after `created_before` is skipped (that reply may still be on its way through
    the send path; the next run sees it). One scan of every reply and of every root with
    replies per collection: O(replies), for an operator's check, not for a request."""
    drift: list[ThreadCounterDrift] = []
    for kind in ConversationKind:
        repo = repository_for(kind)
        field = repo.conversation_field
        replies: dict[tuple[str, str], list[dict]] = {}
        busy: set[tuple[str, str]] = set()
        for raw in ext.thread_replies_scan(repo):
            key = (raw[field], raw["threadId"])
            replies.setdefault(key, []).append(raw)
            if utc(raw["createdAt"]) >= created_before:
                busy.add(key)
        roots = {(raw[field], str(raw["_id"])): repo.from_mongo(raw) for raw in ext.thread_roots_counted(repo)}
        unseen = [key for key in replies if key not in roots]
        found = ext.get_many_in(
            repo, conversation_ids=sorted({cid for cid, _ in unseen}), message_ids=[rid for _, rid in unseen]
        )
        roots |= {(root.conversation.id, root.id): root for root in found.values()}
        for key in sorted((set(replies) | set(roots)) - busy):
            root = roots.get(key)
            if root is None:
                continue  # the root was purged: nothing to count into
            expected = _expected_counters(replies.get(key, []))
            stored = (root.reply_count, tuple(root.reply_users), root.last_reply_at)
            uncounted = sum(
                1 for raw in replies.get(key, []) if raw.get("deletedAt") is None and not raw.get("threadCounted")
            )
            if stored != expected or uncounted:
                drift.append(ThreadCounterDrift(root.conversation, root.id, stored, expected, uncounted))
    return drift


def thread_counters_repair(*, roots: list[tuple[Conversation, str]], created_before: datetime) -> int:
    """Recompute the counters of these roots from their replies, each in its own
    transaction under the conversation's lock (the lock `after_send` and every delete
    take, so no reply is counted or uncounted meanwhile): live replies stored before
    `created_before` that were never counted are marked counted (and their repliers
    and mentioned follow, as `after_send` would have done), then `replyCount` is set to
    the number of live counted replies and `replyUsers`/`lastReplyAt` recomputed. A
    reply whose send is still in flight then finds itself counted and is not counted
    twice; one stored at or after `created_before` is left to its send (or to a next
    run). Idempotent: a root already right is rewritten with the same values and not
    announced. Announces `thread.updated` for each root that changed (and
    `message.deleted` for a tombstone left without replies). Returns roots changed."""
    changed = 0
    for conversation, root_id in roots:
        repo = repository_for(conversation.kind)
        with transaction.atomic():
            _lock_if_stored(conversation)
            before = repo.get(conversation_id=conversation.id, message_id=root_id, include_deleted=True)
            if before is None:
                continue
            newly = [
                reply
                for reply in ext.replies_uncounted(
                    repo, conversation_id=conversation.id, root_id=root_id, created_before=created_before
                )
                if ext.reply_mark_counted(repo, conversation_id=conversation.id, reply_id=reply.id)
            ]
            count = ext.replies_counted(repo, conversation_id=conversation.id, root_id=root_id)
            root = ext.thread_counters_set(repo, conversation_id=conversation.id, root_id=root_id, count=count)
            if root is None:
                continue
            if (root.reply_count, root.reply_users, root.last_reply_at) == (
                before.reply_count,
                before.reply_users,
                before.last_reply_at,
            ) and not newly:
                continue
            changed += 1
            search_services.messages_indexed([root])
            if newly:
                follows_on_replies(root=root, replies=newly)
            after_reply_removed(root=root)  # thread.updated; a tombstone without replies goes
    return changed
