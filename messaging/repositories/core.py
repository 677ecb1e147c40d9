"""`MessageRepository`: the document mapping, single-message writes and reads, and
the two collections' subclasses (`repository_for`)."""

from collections.abc import Iterable
from datetime import datetime

from bson import Int64, ObjectId
from pymongo import ASCENDING, ReturnDocument
from pymongo.collection import Collection
from pymongo.errors import (
    BulkWriteError,
    DuplicateKeyError,
)

from messaging.documents import Conversation, ConversationKind, MessageDocument, MessageType, Reaction
from messaging.mongo import get_db
from messaging.repositories.base import (
    SEQ_BLOCK,
    DuplicateMessage,
    _mongo_errors,
    in_channel,
    seq_block,
    thread_block,
    utc,
)
from messaging.repositories.history import HistoryReads
from messaging.repositories.operations import Operations


class MessageRepository(HistoryReads, Operations):
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
            **self._thread_place(message),
            **({"threadCounted": True} if message.thread_counted else {}),
            "mentions": list(message.mentions),
            "mentionsChannel": message.mentions_channel,
        }

    @staticmethod
    def _thread_place(message: MessageDocument) -> dict:
        """A numbered reply's `threadSeq` and `threadBlock` (see thread_page)."""
        if message.thread_id is None or message.thread_seq is None:
            return {}
        return {
            "threadSeq": Int64(message.thread_seq),
            "threadBlock": thread_block(message.thread_id, message.thread_seq),
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
            thread_seq=int(raw["threadSeq"]) if raw.get("threadSeq") is not None else None,
            last_thread_seq=int(raw["lastThreadSeq"]) if raw.get("lastThreadSeq") is not None else None,
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
    def thread_seq_index(self) -> list[tuple[str, int]]:
        """The (conversation, threadId, threadSeq) index, as a hint (a thread's block)."""
        return [(self.conversation_field, ASCENDING), ("threadId", ASCENDING), ("threadSeq", ASCENDING)]

    def _block_query(self, conversation_id: str, block: int, low: int, high: int, **view) -> dict:
        """The visible messages of one seq block of a conversation with low <= seq <= high
        (both inside the block): equalities on the conversation and on `seqBlock` plus
        the seq range (the channel view: and `inChannel: true`)."""
        seqs = {"$gte": Int64(low), "$lte": Int64(high)}
        return self._visible(conversation_id, seqBlock=f"{conversation_id}:{block}", seq=seqs, **view)

    def _thread_block_query(self, conversation_id: str, thread_id: str, block: int, seqs: dict | None = None) -> dict:
        """The live replies of one block of a thread (`threadSeq` in
        [block * SEQ_BLOCK, block * SEQ_BLOCK + SEQ_BLOCK - 1]), with `seqs` those whose
        seq matches it (a range: the page's cursor, the end of the conversation).

        ONE top-level equality names the block, `threadBlock`, which FerretDB's PostgreSQL
        handler pushes down and answers from its GIN index: it decodes that block's
        replies and no other message. The root and the block's `threadSeq` range go
        inside `$and`, which FerretDB does not push down (with `threadId` top-level,
        PostgreSQL would pick the GIN index on threadId and read every reply of the
        thread), while MongoDB's planner flattens it into the bounds of the hinted
        (conversation, threadId, threadSeq) index: at most a block of index entries."""
        places = {"$gte": Int64(block * SEQ_BLOCK), "$lte": Int64(block * SEQ_BLOCK + SEQ_BLOCK - 1)}
        return self._live(
            conversation_id,
            threadBlock=thread_block(thread_id, block * SEQ_BLOCK),
            **({"seq": seqs} if seqs is not None else {}),
            **{"$and": [{"threadId": thread_id, "threadSeq": places}]},
        )

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

    def any_live_carrying(self, *, message_ids: list[str], file_id: str) -> bool:
        """Whether one of these messages is live (not deleted) and still carries the file
        (files.selectors: who may fetch a file). One query."""
        ids = [ObjectId(mid) for mid in message_ids if ObjectId.is_valid(mid)]
        if not ids:
            return False
        query = {"_id": {"$in": ids}, "deletedAt": None, "fileIds": file_id}
        with _mongo_errors():
            return self.collection.find_one(query, projection={"_id": 1}) is not None

    def first_mentions_in_thread(
        self, *, conversation_id: str, root_id: str, user_ids: list[str], before_seq: int, blocks: list[int]
    ) -> dict[str, int]:
        """{user id: seq of the first live reply of the thread, below `before_seq`, that
        mentions them}, among the replies of these blocks of the thread's places
        (messaging.threads: a late mention's marker). One query per block, each bounded
        as `thread_page`'s (`_thread_block_query`): FerretDB decodes that block's replies
        only, not the whole thread, under the conversation's lock."""
        wanted, first = set(user_ids), {}
        with _mongo_errors():
            for block in blocks:
                query = self._thread_block_query(conversation_id, root_id, block, {"$lt": Int64(before_seq)})
                query["mentions"] = {"$in": list(user_ids)}
                cursor = self.collection.find(query, projection={"seq": 1, "mentions": 1}).hint(self.thread_seq_index)
                for raw in cursor:
                    for uid in wanted.intersection(raw.get("mentions") or ()):
                        first[uid] = min(first.get(uid, int(raw["seq"])), int(raw["seq"]))
        return first

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

    def server_info(self) -> dict:
        with _mongo_errors():
            return self.collection.database.client.server_info()


def reaction_key(emoji: str, user_id: str) -> str:
    """The stored form of one reaction (issue 17, session 5): "<emoji> <user id>". One
    string, not an `{e, u}` document: FerretDB 1.24 decodes a message with 15 pairs
    about 1.8x as slowly as a plain one, with 15 strings 1.35x (docs/threads-reactions.md).
    Unambiguous: a normalized emoji (`messaging.validation.clean_emoji`) holds no space."""
    return f"{emoji} {user_id}"


def reaction_pair(item: str | dict) -> tuple[str, str]:
    """(emoji, user id) of a stored reaction: a `reaction_key` string, or the `{e, u}`
    pair stored before session 5 (until `backfill_seq_blocks` rewrites it)."""
    if isinstance(item, str):
        emoji, _, user_id = item.rpartition(" ")
        return emoji, user_id
    return item["e"], item["u"]


def reactions_from_mongo(raw: dict) -> tuple[Reaction, ...]:
    """The stored reactions grouped per emoji, in order of first use (reactionEmoji),
    each emoji's users in order of reacting. Reads both stored forms (`reaction_pair`),
    even mixed in one array, and counts a reaction stored in both forms once."""
    items = raw.get("reactions") or ()
    if not items:
        return ()
    users: dict[str, dict[str, None]] = {emoji: {} for emoji in raw.get("reactionEmoji") or ()}
    for item in items:
        emoji, user_id = reaction_pair(item)
        users.setdefault(emoji, {})[user_id] = None
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
