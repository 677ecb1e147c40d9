"""The MongoDB index definitions of both message collections and `ensure_indexes`
(`manage.py ensure_mongo_indexes`, run at every deploy)."""

from dataclasses import dataclass

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import (
    OperationFailure,
)

from messaging.mongo import get_db
from messaging.repositories.base import IndexConflict, _mongo_errors


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
    # A block of a thread's replies (session 14: thread_page), by their place in the thread.
    IndexSpec("channel_messages", (("channelId", ASCENDING), ("threadId", ASCENDING), ("threadSeq", ASCENDING))),
    IndexSpec("dm_messages", (("conversationId", ASCENDING), ("threadId", ASCENDING), ("threadSeq", ASCENDING))),
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
