"""The pymongo calls of threads, reactions, mentions and pins (issue 17), beside
`messaging.repositories` (same collections, same mapping, same error translation), in
their own module so that the features of wave 2 do not all edit one file (a reply's
place in its thread: `messaging.repositories_places`).

Every write here is ONE MongoDB update with a conditional filter and atomic operators
(`$inc`, `$addToSet`, `$pull`, `$set`), and the services call each of them under the
conversation's lock (`messaging.services._lock_if_stored`): on MongoDB the operators
alone keep the counters exact; FerretDB 1.24 applies an update as a read and a
whole-document write (docs/reliability.md), which only the lock makes safe there.
"""

from datetime import UTC, datetime

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument

from messaging.documents import MessageDocument
from messaging.repositories import (
    SEQ_BLOCK,
    MessageRepository,
    _mongo_errors,
    reaction_key,
    reaction_pair,
)

REPLY_USERS_MAX = 5
# How many of a thread's newest replies are read to find its 5 most recent repliers.
REPLY_USERS_SCAN = 500
# How many of a numbered thread's newest blocks are read for them before its whole read.
REPLY_USERS_BLOCKS = 4
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _one(repo: MessageRepository, query: dict, update: dict) -> MessageDocument | None:
    with _mongo_errors():
        raw = repo.collection.find_one_and_update(query, update, return_document=ReturnDocument.AFTER)
    return repo.from_mongo(raw) if raw is not None else None


def _message(repo: MessageRepository, conversation_id: str, message_id: str, **extra) -> dict:
    return {repo.conversation_field: conversation_id, "_id": ObjectId(message_id), **extra}


# --- Threads --------------------------------------------------------------------


def thread_recent_repliers(
    repo: MessageRepository, *, conversation_id: str, root_id: str
) -> tuple[list[str], datetime | None]:
    """(up to 5 user ids of the most recent repliers, most recent first; createdAt of the
    newest visible reply or None), read from the newest visible replies, at most
    REPLY_USERS_SCAN of them.

    One read sorted on the (conversation, threadId, seq) index, which FerretDB 1.24
    answers by decoding EVERY reply of the thread (195 ms for 2,000 replies, paid under
    the conversation's lock by each count). So a numbered thread (its root has
    `lastThreadSeq`; session 14) is first read in its newest blocks, at most
    REPLY_USERS_BLOCKS of them (`thread_page`'s block reads, each ONE bounded query):
    that finds 5 repliers, or reads a thread of up to REPLY_USERS_BLOCKS * 32 replies
    whole. Only a longer thread with fewer than 5 recent repliers goes on to the read of
    the whole thread."""
    with _mongo_errors():
        root = repo.collection.find_one(_message(repo, conversation_id, root_id), projection={"lastThreadSeq": 1})
    last_place = root.get("lastThreadSeq") if root is not None else None
    if last_place is not None:
        newest = int(last_place) // SEQ_BLOCK
        blocks = range(newest, max(newest - REPLY_USERS_BLOCKS, -1), -1)
        cursors = (
            _newest_first(repo, repo._thread_block_query(conversation_id, root_id, block), hint=repo.thread_seq_index)
            for block in blocks
        )
        users, last, done = _recent_repliers(cursors)
        if done or blocks[-1] == 0:
            return users, last
    query = {repo.conversation_field: conversation_id, "threadId": root_id, "deletedAt": None}
    return _recent_repliers([_newest_first(repo, query, hint=None)])[:2]


def _newest_first(repo: MessageRepository, query: dict, *, hint):
    """The sender and time of the replies `query` matches, newest first (a cursor)."""
    cursor = repo.collection.find(query, projection={"senderId": 1, "createdAt": 1}).sort("seq", DESCENDING)
    cursor = cursor.limit(REPLY_USERS_SCAN).batch_size(50)
    return cursor.hint(hint) if hint is not None else cursor


def _recent_repliers(cursors) -> tuple[list[str], datetime | None, bool]:
    """thread_recent_repliers' walk over the cursors' replies (newest first): (users,
    the newest reply's time, whether it stopped at 5 users or REPLY_USERS_SCAN replies)."""
    users: list[str] = []
    last: datetime | None = None
    scanned = 0
    with _mongo_errors():
        for cursor in cursors:
            try:
                for raw in cursor:
                    scanned += 1
                    if last is None:
                        last = raw["createdAt"].astimezone(UTC)
                    sender = raw.get("senderId")
                    if sender is not None and sender not in users:
                        users.append(sender)
                    if len(users) == REPLY_USERS_MAX or scanned == REPLY_USERS_SCAN:
                        return users, last, True
            finally:
                cursor.close()
    return users, last, False


def thread_counters_update(
    repo: MessageRepository, *, conversation_id: str, root_id: str, delta: int
) -> MessageDocument | None:
    """One update of a root (deleted or not): replyCount += delta (never below 0 on
    MongoDB's conditional filter), replyUsers and lastReplyAt recomputed from its
    visible replies (FerretDB 1.24 has no `$push` `$position`, so the most-recent-first
    list cannot be kept with `$pull` + `$push` there; under the conversation's lock the
    recompute is exact). Returns the root after the update, None if it is gone."""
    users, last = thread_recent_repliers(repo, conversation_id=conversation_id, root_id=root_id)
    query = _message(repo, conversation_id, root_id)
    if delta < 0:
        query["replyCount"] = {"$gte": -delta}
    return _one(repo, query, {"$inc": {"replyCount": delta}, "$set": {"replyUsers": users, "lastReplyAt": last}})


def thread_counters_add(
    repo: MessageRepository,
    *,
    conversation_id: str,
    root_id: str,
    replies: list[MessageDocument],
    root: MessageDocument | None = None,
) -> MessageDocument | None:
    """A send batch's update of a root, under the lock that stored `replies` (its
    replies to that root, in seq order), so they are its newest: replyCount +=
    len(replies) (`$inc`); replyUsers = their senders, newest first, then the root's
    as stored, the first 5 distinct; lastReplyAt = the newest one's createdAt. ONE
    read of the root and ONE update, however long the thread: `thread_counters_update`
    recomputes them from the thread's replies, which for a long thread of few
    repliers reads up to REPLY_USERS_SCAN of them (session 14: 80 ms a batch on the
    embedded store, under the lock). `root`: the root as read under the same lock
    (`thread_seqs_reserve`'s answer), else it is read. Returns the root after the
    update, None if it is gone."""
    if root is None:
        with _mongo_errors():
            raw = repo.collection.find_one(_message(repo, conversation_id, root_id))
        if raw is None:
            return None
        root = repo.from_mongo(raw)
    users: list[str] = []
    for user_id in [reply.sender_id for reply in reversed(replies)] + list(root.reply_users):
        if user_id is not None and user_id not in users:
            users.append(user_id)
    update = {
        "$inc": {"replyCount": len(replies)},
        "$set": {"replyUsers": users[:REPLY_USERS_MAX], "lastReplyAt": max(r.created_at for r in replies)},
    }
    return _one(repo, _message(repo, conversation_id, root_id), update)


def replies_count(repo: MessageRepository, *, conversation_id: str, root_id: str) -> int:
    """The root's visible replies, counted (tests and check_consistency)."""
    with _mongo_errors():
        return repo.collection.count_documents(
            {repo.conversation_field: conversation_id, "threadId": root_id, "deletedAt": None}
        )


def get_visible(repo: MessageRepository, *, conversation_id: str, message_id: str) -> MessageDocument | None:
    """A live message or a tombstone (a deleted root with visible replies)."""
    query = _message(repo, conversation_id, message_id, **{"$or": [{"deletedAt": None}, {"replyCount": {"$gt": 0}}]})
    with _mongo_errors():
        raw = repo.collection.find_one(query)
    return repo.from_mongo(raw) if raw is not None else None


def get_many_in(repo: MessageRepository, *, conversation_ids: list[str], message_ids: list[str]) -> dict:
    """{id: message} of these messages (deleted or not) within these conversations."""
    if not message_ids or not conversation_ids:
        return {}
    with _mongo_errors():
        cursor = repo.collection.find(
            {
                "_id": {"$in": [ObjectId(mid) for mid in message_ids]},
                repo.conversation_field: {"$in": list(conversation_ids)},
            }
        )
        return {str(raw["_id"]): repo.from_mongo(raw) for raw in cursor}


# --- Reactions ------------------------------------------------------------------


def reaction_add(
    repo: MessageRepository, *, conversation_id: str, message_id: str, emoji: str, user_id: str, max_distinct: int
) -> MessageDocument | None:
    """Add (emoji, user) to a live message: `$addToSet` of its string "<emoji> <user
    id>" (`reaction_key`; so the same reaction twice is stored once) and of the emoji
    in reactionEmoji, on the condition that the emoji is there already or fewer than
    `max_distinct` are. None: the message is gone or the limit is reached (the caller
    tells which). (A message stored before session 5 may hold the reaction as an
    `{e, u}` pair: the service reads the message under the lock first and adds
    nothing then; were both forms stored, the read counts them once.)"""
    query = _message(
        repo,
        conversation_id,
        message_id,
        deletedAt=None,
        **{"$or": [{"reactionEmoji": emoji}, {f"reactionEmoji.{max_distinct - 1}": {"$exists": False}}]},
    )
    return _one(repo, query, {"$addToSet": {"reactions": reaction_key(emoji, user_id), "reactionEmoji": emoji}})


def reaction_remove(
    repo: MessageRepository, *, conversation_id: str, message_id: str, emoji: str, user_id: str
) -> MessageDocument | None:
    """Remove (emoji, user) from a live message (`$pullAll` of both stored forms, the
    string and a pre-session-5 `{e, u}` pair: nothing if absent; FerretDB 1.24 ignores
    `$pull` with an `$in` condition, `$pullAll` of exact values works on both servers),
    then, if that was the emoji's last reaction, `$pull` the emoji from reactionEmoji.
    (The second update decides from the first's answer: both run under the
    conversation's lock, so no add can come between them. FerretDB 1.24 gives
    `$elemMatch` and `$ne` on an array of documents other meanings than MongoDB, so
    the condition is not put in the filter.) None if the message is gone."""
    query = _message(repo, conversation_id, message_id, deletedAt=None)
    both = [reaction_key(emoji, user_id), {"e": emoji, "u": user_id}]
    after = _one(repo, query, {"$pullAll": {"reactions": both}})
    if after is None or any(reaction.emoji == emoji for reaction in after.reactions):
        return after
    cleaned = _one(repo, {**query, "reactionEmoji": emoji}, {"$pull": {"reactionEmoji": emoji}})
    return cleaned or after


def reactions_old_shape_ids(repo: MessageRepository) -> list[tuple[str, str]]:
    """(conversation id, message id) of every message still holding a reaction as an
    `{e, u}` pair (stored before session 5). One pass over the collection (`$type`
    matches an array's elements on both servers; not an indexed read: a migration)."""
    with _mongo_errors():
        cursor = repo.collection.find({"reactions": {"$type": "object"}}, projection={repo.conversation_field: 1})
        try:
            return [(raw[repo.conversation_field], str(raw["_id"])) for raw in cursor]
        finally:
            cursor.close()


def reactions_compact(repo: MessageRepository, *, conversation_id: str, message_id: str) -> bool:
    """Rewrite one message's `reactions` as strings (same reactions, same order, a
    reaction stored in both forms once): read the array, then ONE `$set` whose filter is
    the array as read, so nothing written meanwhile is overwritten (no match: False, the
    caller reads again). The caller holds the conversation's lock (FerretDB 1.24 applies
    an update as a read and a whole-document write). True if rewritten or nothing to do."""
    query = _message(repo, conversation_id, message_id)
    with _mongo_errors():
        raw = repo.collection.find_one(query, projection={"reactions": 1})
        items = (raw or {}).get("reactions") or []
        if not any(isinstance(item, dict) for item in items):
            return True
        compact = list(dict.fromkeys(reaction_key(*reaction_pair(item)) for item in items))
        written = repo.collection.update_one({**query, "reactions": items}, {"$set": {"reactions": compact}})
    return written.matched_count == 1


# --- Mentions -------------------------------------------------------------------


def mentions_page(
    repo: MessageRepository,
    *,
    user_id: str,
    conversation_ids: list[str],
    seek: tuple[datetime, str] | None,
    limit: int,
) -> list[MessageDocument]:
    """Live messages of these conversations that mention `user_id`, newest first, keyset
    on (createdAt, _id), on the (mentions, createdAt, _id) multikey index."""
    if not conversation_ids:
        return []
    conditions: list[dict] = [
        {"mentions": user_id},
        {repo.conversation_field: {"$in": list(conversation_ids)}},
        {"deletedAt": None},
    ]
    if seek is not None:
        at, last_id = seek[0], ObjectId(seek[1])
        conditions.append({"$or": [{"createdAt": {"$lt": at}}, {"createdAt": at, "_id": {"$lt": last_id}}]})
    with _mongo_errors():
        cursor = (
            repo.collection.find({"$and": conditions})
            .sort([("createdAt", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return [repo.from_mongo(raw) for raw in cursor]


def explain(repo: MessageRepository, *, filter: dict, sort: dict, limit: int) -> dict:
    """The server's queryPlanner explain of a find (index checks in tests)."""
    with _mongo_errors():
        return repo.collection.database.command(
            "explain",
            {"find": repo.collection_name, "filter": filter, "sort": sort, "limit": limit},
            verbosity="queryPlanner",
        )


# --- Pins -----------------------------------------------------------------------


def pin_set(
    repo: MessageRepository, *, conversation_id: str, message_id: str, by: str, at: datetime
) -> MessageDocument | None:
    """Pin a live, unpinned message; None if it is gone or already pinned."""
    query = _message(repo, conversation_id, message_id, deletedAt=None, pinnedAt=None)
    return _one(repo, query, {"$set": {"pinnedAt": at, "pinnedBy": by}})


def pin_clear(repo: MessageRepository, *, conversation_id: str, message_id: str) -> MessageDocument | None:
    """Unpin a pinned message (deleted or not); None if it is not pinned."""
    query = _message(repo, conversation_id, message_id, pinnedAt={"$gt": _EPOCH})
    return _one(repo, query, {"$set": {"pinnedAt": None, "pinnedBy": None}})


def pins_query(repo: MessageRepository, conversation_id: str) -> dict:
    return {repo.conversation_field: conversation_id, "pinnedAt": {"$gt": _EPOCH}, "deletedAt": None}


def pins_count(repo: MessageRepository, *, conversation_id: str) -> int:
    with _mongo_errors():
        return repo.collection.count_documents(pins_query(repo, conversation_id))


def pins_list(repo: MessageRepository, *, conversation_id: str, limit: int) -> list[MessageDocument]:
    """Pinned live messages, newest pin first, on the (conversation, pinnedAt) index."""
    with _mongo_errors():
        cursor = (
            repo.collection.find(pins_query(repo, conversation_id))
            .sort([("pinnedAt", DESCENDING), ("_id", ASCENDING)])
            .limit(limit)
        )
        return [repo.from_mongo(raw) for raw in cursor]


def reply_mark_counted(repo: MessageRepository, *, conversation_id: str, reply_id: str) -> bool:
    """Mark a live reply as counted in its root (once): True if this call did it."""
    query = _message(repo, conversation_id, reply_id, deletedAt=None, threadCounted=None)
    with _mongo_errors():
        return repo.collection.update_one(query, {"$set": {"threadCounted": True}}).modified_count == 1


# --- Repair of thread counters (check_consistency) -------------------------------------


def thread_replies_scan(repo: MessageRepository):
    """Every reply of the collection (deleted ones included), as raw documents with only
    the fields the counters are computed from; for check_consistency's scan."""
    projection = {
        repo.conversation_field: 1,
        "threadId": 1,
        "seq": 1,
        "senderId": 1,
        "createdAt": 1,
        "deletedAt": 1,
        "threadCounted": 1,
    }
    with _mongo_errors():
        yield from repo.collection.find({"threadId": {"$exists": True, "$ne": None}}, projection=projection)


def thread_roots_counted(repo: MessageRepository):
    """Every message with a positive replyCount (roots, deleted ones included), raw."""
    with _mongo_errors():
        yield from repo.collection.find({"replyCount": {"$gt": 0}})


def replies_uncounted(
    repo: MessageRepository, *, conversation_id: str, root_id: str, created_before: datetime
) -> list[MessageDocument]:
    """The live replies of a root that were never counted in it, stored before
    `created_before` (a crash between a reply's insert and its counting; newer ones may
    still be on their way through the send path)."""
    query = {
        repo.conversation_field: conversation_id,
        "threadId": root_id,
        "deletedAt": None,
        "threadCounted": None,
        "createdAt": {"$lt": created_before},
    }
    with _mongo_errors():
        return [repo.from_mongo(raw) for raw in repo.collection.find(query).sort("seq", ASCENDING)]


def replies_counted(repo: MessageRepository, *, conversation_id: str, root_id: str) -> int:
    """The root's live replies that are counted in it: what its replyCount must be."""
    with _mongo_errors():
        return repo.collection.count_documents(
            {repo.conversation_field: conversation_id, "threadId": root_id, "deletedAt": None, "threadCounted": True}
        )


def thread_counters_set(
    repo: MessageRepository, *, conversation_id: str, root_id: str, count: int
) -> MessageDocument | None:
    """Set a root's replyCount to `count` and recompute replyUsers and lastReplyAt (the
    repair of check_consistency, under the conversation's lock). None if it is gone."""
    users, last = thread_recent_repliers(repo, conversation_id=conversation_id, root_id=root_id)
    query = _message(repo, conversation_id, root_id)
    return _one(repo, query, {"$set": {"replyCount": count, "replyUsers": users, "lastReplyAt": last}})
