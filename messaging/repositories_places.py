"""A reply's place in its thread (session 14): the pymongo calls that number a thread's
replies (`threadSeq`, `threadBlock`) from its root's `lastThreadSeq`, beside
`messaging.repositories_ext` (same collections, same mapping, same error translation).
`MessageRepository.thread_page` reads a thread by these places. Every call here runs
under the conversation's lock (`messaging.services._lock_if_stored`)."""

from bson import Int64, ObjectId
from pymongo import ReturnDocument, UpdateOne

from messaging.documents import MessageDocument
from messaging.repositories import MessageRepository, _mongo_errors, thread_block


def _message(repo: MessageRepository, conversation_id: str, message_id: str, **extra) -> dict:
    return {repo.conversation_field: conversation_id, "_id": ObjectId(message_id), **extra}


def thread_seqs_reserve(
    repo: MessageRepository, *, conversation_id: str, root_id: str, count: int
) -> MessageDocument | None:
    """`count` consecutive places (`threadSeq`) in the thread of `root_id` for new
    replies about to be stored, under the conversation's lock (the send's batch holds
    it, so the places follow the replies' seq order): the root after its
    `lastThreadSeq` was raised by `count`, so the places are `last_thread_seq - count
    + 1` up to `last_thread_seq`. ONE update (`$inc`; never given back: a failed send
    leaves a gap, which `thread_page` reads past). None if the root is gone: the
    replies are then stored without a place, and the thread is read by keyset.

    A root without `lastThreadSeq`: a new thread (no reply counted yet) starts at 1. A
    thread stored before session 14 with replies is left unnumbered (the root is
    returned with `last_thread_seq` None: no places), and read by keyset, until
    `manage.py backfill_seq_blocks` numbers it a few replies per hold of the lock:
    numbering a long thread here would hold the conversation's lock for seconds (3 ms
    a reply on FerretDB; the review of session 14)."""
    with _mongo_errors():
        raw = repo.collection.find_one_and_update(
            _message(repo, conversation_id, root_id, lastThreadSeq={"$exists": True}),
            {"$inc": {"lastThreadSeq": Int64(count)}},
            return_document=ReturnDocument.AFTER,  # no projection: FerretDB 1.24 refuses one here
        )
        if raw is None:
            raw = repo.collection.find_one(_message(repo, conversation_id, root_id))
            if raw is not None and not raw.get("replyCount") and raw.get("lastThreadSeq") is None:
                raw = repo.collection.find_one_and_update(
                    _message(repo, conversation_id, root_id),
                    {"$set": {"lastThreadSeq": Int64(count)}},
                    return_document=ReturnDocument.AFTER,
                )
    return repo.from_mongo(raw) if raw is not None else None


def thread_number_replies(repo: MessageRepository, *, conversation_id: str, root_id: str) -> int | None:
    """Give every stored reply of a root (deleted ones included) its place, 1..n in seq
    order (`threadSeq`, `threadBlock`), then the root `lastThreadSeq` = n; returns n, or
    None if the root is gone. Under the conversation's lock, by `manage.py
    backfill_seq_blocks`, for every thread with a reply stored without a place: a
    thread stored before session 14 (after `thread_number_some`'s steps), or replies an
    older server stored during a rolling upgrade. The places are
    a function of the replies' seqs, so a run cut short is redone whole; a reader with
    an older `lastThreadSeq` reads past the new end, and its cursor's place is looked up
    afresh on each page."""
    with _mongo_errors():
        if repo.collection.find_one(_message(repo, conversation_id, root_id), projection={"_id": 1}) is None:
            return None
        count, updates = _thread_place_updates(repo, conversation_id=conversation_id, root_id=root_id)
        _bulk(repo, updates)
        repo.collection.update_one(_message(repo, conversation_id, root_id), {"$set": {"lastThreadSeq": Int64(count)}})
    return count


def thread_number_some(repo: MessageRepository, *, conversation_id: str, root_id: str, most: int) -> bool:
    """One step of numbering a thread not numbered yet (its root has no `lastThreadSeq`),
    under the conversation's lock: at most `most` of its replies given the place
    `thread_number_replies` gives them, the root left as it is. True if replies remain
    to be numbered; False once none does, or if the root is gone or already numbered
    (a send numbered it meanwhile). While the root has no `lastThreadSeq` the thread is
    read by keyset, which reads no place: a thread numbered in steps is never read
    half-numbered, and `thread_number_replies` ends it (the review of session 14: the
    backfill held the lock 6.5 s for a thread of 2,000 replies, in one step)."""
    with _mongo_errors():
        root = repo.collection.find_one(_message(repo, conversation_id, root_id), projection={"lastThreadSeq": 1})
        if root is None or root.get("lastThreadSeq") is not None:
            return False
        _count, updates = _thread_place_updates(repo, conversation_id=conversation_id, root_id=root_id)
        _bulk(repo, updates[:most])
    return len(updates) > most


def _thread_place_updates(repo: MessageRepository, *, conversation_id: str, root_id: str) -> tuple[int, list]:
    """(how many replies the root has, deleted ones included; the updates giving those
    whose place is missing or wrong their place, 1..n in seq order)."""
    replies = sorted(
        repo.collection.find(
            {repo.conversation_field: conversation_id, "threadId": root_id}, projection={"seq": 1, "threadSeq": 1}
        ),
        key=lambda raw: int(raw["seq"]),
    )
    updates = [
        UpdateOne(
            {"_id": raw["_id"]},
            {"$set": {"threadSeq": Int64(place), "threadBlock": thread_block(root_id, place)}},
        )
        for place, raw in enumerate(replies, start=1)
        if raw.get("threadSeq") != place
    ]
    return len(replies), updates


def _bulk(repo: MessageRepository, updates: list) -> None:
    # Small bulks: FerretDB 1.24 holds a pooled connection per statement of a bulk.
    for start in range(0, len(updates), 16):
        repo.collection.bulk_write(updates[start : start + 16], ordered=True)


def threads_unnumbered(repo: MessageRepository) -> list[tuple[str, str]]:
    """(conversation id, root id) of every thread with a reply stored without
    `threadSeq` (before session 14): `manage.py backfill_seq_blocks` numbers them."""
    with _mongo_errors():
        cursor = repo.collection.find(
            {"threadId": {"$ne": None}, "threadSeq": None}, projection={repo.conversation_field: 1, "threadId": 1}
        )
        return sorted({(raw[repo.conversation_field], raw["threadId"]) for raw in cursor})
