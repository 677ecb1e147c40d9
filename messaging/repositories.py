"""Every pymongo call of the project, the document mapping and the index definitions.

Two collections, one repository class each, behind one small interface
(`MessageRepository`): `channel_messages` keyed by `channelId` and `dm_messages` keyed
by `conversationId`. Documents keep the data model's camelCase names:

    _id        ObjectId (chosen here before the insert, see dedupeKey)
    channelId | conversationId   canonical UUID string
    workspaceId  the conversation's workspace (UUID string); `backfill_workspace_ids`
               sets it on documents stored before workspaces existed
    senderId   UUID string; null only for a SYSTEM message without an acting user
    content    string (trimmed, 1-4000 characters)
    createdAt  BSON date, server-assigned, millisecond precision
    editedAt   BSON date or null
    type       "TEXT" | "SYSTEM"
    seq        int64, per conversation, strictly increasing (messaging.services)
    seqBlock   "<conversation id>:<seq // SEQ_BLOCK>": the seq window the document is in
               (issue 13: history reads a page block by block, see `window_page`);
               `manage.py backfill_seq_blocks` sets it on documents stored before it
    clientMsgId  string or null
    dedupeKey  "c:<clientMsgId>" or "s:<own _id hex>" (unique per conversation)
    deletedAt, deletedBy   null unless soft-deleted
    threadId   a reply's root `_id` hex, or null; alsoInChannel  bool (issue 17)
    inChannel  bool: shown in the channel view (`threadId` null, or `alsoInChannel`); set
               at the insert (neither field ever changes after it), so the channel view
               is a top-level equality FerretDB pushes down; `backfill_seq_blocks` sets it
               on documents stored before it (docs/threads-reactions.md, session 4)
    threadBlock  on a reply only: "<threadId>:<seq // SEQ_BLOCK>", the seq block of its
               thread it is in: a thread page's block read is ONE equality FerretDB's
               PostgreSQL handler answers from its GIN index (set at the insert, and by
               `backfill_seq_blocks` on replies stored before it)
    replyCount, replyUsers, lastReplyAt   on a root: its visible replies (absent: none)
    reactions  [{e: emoji, u: userId}], one pair per reaction, in order of reacting;
               reactionEmoji  [emoji], the distinct emoji in order of first use
    mentions   [userId]; mentionsChannel  bool
    pinnedAt, pinnedBy   null unless pinned
    (docs/threads-reactions.md says why these are nested in the message document)

Every argument that reaches a query is a `str`, `int` or `datetime` produced by
`messaging.validation` or the services, never client JSON. Any pymongo error that
means "the server is unreachable or too slow" becomes `StoreUnavailable("mongo")`.
"""

import contextlib
import logging
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from bson import Int64, ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.collection import Collection
from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    DuplicateKeyError,
    ExecutionTimeout,
    OperationFailure,
    WTimeoutError,
)

from messaging.documents import Conversation, ConversationKind, MessageDocument, MessageType, Reaction
from messaging.mongo import get_db
from slackclone import errors

logger = logging.getLogger(__name__)

DELETE_BATCH_SIZE = 5000
# History windows (issue 13): a page is read in blocks of SEQ_BLOCK consecutive seqs of
# one conversation, each by an equality on `seqBlock` plus a seq range; after
# WINDOW_MAX_BLOCKS block reads for one page (a long run of deleted or hidden messages,
# or a hard-deleted past), one unbounded keyset read finishes it.
SEQ_BLOCK = 32
WINDOW_MAX_BLOCKS = 16

# ConnectionFailure covers AutoReconnect, NetworkTimeout, NotPrimaryError and
# ServerSelectionTimeoutError.
_UNAVAILABLE = (ConnectionFailure, ExecutionTimeout, WTimeoutError)


class DuplicateMessage(Exception):
    """An insert hit a unique index: the (conversation, seq) or the (conversation,
    dedupeKey) one. The servers do not reliably say which (FerretDB gives no key
    pattern), so the caller finds out with `find_by_dedupe_key`.

    From an ordered `insert_many`, `index` is the position of the refused document:
    the documents before it are stored, none after it (MongoDB and FerretDB 1.24 both
    report the first write error's index and stop there)."""

    def __init__(self, message: str = "", *, index: int | None = None):
        super().__init__(message)
        self.index = index


class IndexConflict(Exception):
    """An index with the same name or keys exists with another definition."""


@contextlib.contextmanager
def _mongo_errors() -> Iterator[None]:
    try:
        yield
    except _UNAVAILABLE as exc:
        logger.warning("mongo unavailable: %s: %.200s", exc.__class__.__name__, exc)
        raise errors.StoreUnavailable("mongo") from exc


def seq_block(conversation_id: str, seq: int) -> str:
    """The `seqBlock` of a conversation's message with this seq."""
    return f"{conversation_id}:{seq // SEQ_BLOCK}"


def thread_block(thread_id: str, seq: int) -> str:
    """The `threadBlock` of a reply with this seq: its root and its seq block."""
    return f"{thread_id}:{seq // SEQ_BLOCK}"


def in_channel(thread_id: str | None, also_in_channel: bool) -> bool:
    """The `inChannel` of a message: a root (no thread) or a reply also in the channel."""
    return thread_id is None or bool(also_in_channel)


def _windows_too_sparse(*, reads: int, covered: int, found: int, limit: int) -> bool:
    """Whether a thread page should leave its windows for the keyset read: once at
    least a block's worth of seqs was read (`covered`), the page would need more than
    WINDOW_MAX_BLOCKS block reads at the density seen so far (none found: infinitely
    many). A thread with few replies, or none recent, then costs one or two block
    reads more than the keyset read alone; a busy one stays in windows."""
    if covered < SEQ_BLOCK:
        return False
    if found == 0:
        return True
    needed = math.ceil((limit - found) * covered / found / SEQ_BLOCK)
    return reads + needed > WINDOW_MAX_BLOCKS


def utc(value: datetime | None) -> datetime | None:
    """A tz-aware UTC datetime (pymongo hands back its own FixedOffset tzinfo)."""
    return value.astimezone(UTC) if value is not None else None


def truncate_ms(value: datetime) -> datetime:
    """BSON dates hold milliseconds: cut a datetime to what MongoDB will store."""
    return value.replace(microsecond=value.microsecond - value.microsecond % 1000)


# --- Indexes ----------------------------------------------------------------


@dataclass(frozen=True)
class IndexSpec:
    collection: str
    keys: tuple[tuple[str, int], ...]
    unique: bool = False

    @property
    def name(self) -> str:  # MongoDB's default naming, given explicitly
        return "_".join(f"{field}_{direction}" for field, direction in self.keys)


INDEXES: tuple[IndexSpec, ...] = (
    IndexSpec("channel_messages", (("channelId", ASCENDING), ("createdAt", ASCENDING))),
    IndexSpec("channel_messages", (("senderId", ASCENDING), ("createdAt", DESCENDING))),
    IndexSpec("channel_messages", (("channelId", ASCENDING), ("seq", ASCENDING)), unique=True),
    IndexSpec("channel_messages", (("channelId", ASCENDING), ("dedupeKey", ASCENDING)), unique=True),
    IndexSpec("dm_messages", (("conversationId", ASCENDING), ("createdAt", ASCENDING))),
    IndexSpec("dm_messages", (("senderId", ASCENDING), ("createdAt", DESCENDING))),
    IndexSpec("dm_messages", (("conversationId", ASCENDING), ("seq", ASCENDING)), unique=True),
    IndexSpec("dm_messages", (("conversationId", ASCENDING), ("dedupeKey", ASCENDING)), unique=True),
    # Across conversations, by time: the admin's moderation list (newest first, keyset on
    # (createdAt, _id)) and retention (purge_messages: createdAt < cutoff).
    IndexSpec("channel_messages", (("createdAt", ASCENDING), ("_id", ASCENDING))),
    IndexSpec("dm_messages", (("createdAt", ASCENDING), ("_id", ASCENDING))),
    # One workspace's messages by time: export_workspace, purge_messages --workspace and
    # the admin's moderation list filtered by workspace.
    IndexSpec("channel_messages", (("workspaceId", ASCENDING), ("createdAt", ASCENDING), ("_id", ASCENDING))),
    IndexSpec("dm_messages", (("workspaceId", ASCENDING), ("createdAt", ASCENDING), ("_id", ASCENDING))),
    # Issue 17: the replies of a root in seq order, a user's mentions newest first (a
    # multikey index on the mentions array), a conversation's pins newest pin first.
    IndexSpec("channel_messages", (("channelId", ASCENDING), ("threadId", ASCENDING), ("seq", ASCENDING))),
    IndexSpec("dm_messages", (("conversationId", ASCENDING), ("threadId", ASCENDING), ("seq", ASCENDING))),
    IndexSpec("channel_messages", (("mentions", ASCENDING), ("createdAt", DESCENDING), ("_id", DESCENDING))),
    IndexSpec("dm_messages", (("mentions", ASCENDING), ("createdAt", DESCENDING), ("_id", DESCENDING))),
    IndexSpec("channel_messages", (("channelId", ASCENDING), ("pinnedAt", DESCENDING))),
    IndexSpec("dm_messages", (("conversationId", ASCENDING), ("pinnedAt", DESCENDING))),
)


def _normalise_key(key) -> tuple[tuple[str, int], ...]:
    items = key.items() if isinstance(key, dict) else key
    return tuple((field, int(direction)) for field, direction in items)


def _check_existing(spec: IndexSpec, existing: dict[str, dict]) -> bool:
    """True if `spec` already exists as defined; IndexConflict if something with its
    name or its keys exists with another definition."""
    if spec.name in existing:
        info = existing[spec.name]
        keys, unique = _normalise_key(info["key"]), bool(info.get("unique", False))
        if keys != spec.keys or unique != spec.unique:
            raise IndexConflict(
                f"{spec.collection}: index {spec.name!r} exists as keys={list(keys)} unique={unique}, "
                f"expected keys={list(spec.keys)} unique={spec.unique}. Drop it and run ensure_mongo_indexes again."
            )
        return True
    for name, info in existing.items():
        if _normalise_key(info["key"]) == spec.keys:
            raise IndexConflict(
                f"{spec.collection}: index {name!r} has the keys {list(spec.keys)} of {spec.name!r} "
                f"(unique={bool(info.get('unique', False))}). Drop it and run ensure_mongo_indexes again."
            )
    return False


def ensure_indexes() -> list[str]:
    """Create the missing MongoDB indexes; return "<collection>.<name>" of those created
    (on FerretDB's PostgreSQL handler also the GIN indexes of messaging.ferretdb).

    Raises IndexConflict (and creates nothing more) if an existing index has one of
    our names with other keys or options, or our keys under another name.
    """
    db = get_db()
    created: list[str] = []
    with _mongo_errors():
        existing_by_collection = {name: db[name].index_information() for name in {spec.collection for spec in INDEXES}}
        for spec in INDEXES:
            existing = existing_by_collection[spec.collection]
            if _check_existing(spec, existing):
                continue
            try:
                db[spec.collection].create_index(list(spec.keys), name=spec.name, unique=spec.unique)
            except OperationFailure as exc:
                if exc.code in (85, 86):  # IndexOptionsConflict, IndexKeySpecsConflict
                    raise IndexConflict(f"{spec.collection}: {exc}") from exc
                raise
            existing[spec.name] = {"key": list(spec.keys), "unique": spec.unique}
            created.append(f"{spec.collection}.{spec.name}")
        ferretdb = db.client.server_info().get("ferretdbVersion")
    if ferretdb:
        # FerretDB's PostgreSQL handler: the GIN indexes its pushed-down equalities need.
        from messaging.ferretdb import ensure_gin_indexes

        created += ensure_gin_indexes(db.name)
    return created


# --- Repositories -----------------------------------------------------------


class MessageRepository:
    """The operations on one message collection. Subclasses name the collection and
    the field holding the conversation id; everything else is shared."""

    kind: ConversationKind
    collection_name: str
    conversation_field: str

    def __init__(self, db=None):
        self._db = db

    @property
    def collection(self) -> Collection:
        return (self._db if self._db is not None else get_db())[self.collection_name]

    # mapping ------------------------------------------------------------------

    def to_mongo(self, message: MessageDocument) -> dict:
        return {
            "_id": ObjectId(message.id),
            self.conversation_field: message.conversation.id,
            "workspaceId": message.conversation.workspace_id,
            "senderId": message.sender_id,
            "content": message.content,
            "createdAt": message.created_at,
            "editedAt": message.edited_at,
            "type": message.type.value,
            "seq": Int64(message.seq),
            "seqBlock": seq_block(message.conversation.id, message.seq),
            "clientMsgId": message.client_msg_id,
            "dedupeKey": message.dedupe_key,
            "deletedAt": message.deleted_at,
            "deletedBy": message.deleted_by,
            **({"files": list(message.files), "fileIds": [f["id"] for f in message.files]} if message.files else {}),
            "threadId": message.thread_id,
            "alsoInChannel": message.also_in_channel,
            "inChannel": in_channel(message.thread_id, message.also_in_channel),
            **({"threadBlock": thread_block(message.thread_id, message.seq)} if message.thread_id else {}),
            "mentions": list(message.mentions),
            "mentionsChannel": message.mentions_channel,
        }

    def from_mongo(self, raw: dict) -> MessageDocument:
        return MessageDocument(
            id=str(raw["_id"]),
            conversation=Conversation(self.kind, raw[self.conversation_field], raw.get("workspaceId")),
            seq=int(raw["seq"]),
            sender_id=raw.get("senderId"),
            content=raw["content"],
            type=MessageType(raw.get("type", MessageType.TEXT)),
            created_at=utc(raw["createdAt"]),
            edited_at=utc(raw.get("editedAt")),
            client_msg_id=raw.get("clientMsgId"),
            dedupe_key=raw.get("dedupeKey") or f"s:{raw['_id']}",
            deleted_at=utc(raw.get("deletedAt")),
            deleted_by=raw.get("deletedBy"),
            files=tuple(raw.get("files") or ()),
            thread_id=raw.get("threadId"),
            also_in_channel=bool(raw.get("alsoInChannel", False)),
            thread_counted=bool(raw.get("threadCounted", False)),
            reply_count=int(raw.get("replyCount") or 0),
            reply_users=tuple(raw.get("replyUsers") or ()),
            last_reply_at=utc(raw.get("lastReplyAt")),
            reactions=reactions_from_mongo(raw),
            mentions=tuple(raw.get("mentions") or ()),
            mentions_channel=bool(raw.get("mentionsChannel", False)),
            pinned_at=utc(raw.get("pinnedAt")),
            pinned_by=raw.get("pinnedBy"),
        )

    @staticmethod
    def new_id() -> str:
        return str(ObjectId())

    def _live(self, conversation_id: str, **extra) -> dict:
        return {self.conversation_field: conversation_id, "deletedAt": None, **extra}

    def _visible(
        self, conversation_id: str, *, thread_id: str | None = None, roots_only: bool = False, **extra
    ) -> dict:
        """History (issue 17): live messages, and deleted roots that still have visible
        replies (tombstones). `thread_id`: only that root's replies (live ones);
        `roots_only`: replies left out unless also in the channel."""
        if thread_id is not None:
            return self._live(conversation_id, threadId=thread_id, **extra)
        conditions = [{"$or": [{"deletedAt": None}, {"replyCount": {"$gt": 0}}]}]
        if roots_only:
            # A top-level equality (not an `$or` on threadId/alsoInChannel): FerretDB 1.24
            # pushes it down to PostgreSQL, so hidden replies are never decoded.
            extra = {**extra, "inChannel": True}
        return {self.conversation_field: conversation_id, **extra, "$and": conditions}

    def _find(self, query: dict, *, sort_direction: int, limit: int, hint=None) -> list[MessageDocument]:
        with _mongo_errors():
            cursor = self.collection.find(query).sort("seq", sort_direction).limit(limit)
            if hint is not None:
                cursor = cursor.hint(hint)
            return [self.from_mongo(raw) for raw in cursor]

    @property
    def seq_index(self) -> list[tuple[str, int]]:
        """The unique (conversation, seq) index, as a hint."""
        return [(self.conversation_field, ASCENDING), ("seq", ASCENDING)]

    @property
    def thread_index(self) -> list[tuple[str, int]]:
        """The (conversation, threadId, seq) index, as a hint (a thread's replies)."""
        return [(self.conversation_field, ASCENDING), ("threadId", ASCENDING), ("seq", ASCENDING)]

    def _block_query(self, conversation_id: str, block: int, low: int, high: int, **view) -> dict:
        """The visible messages of one seq block of a conversation with low <= seq <= high
        (both inside the block): equalities on the conversation and on `seqBlock` plus
        the seq range (the channel view: and `inChannel: true`); a thread's replies: on
        the conversation and the thread's `threadBlock` instead (see `window_page`)."""
        seqs = {"$gte": Int64(low), "$lte": Int64(high)}
        thread_id = view.get("thread_id")
        if thread_id is not None:
            # One pushed-down equality that names the thread's block (threadBlock); the
            # root inside `$and`, which FerretDB does not push down (PostgreSQL would then
            # pick the GIN index on threadId and read every reply of the thread), while
            # MongoDB's planner uses it for the (conversation, threadId, seq) bounds.
            return self._live(
                conversation_id, threadBlock=f"{thread_id}:{block}", seq=seqs, **{"$and": [{"threadId": thread_id}]}
            )
        return self._visible(conversation_id, seqBlock=f"{conversation_id}:{block}", seq=seqs, **view)

    # writes ---------------------------------------------------------------------

    def insert(self, message: MessageDocument) -> MessageDocument:
        """Store `message`; DuplicateMessage if its seq or dedupeKey is taken."""
        with _mongo_errors():
            try:
                self.collection.insert_one(self.to_mongo(message))
            except DuplicateKeyError as exc:
                raise DuplicateMessage(str(exc)) from exc
        return message

    def insert_many(self, messages: Iterable[MessageDocument]) -> int:
        """Bulk insert, ordered. It does not assign seq: messaging.services (a group commit
        of sends, messages_import) reserves a seq range for a batch and calls this under
        the conversation's lock. DuplicateMessage(index=i) if a seq or dedupeKey is taken
        by document i (the documents before it are stored, none after it)."""
        docs = [self.to_mongo(message) for message in messages]
        if not docs:
            return 0
        with _mongo_errors():
            try:
                return len(self.collection.insert_many(docs, ordered=True).inserted_ids)
            except BulkWriteError as exc:
                write_errors = exc.details.get("writeErrors") or [{}]
                if any(error.get("code") != 11000 for error in write_errors):
                    raise
                raise DuplicateMessage(str(write_errors[:1]), index=write_errors[0].get("index")) from exc

    def edit(self, *, conversation_id: str, message_id: str, content: str, edited_at: datetime, mentions=None):
        """Set content and editedAt of a live message (and, given `mentions` = (user ids,
        channel-wide), its mentions, in the same update); None if it is gone."""
        also = {} if mentions is None else {"mentions": list(mentions[0]), "mentionsChannel": bool(mentions[1])}
        with _mongo_errors():
            raw = self.collection.find_one_and_update(
                self._live(conversation_id, _id=ObjectId(message_id)),
                {"$set": {"content": content, "editedAt": edited_at, **also}},
                return_document=ReturnDocument.AFTER,
            )
        return self.from_mongo(raw) if raw is not None else None

    def soft_delete(self, *, conversation_id: str, message_id: str, deleted_by: str, deleted_at: datetime):
        """Mark a live message deleted; None if it was already gone (so a second
        delete of the same message finds nothing)."""
        with _mongo_errors():
            raw = self.collection.find_one_and_update(
                self._live(conversation_id, _id=ObjectId(message_id)),
                {"$set": {"deletedAt": deleted_at, "deletedBy": deleted_by}},
                return_document=ReturnDocument.AFTER,
            )
        return self.from_mongo(raw) if raw is not None else None

    def files_remove(self, *, conversation_id: str, message_id: str, file_id: str):
        """Take a file off a message (deleted or not); the message if it was live and
        carried it (to announce), else None. Read, then a `$set` conditional on the
        file list read: the caller holds the conversation's lock, as every message
        write does. (Not `$pull` with a condition: FerretDB 1.24 matches `$pull`
        conditions on embedded documents as whole documents.)"""
        query = {self.conversation_field: conversation_id, "_id": ObjectId(message_id), "fileIds": file_id}
        with _mongo_errors():
            raw = self.collection.find_one(query)
            if raw is None:
                return None
            files = [entry for entry in raw.get("files") or () if entry.get("id") != file_id]
            raw = self.collection.find_one_and_update(
                {**query, "fileIds": raw.get("fileIds")},
                {"$set": {"files": files, "fileIds": [entry["id"] for entry in files]}},
                return_document=ReturnDocument.AFTER,
            )
        return self.from_mongo(raw) if raw is not None and raw.get("deletedAt") is None else None

    # reads ----------------------------------------------------------------------

    def existing_ids(self, *, message_ids: list[str]) -> set[str]:
        """Which of these message ids are stored (deleted or not)."""
        ids = [ObjectId(mid) for mid in message_ids if ObjectId.is_valid(mid)]
        if not ids:
            return set()
        with _mongo_errors():
            return {str(raw["_id"]) for raw in self.collection.find({"_id": {"$in": ids}}, projection={"_id": 1})}

    def get(self, *, conversation_id: str, message_id: str, include_deleted: bool = False):
        query = {self.conversation_field: conversation_id, "_id": ObjectId(message_id)}
        if not include_deleted:
            query["deletedAt"] = None
        with _mongo_errors():
            raw = self.collection.find_one(query)
        return self.from_mongo(raw) if raw is not None else None

    def find_by_dedupe_key(self, *, conversation_id: str, dedupe_key: str) -> MessageDocument | None:
        """The message stored under this dedupeKey, deleted or not (a retry of a
        message that has since been deleted must not store it again)."""
        with _mongo_errors():
            raw = self.collection.find_one({self.conversation_field: conversation_id, "dedupeKey": dedupe_key})
        return self.from_mongo(raw) if raw is not None else None

    def newest_page(self, *, conversation_id: str, limit: int, **view) -> list[MessageDocument]:
        """Up to `limit` newest visible messages, newest first (`view`: see _visible)."""
        return self._find(self._visible(conversation_id, **view), sort_direction=DESCENDING, limit=limit)

    def page_before(self, *, conversation_id: str, seq: int, limit: int, **view) -> list[MessageDocument]:
        """Up to `limit` visible messages with a smaller seq, newest first."""
        query = self._visible(conversation_id, seq={"$lt": seq}, **view)
        return self._find(query, sort_direction=DESCENDING, limit=limit)

    def page_after(self, *, conversation_id: str, seq: int, limit: int, **view) -> list[MessageDocument]:
        """Up to `limit` visible messages with a larger seq, oldest first."""
        query = self._visible(conversation_id, seq={"$gt": seq}, **view)
        return self._find(query, sort_direction=ASCENDING, limit=limit)

    def window_page(
        self,
        *,
        conversation_id: str,
        top: int,
        limit: int,
        before: int | None = None,
        after: int | None = None,
        **view,
    ) -> list[MessageDocument]:
        """The page `newest_page` / `page_before(seq=before)` / `page_after(seq=after)`
        would return (same documents, same order: newest first, or oldest first with
        `after`), read as bounded seq windows (issue 13).

        `top` is the conversation's newest seq as the server knows it: its committed
        counter (`message_sequences.last_seq`; every message up to it is stored, since a
        send inserts before it commits). The page is read block by block (SEQ_BLOCK
        consecutive seqs), each block by ONE query: equalities on the conversation and
        `seqBlock` and a seq range, hinted to the (conversation, seq) index, so MongoDB
        reads at most a block of index entries and FerretDB's PostgreSQL handler answers
        it from the GIN index on `seqBlock` (messaging.ferretdb), never reading the rest
        of the conversation. Hidden messages (deleted, or replies in the channel view)
        do not shorten the page: blocks are read until `limit` visible ones are found or
        the conversation's start (or its end). After WINDOW_MAX_BLOCKS blocks, one
        unbounded keyset query (`page_before` / `page_after`) finishes the page.

        The end: `_ceiling` extends `top` over the messages stored past it without a
        hole (a batch being committed, or a counter behind MongoDB): what one snapshot
        would have shown, never a later message without an earlier one, although the
        blocks are read by several queries.

        The views (issue 17, session 4): the channel view (`roots_only`) adds the
        equality `inChannel: true`, pushed down with the others, so the store decodes
        only the block's messages shown in the channel, not the hidden replies. A
        thread's replies (`thread_id`) are read in the same seq blocks, named by the
        replies' `threadBlock` (root + block; FerretDB's PostgreSQL handler answers it
        from its GIN index) and hinted to the (conversation, threadId, seq) index, so
        only that thread's replies of the block are decoded. A thread too sparse for windows
        (`_windows_too_sparse`: the blocks read so far say the page would need more
        than WINDOW_MAX_BLOCKS of them) is finished by the keyset read at once, which
        decodes only that thread's replies (the GIN index on `threadId`)."""
        thread = view.get("thread_id") is not None
        hint = self.thread_index if thread else self.seq_index
        top = max(int(top), 0)
        found: list[MessageDocument] = []
        reads = covered = 0

        def read(block: int, low: int, high: int, direction: int) -> list[MessageDocument]:
            nonlocal reads, covered
            reads += 1
            covered += high - low + 1
            query = self._block_query(conversation_id, block, low, high, **view)
            return self._find(query, sort_direction=direction, limit=limit - len(found), hint=hint)

        def windows_done() -> bool:
            if reads == WINDOW_MAX_BLOCKS:
                return True
            return thread and _windows_too_sparse(reads=reads, covered=covered, found=len(found), limit=limit)

        if after is not None:  # oldest first, from after + 1 up to the end
            end = self._ceiling(conversation_id, top)
            low = after + 1
            while len(found) < limit and low <= end:
                block = low // SEQ_BLOCK
                high = min(end, (block + 1) * SEQ_BLOCK - 1)
                if windows_done():
                    rest = self.page_after(
                        conversation_id=conversation_id, seq=low - 1, limit=limit - len(found), **view
                    )
                    found += [m for m in rest if m.seq <= end]
                    break
                found += read(block, low, high, ASCENDING)
                low = high + 1
            return found

        # newest first, from before - 1 (or the end) down to seq 0
        high = top if before is None else before - 1
        if high >= top:
            ceiling = self._ceiling(conversation_id, top)
            high = ceiling if before is None else min(high, ceiling)
        while len(found) < limit and high >= 0:
            block = high // SEQ_BLOCK
            if windows_done():
                found += self.page_before(
                    conversation_id=conversation_id, seq=high + 1, limit=limit - len(found), **view
                )
                break
            found += read(block, block * SEQ_BLOCK, high, DESCENDING)
            high = block * SEQ_BLOCK - 1
        return found

    def _ceiling(self, conversation_id: str, top: int) -> int:
        """The last seq of the run of stored messages top + 1, top + 2, ... without a
        hole (deleted ones count: they are stored); `top` if there is none. Usually ONE
        point read of seq top + 1 that finds nothing (an equality on seqBlock and seq,
        both pushed down by FerretDB: it decodes no document). Inserts into a
        conversation are made in seq order, so a message seen here has every earlier
        one stored too."""
        ceiling = top
        while True:
            following = ceiling + 1
            block = following // SEQ_BLOCK
            base = {self.conversation_field: conversation_id, "seqBlock": f"{conversation_id}:{block}"}
            with _mongo_errors():
                if self.collection.find_one({**base, "seq": Int64(following)}, projection={"_id": 1}) is None:
                    return ceiling
                # Messages past the counter: the rest of this block in one read.
                block_end = (block + 1) * SEQ_BLOCK - 1
                query = {**base, "seq": {"$gte": Int64(following), "$lte": Int64(block_end)}}
                cursor = self.collection.find(query, projection={"seq": 1, "_id": 0}).hint(self.seq_index)
                seqs = sorted(int(raw["seq"]) for raw in cursor)
            for seq in seqs:
                if seq != ceiling + 1:
                    return ceiling
                ceiling = seq
            if ceiling != block_end:
                return ceiling

    def high_water_mark(self, *, conversation_id: str) -> tuple[int, datetime | None]:
        """(max seq, its createdAt) over every stored message, deleted ones included;
        (0, None) for an empty conversation."""
        with _mongo_errors():
            raw = self.collection.find_one(
                {self.conversation_field: conversation_id},
                projection={"seq": 1, "createdAt": 1},
                sort=[("seq", DESCENDING)],
            )
        return (int(raw["seq"]), utc(raw["createdAt"])) if raw is not None else (0, None)

    def max_seq(self, *, conversation_id: str) -> int:
        return self.high_water_mark(conversation_id=conversation_id)[0]

    def explain_newest_page(self, *, conversation_id: str, limit: int) -> dict:
        """The server's explain output of the history query (for index checks)."""
        with _mongo_errors():
            return self.collection.database.command(
                "explain",
                {
                    "find": self.collection_name,
                    "filter": self._visible(conversation_id),
                    "sort": {"seq": DESCENDING},
                    "limit": limit,
                },
                verbosity="queryPlanner",
            )

    def explain_window(self, *, conversation_id: str, seq: int, limit: int, **view) -> dict:
        """The server's explain output of one block read of `window_page` (index checks);
        `view` as for `window_page` (the channel view, a thread)."""
        block = seq // SEQ_BLOCK
        hint = self.thread_index if view.get("thread_id") is not None else self.seq_index
        with _mongo_errors():
            return self.collection.database.command(
                "explain",
                {
                    "find": self.collection_name,
                    "filter": self._block_query(conversation_id, block, block * SEQ_BLOCK, seq, **view),
                    "sort": {"seq": DESCENDING},
                    "limit": limit,
                    "hint": dict(hint),
                },
                verbosity="queryPlanner",
            )

    def server_info(self) -> dict:
        with _mongo_errors():
            return self.collection.database.client.server_info()

    def delete_conversation(self, *, conversation_id: str, created_before: datetime | None = None) -> int:
        """Hard-delete every message of a conversation (a deleted channel, an orphan,
        benchmark clean-up), or only those created before `created_before`; in batches."""
        query: dict = {self.conversation_field: conversation_id}
        if created_before is not None:
            query["createdAt"] = {"$lt": created_before}
        return self.delete_matching(query)

    # operations (admin moderation, management commands) ----------------------------

    def count(self, *, conversation_id: str) -> int:
        """Every stored message of a conversation, deleted ones included."""
        with _mongo_errors():
            return self.collection.count_documents({self.conversation_field: conversation_id})

    def delete_ids(self, *, message_ids: list[str]) -> int:
        """Hard-delete messages by id (undoing a partly inserted import batch)."""
        if not message_ids:
            return 0
        with _mongo_errors():
            return self.collection.delete_many({"_id": {"$in": [ObjectId(mid) for mid in message_ids]}}).deleted_count

    def _older_than(self, created_before: datetime, conversation_id: str | None, workspace_id: str | None) -> dict:
        query: dict = {"createdAt": {"$lt": created_before}}
        if workspace_id is not None:
            query = {"workspaceId": workspace_id, **query}
        if conversation_id is not None:
            query[self.conversation_field] = conversation_id
        return query

    def count_older_than(
        self, *, created_before: datetime, conversation_id: str | None = None, workspace_id: str | None = None
    ) -> int:
        with _mongo_errors():
            return self.collection.count_documents(self._older_than(created_before, conversation_id, workspace_id))

    def delete_older_than(
        self,
        *,
        created_before: datetime,
        conversation_id: str | None = None,
        workspace_id: str | None = None,
        progress=None,
    ) -> int:
        """Hard-delete (retention) every message created before `created_before`, of one
        conversation, of one workspace, or of all (see delete_matching)."""
        return self.delete_matching(self._older_than(created_before, conversation_id, workspace_id), progress=progress)

    def delete_matching(self, query: dict, *, batch_size: int | None = None, progress=None) -> int:
        """Hard-delete every document matching `query` (built here, never client input).

        ONE query streams the matching `_id`s (on the (createdAt, _id) or the
        (conversation, ...) indexes), and they are deleted `batch_size` at a time by
        `_id`: every operation stays short whatever the total (the request client's
        socket timeout applies to each), and no single delete grows past what a
        server accepts (FerretDB's SQLite backend refuses a delete of more than ~32k
        documents). `progress(deleted so far)` is called after each batch."""
        batch_size = batch_size or DELETE_BATCH_SIZE
        deleted = 0
        with _mongo_errors():
            cursor = self.collection.find(query, projection={"_id": 1}).batch_size(batch_size)
            try:
                batch: list[ObjectId] = []
                for raw in cursor:
                    batch.append(raw["_id"])
                    if len(batch) == batch_size:
                        deleted += self.collection.delete_many({"_id": {"$in": batch}}).deleted_count
                        batch = []
                        if progress is not None:
                            progress(deleted)
                if batch:
                    deleted += self.collection.delete_many({"_id": {"$in": batch}}).deleted_count
                    if progress is not None:
                        progress(deleted)
            finally:
                cursor.close()
        return deleted

    def conversation_ids(self) -> list[str]:
        """The distinct conversation ids that have at least one stored message."""
        with _mongo_errors():
            return [value for value in self.collection.distinct(self.conversation_field) if isinstance(value, str)]

    def count_by_conversation(self, *, conversation_ids: list[str], created_before: datetime) -> dict[str, int]:
        """{conversation id: stored messages created before `created_before`} for these ids."""
        if not conversation_ids:
            return {}
        with _mongo_errors():
            rows = self.collection.aggregate(
                [
                    {
                        "$match": {
                            self.conversation_field: {"$in": list(conversation_ids)},
                            "createdAt": {"$lt": created_before},
                        }
                    },
                    {"$group": {"_id": f"${self.conversation_field}", "n": {"$sum": 1}}},
                ]
            )
            return {row["_id"]: int(row["n"]) for row in rows}

    def counts_per_conversation(
        self, *, created_before: datetime, live_only: bool = False, text_only: bool = False
    ) -> dict[str, int]:
        """{conversation id: messages created before `created_before`} over the whole
        collection (deleted ones too unless `live_only`; every type unless `text_only`):
        search index drift, and unread index drift (live TEXT messages)."""
        match: dict = {"createdAt": {"$lt": created_before}}
        if live_only:
            match["deletedAt"] = None
        if text_only:
            match["type"] = MessageType.TEXT.value
        with _mongo_errors():
            rows = self.collection.aggregate(
                [{"$match": match}, {"$group": {"_id": f"${self.conversation_field}", "n": {"$sum": 1}}}]
            )
            return {row["_id"]: int(row["n"]) for row in rows if isinstance(row["_id"], str)}

    def get_by_id(self, *, message_id: str) -> MessageDocument | None:
        """A message of any conversation, deleted or not (moderation)."""
        with _mongo_errors():
            raw = self.collection.find_one({"_id": ObjectId(message_id)})
        return self.from_mongo(raw) if raw is not None else None

    def get_each(self, *, message_ids: list[str]) -> dict[str, MessageDocument]:
        """{id: message} of these ids (deleted or not; unknown ones absent), by one _id
        point read each (search results, at most a page). Not one `$in`: FerretDB 1.24
        answers `$in` on _id with a collection scan (seconds at 10,000 documents), and
        an _id equality from its primary key; on MongoDB both are index reads."""
        found: dict[str, MessageDocument] = {}
        with _mongo_errors():
            for message_id in message_ids:
                raw = self.collection.find_one({"_id": ObjectId(message_id)})
                if raw is not None:
                    found[message_id] = self.from_mongo(raw)
        return found

    def get_many(self, *, message_ids: list[str]) -> list[MessageDocument]:
        """Messages by id, deleted or not, newest first by (createdAt, _id) (moderation:
        at most a few hundred). One _id point read each, as `get_each` (issue 13: FerretDB
        1.24 answers `$in` with a collection scan, an _id equality from an index)."""
        found = self.get_each(message_ids=list(dict.fromkeys(message_ids)))
        return sorted(found.values(), key=lambda m: (m.created_at, m.id), reverse=True)

    def around(self, *, conversation_id: str, seq: int, count: int) -> tuple[list[MessageDocument], list]:
        """Up to `count` messages just before and just after `seq` in the conversation,
        deleted ones included, each list oldest first (moderation context)."""
        base = {self.conversation_field: conversation_id}
        with _mongo_errors():
            before = list(self.collection.find({**base, "seq": {"$lt": seq}}).sort("seq", DESCENDING).limit(count))
            after = list(self.collection.find({**base, "seq": {"$gt": seq}}).sort("seq", ASCENDING).limit(count))
        return [self.from_mongo(raw) for raw in reversed(before)], [self.from_mongo(raw) for raw in after]

    def search(
        self,
        *,
        conversation_id: str | None = None,
        workspace_id: str | None = None,
        sender_id: str | None = None,
        created_from: datetime | None = None,
        created_before: datetime | None = None,
        text: str | None = None,
        deleted: bool | None = None,
        seek: tuple[datetime, str] | None = None,
        limit: int,
    ) -> list[MessageDocument]:
        """Messages of the whole collection, newest first, keyset-paged on (createdAt, _id).

        Every argument is a plain value checked by the caller. `text` is matched as a
        case-insensitive substring: it is escaped with re.escape, so it is never a
        pattern, let alone an operator. `deleted`: True only deleted, False only live,
        None both. `seek` is the (createdAt, id) of the last message of the previous page.
        """
        conditions: list[dict] = []
        if workspace_id is not None:
            conditions.append({"workspaceId": workspace_id})
        if conversation_id is not None:
            conditions.append({self.conversation_field: conversation_id})
        if sender_id is not None:
            conditions.append({"senderId": sender_id})
        if created_from is not None:
            conditions.append({"createdAt": {"$gte": created_from}})
        if created_before is not None:
            conditions.append({"createdAt": {"$lt": created_before}})
        if text:
            conditions.append({"content": {"$regex": re.escape(text), "$options": "i"}})
        if deleted is True:
            conditions.append({"deletedAt": {"$ne": None}})
        elif deleted is False:
            conditions.append({"deletedAt": None})
        if seek is not None:
            at, last_id = seek[0], ObjectId(seek[1])
            conditions.append({"$or": [{"createdAt": {"$lt": at}}, {"createdAt": at, "_id": {"$lt": last_id}}]})
        query = {"$and": conditions} if conditions else {}
        with _mongo_errors():
            cursor = self.collection.find(query).sort([("createdAt", DESCENDING), ("_id", DESCENDING)]).limit(limit)
            return [self.from_mongo(raw) for raw in cursor]

    def page_by_id(self, *, conversation_id: str, after_id: str | None, limit: int) -> list[MessageDocument]:
        """Up to `limit` messages of a conversation, deleted ones included, in _id order
        after `after_id` (search reindex: resumable by the last id done)."""
        query: dict = {self.conversation_field: conversation_id}
        if after_id:
            query["_id"] = {"$gt": ObjectId(after_id)}
        with _mongo_errors():
            cursor = self.collection.find(query).sort("_id", ASCENDING).limit(limit)
            return [self.from_mongo(raw) for raw in cursor]

    def iter_live(self, *, conversation_id: str, batch_size: int = 1000) -> Iterator[MessageDocument]:
        """Every live message of a conversation in seq order (export): one query on the
        (conversation, seq) index whose server cursor hands over `batch_size` documents
        at a time, so memory stays constant however long the history is."""
        with _mongo_errors():
            cursor = self.collection.find(self._live(conversation_id)).sort("seq", ASCENDING).batch_size(batch_size)
            try:
                for raw in cursor:
                    yield self.from_mongo(raw)
            finally:
                cursor.close()

    # workspaces ---------------------------------------------------------------------

    def iter_workspace(self, *, workspace_id: str, batch_size: int = 1000) -> Iterator[MessageDocument]:
        """Every message of a workspace (deleted ones included), by (createdAt, _id), on
        the (workspaceId, createdAt, _id) index, `batch_size` documents at a time."""
        with _mongo_errors():
            cursor = (
                self.collection.find({"workspaceId": workspace_id})
                .sort([("createdAt", ASCENDING), ("_id", ASCENDING)])
                .batch_size(batch_size)
            )
            try:
                for raw in cursor:
                    yield self.from_mongo(raw)
            finally:
                cursor.close()

    def count_without_workspace(self) -> int:
        """Documents stored before workspaces existed (no workspaceId yet)."""
        with _mongo_errors():
            return self.collection.count_documents({"workspaceId": None})

    def set_workspace(self, *, conversation_ids: list[str], workspace_id: str) -> int:
        """Backfill: set workspaceId on these conversations' documents that have none."""
        if not conversation_ids:
            return 0
        with _mongo_errors():
            return self.collection.update_many(
                {self.conversation_field: {"$in": list(conversation_ids)}, "workspaceId": None},
                {"$set": {"workspaceId": workspace_id}},
            ).modified_count

    def backfill_seq_blocks(self, *, batch_size: int = 16) -> int:
        """Set `seqBlock` (issue 13), `inChannel` and a reply's `threadBlock` (issue 17,
        session 4) on every document stored before they existed; the number of documents
        set. One query streams those documents (it reads the collection once), and each
        batch is one unordered bulk of `$set` by `_id`. Idempotent.

        Small batches: FerretDB 1.24 (PostgreSQL handler) keeps each statement's query
        open, holding one of its pooled PostgreSQL connections (50), until the whole
        command ends: a bulk of more statements than its pool hangs it."""
        from pymongo import UpdateOne

        updated = 0
        with _mongo_errors():
            cursor = self.collection.find(
                {
                    "$or": [
                        {"seqBlock": None},
                        {"inChannel": {"$exists": False}},
                        {"threadId": {"$ne": None}, "threadBlock": None},
                    ]
                },
                projection={self.conversation_field: 1, "seq": 1, "threadId": 1, "alsoInChannel": 1},
            ).batch_size(1000)
            try:
                batch: list[UpdateOne] = []
                for raw in cursor:
                    fields = {
                        "seqBlock": seq_block(raw[self.conversation_field], int(raw["seq"])),
                        "inChannel": in_channel(raw.get("threadId"), raw.get("alsoInChannel", False)),
                    }
                    if raw.get("threadId"):
                        fields["threadBlock"] = thread_block(raw["threadId"], int(raw["seq"]))
                    batch.append(UpdateOne({"_id": raw["_id"]}, {"$set": fields}))
                    if len(batch) == batch_size:
                        updated += self.collection.bulk_write(batch, ordered=False).modified_count
                        batch = []
                if batch:
                    updated += self.collection.bulk_write(batch, ordered=False).modified_count
            finally:
                cursor.close()
        return updated

    def conversation_ids_without_workspace(self) -> list[str]:
        with _mongo_errors():
            return [
                value
                for value in self.collection.distinct(self.conversation_field, {"workspaceId": None})
                if isinstance(value, str)
            ]


def reactions_from_mongo(raw: dict) -> tuple[Reaction, ...]:
    """The stored pairs grouped per emoji, in order of first use (reactionEmoji)."""
    pairs = raw.get("reactions") or ()
    if not pairs:
        return ()
    users: dict[str, list[str]] = {emoji: [] for emoji in raw.get("reactionEmoji") or ()}
    for pair in pairs:
        users.setdefault(pair["e"], []).append(pair["u"])
    return tuple(Reaction(emoji, tuple(ids)) for emoji, ids in users.items() if ids)


class ChannelMessageRepository(MessageRepository):
    kind = ConversationKind.CHANNEL
    collection_name = "channel_messages"
    conversation_field = "channelId"


class DmMessageRepository(MessageRepository):
    kind = ConversationKind.DM
    collection_name = "dm_messages"
    conversation_field = "conversationId"


_REPOSITORIES = {
    ConversationKind.CHANNEL: ChannelMessageRepository(),
    ConversationKind.DM: DmMessageRepository(),
}


def repository_for(kind: ConversationKind) -> MessageRepository:
    return _REPOSITORIES[kind]
