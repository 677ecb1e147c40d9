"""What every part of the repository shares: the error translation, the exceptions
the services catch, and the seq-block arithmetic of the stored documents."""

import contextlib
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

from pymongo.errors import (
    ConnectionFailure,
    ExecutionTimeout,
    WTimeoutError,
)

from slackclone import errors

logger = logging.getLogger(__name__)

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


def thread_block(thread_id: str, thread_seq: int) -> str:
    """The `threadBlock` of a reply with this `threadSeq`: its root and the block of
    SEQ_BLOCK consecutive places in the thread it is in. "/", not the ":" of the blocks
    stored before session 14 (numbered by the conversation's seq): a key of that form
    never matches a read of this one."""
    return f"{thread_id}/{thread_seq // SEQ_BLOCK}"


def in_channel(thread_id: str | None, also_in_channel: bool) -> bool:
    """The `inChannel` of a message: a root (no thread) or a reply also in the channel."""
    return thread_id is None or bool(also_in_channel)


def utc(value: datetime | None) -> datetime | None:
    """A tz-aware UTC datetime (pymongo hands back its own FixedOffset tzinfo)."""
    return value.astimezone(UTC) if value is not None else None


def truncate_ms(value: datetime) -> datetime:
    """BSON dates hold milliseconds: cut a datetime to what MongoDB will store."""
    return value.replace(microsecond=value.microsecond - value.microsecond % 1000)
