"""Every pymongo call of the project, the document mapping and the index definitions.

Two collections, one repository class each, behind one small interface
(`MessageRepository`): `channel_messages` keyed by `channelId` and `dm_messages` keyed
by `conversationId`. Documents keep the data model's camelCase names:

    _id        ObjectId (chosen here before the insert, see dedupeKey)
    channelId | conversationId   canonical UUID string
    senderId   UUID string; null only for a SYSTEM message without an acting user
    content    string (trimmed, 1-4000 characters)
    createdAt  BSON date, server-assigned, millisecond precision
    editedAt   BSON date or null
    type       "TEXT" | "SYSTEM"
    seq        int64, per conversation, strictly increasing (messaging.services)
    clientMsgId  string or null
    dedupeKey  "c:<clientMsgId>" or "s:<own _id hex>" (unique per conversation)
    deletedAt, deletedBy   null unless soft-deleted

Every argument that reaches a query is a `str`, `int` or `datetime` produced by
`messaging.validation` or the services, never client JSON. Any pymongo error that
means "the server is unreachable or too slow" becomes `StoreUnavailable("mongo")`.
"""

import contextlib
import logging
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

from messaging.documents import Conversation, ConversationKind, MessageDocument, MessageType
from messaging.mongo import get_db
from slackclone import errors

logger = logging.getLogger(__name__)

# ConnectionFailure covers AutoReconnect, NetworkTimeout, NotPrimaryError and
# ServerSelectionTimeoutError.
_UNAVAILABLE = (ConnectionFailure, ExecutionTimeout, WTimeoutError)


class DuplicateMessage(Exception):
    """An insert hit a unique index: the (conversation, seq) or the (conversation,
    dedupeKey) one. The servers do not reliably say which (FerretDB gives no key
    pattern), so the caller finds out with `find_by_dedupe_key`."""


class IndexConflict(Exception):
    """An index with the same name or keys exists with another definition."""


@contextlib.contextmanager
def _mongo_errors() -> Iterator[None]:
    try:
        yield
    except _UNAVAILABLE as exc:
        logger.warning("mongo unavailable: %s: %.200s", exc.__class__.__name__, exc)
        raise errors.StoreUnavailable("mongo") from exc


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
    """Create the missing MongoDB indexes; return "<collection>.<name>" of those created.

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
            "senderId": message.sender_id,
            "content": message.content,
            "createdAt": message.created_at,
            "editedAt": message.edited_at,
            "type": message.type.value,
            "seq": Int64(message.seq),
            "clientMsgId": message.client_msg_id,
            "dedupeKey": message.dedupe_key,
            "deletedAt": message.deleted_at,
            "deletedBy": message.deleted_by,
        }

    def from_mongo(self, raw: dict) -> MessageDocument:
        return MessageDocument(
            id=str(raw["_id"]),
            conversation=Conversation(self.kind, raw[self.conversation_field]),
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
        )

    @staticmethod
    def new_id() -> str:
        return str(ObjectId())

    def _live(self, conversation_id: str, **extra) -> dict:
        return {self.conversation_field: conversation_id, "deletedAt": None, **extra}

    def _find(self, query: dict, *, sort_direction: int, limit: int) -> list[MessageDocument]:
        with _mongo_errors():
            cursor = self.collection.find(query).sort("seq", sort_direction).limit(limit)
            return [self.from_mongo(raw) for raw in cursor]

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
        """Bulk insert (seeding and benchmarks only: it bypasses the seq counter)."""
        docs = [self.to_mongo(message) for message in messages]
        if not docs:
            return 0
        with _mongo_errors():
            try:
                return len(self.collection.insert_many(docs, ordered=True).inserted_ids)
            except BulkWriteError as exc:
                raise DuplicateMessage(str(exc.details.get("writeErrors", [])[:1])) from exc

    def edit(self, *, conversation_id: str, message_id: str, content: str, edited_at: datetime):
        """Set content and editedAt of a live message; None if it is gone."""
        with _mongo_errors():
            raw = self.collection.find_one_and_update(
                self._live(conversation_id, _id=ObjectId(message_id)),
                {"$set": {"content": content, "editedAt": edited_at}},
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

    # reads ----------------------------------------------------------------------

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

    def newest_page(self, *, conversation_id: str, limit: int) -> list[MessageDocument]:
        """Up to `limit` newest live messages, newest first."""
        return self._find(self._live(conversation_id), sort_direction=DESCENDING, limit=limit)

    def page_before(self, *, conversation_id: str, seq: int, limit: int) -> list[MessageDocument]:
        """Up to `limit` live messages with a smaller seq, newest first."""
        return self._find(self._live(conversation_id, seq={"$lt": seq}), sort_direction=DESCENDING, limit=limit)

    def page_after(self, *, conversation_id: str, seq: int, limit: int) -> list[MessageDocument]:
        """Up to `limit` live messages with a larger seq, oldest first."""
        return self._find(self._live(conversation_id, seq={"$gt": seq}), sort_direction=ASCENDING, limit=limit)

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
                    "filter": self._live(conversation_id),
                    "sort": {"seq": DESCENDING},
                    "limit": limit,
                },
                verbosity="queryPlanner",
            )

    def server_info(self) -> dict:
        with _mongo_errors():
            return self.collection.database.client.server_info()

    def delete_conversation(self, *, conversation_id: str) -> int:
        """Hard-delete every message of a conversation (benchmark clean-up)."""
        with _mongo_errors():
            return self.collection.delete_many({self.conversation_field: conversation_id}).deleted_count


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
