"""Operations on many messages at once: admin moderation, retention, export, search
reindex, workspace backfills and `backfill_seq_blocks`."""

import math
import re
from collections.abc import Iterator
from datetime import datetime

from bson import Int64, ObjectId
from pymongo import ASCENDING, DESCENDING

from messaging.documents import MessageDocument, MessageType
from messaging.repositories.base import SEQ_BLOCK, _mongo_errors, in_channel, seq_block

DELETE_BATCH_SIZE = 5000


def _block_seq(seq) -> bool:
    """Whether a stored seq can be named by a block's seq range (a whole number: Int64,
    int32 or double; anything else is deleted by `_id`)."""
    if isinstance(seq, bool):
        return False
    return isinstance(seq, int) or (isinstance(seq, float) and math.isfinite(seq) and seq.is_integer())


class Operations:
    """Mixed into `MessageRepository`: whole-collection and batch operations."""

    def delete_conversation(self, *, conversation_id: str, created_before: datetime | None = None) -> int:
        """Hard-delete every message of a conversation (a deleted channel, an orphan,
        benchmark clean-up), or only those created before `created_before`
        (`delete_matching`); returns how many were deleted."""
        query: dict = {self.conversation_field: conversation_id}
        if created_before is not None:
            query["createdAt"] = {"$lt": created_before}
        return self.delete_matching(query)

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
        """Hard-delete every document matching `query` (built here, never client input:
        a conversation, a workspace, `createdAt` before a cutoff; never `seq` or
        `seqBlock`); returns how many were deleted.

        ONE query streams the matching documents' conversation, seq and `seqBlock`.
        Each seq block that holds one is then deleted with ONE delete: `query` plus the
        block named as a history read names it (the conversation, `seqBlock` and the seq
        range; MongoDB serves it from the (conversation, seq) index, FerretDB's
        PostgreSQL handler from its GIN index on seqBlock). So every delete stays short
        whatever the total and costs what its block holds. Before session 12 the
        matching `_id`s were deleted `batch_size` at a time with `_id: {$in: [...]}`,
        which FerretDB 1.24 filters in Go after decoding every document of the
        collection: deleting a 10,000-message channel among 40,000 other messages
        outlasted the socket timeout (docs/performance.md). Documents stored without
        `seqBlock` (before `backfill_seq_blocks`), or without a whole-number seq or a
        string conversation, still go that way, `batch_size` at a time (FerretDB's
        SQLite backend refuses a delete of more than ~32k documents).
        `progress(deleted so far)` is called about every `batch_size` deletions and at
        the end."""
        batch_size = batch_size or DELETE_BATCH_SIZE
        conversation = self.conversation_field
        if {"seq", "seqBlock"} & set(query):
            raise ValueError(f"delete_matching names the seq blocks itself: {sorted(query)}")
        deleted = reported = 0
        # (conversation, seqBlock, first seq of the range): what one block delete names,
        # so a document whose stored seqBlock is not its seq's (or another
        # conversation's) still gets a delete that matches it.
        blocks_done: set[tuple] = set()
        unblocked: list[ObjectId] = []

        def delete_unblocked() -> int:
            count = self.collection.delete_many({"_id": {"$in": unblocked}}).deleted_count
            unblocked.clear()
            return count

        with _mongo_errors():
            projection = {"_id": 1, conversation: 1, "seq": 1, "seqBlock": 1}
            cursor = self.collection.find(query, projection=projection).batch_size(batch_size)
            try:
                for raw in cursor:
                    block, seq, owner = raw.get("seqBlock"), raw.get("seq"), raw.get(conversation)
                    low = int(seq) // SEQ_BLOCK * SEQ_BLOCK if _block_seq(seq) else None
                    if not isinstance(block, str) or not isinstance(owner, str) or low is None:
                        unblocked.append(raw["_id"])
                        if len(unblocked) == batch_size:
                            deleted += delete_unblocked()
                    elif (owner, block, low) not in blocks_done:
                        blocks_done.add((owner, block, low))
                        in_block = {
                            conversation: owner,
                            "seqBlock": block,
                            "seq": {"$gte": Int64(low), "$lte": Int64(low + SEQ_BLOCK - 1)},
                        }
                        deleted += self.collection.delete_many({**query, **in_block}).deleted_count
                    if progress is not None and deleted - reported >= batch_size:
                        reported = deleted
                        progress(deleted)
                if unblocked:
                    deleted += delete_unblocked()
            finally:
                cursor.close()
        if progress is not None and deleted != reported:
            progress(deleted)
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
        """Set `seqBlock` (issue 13) and `inChannel` (issue 17, session 4) on every
        document stored before they existed (a reply's place in its thread: see
        `threads_number_backfill`); the number of documents
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
