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
    threadSeq  on a reply: its place in its thread, 1, 2, ... in seq order (gaps where a
               send failed), given under the conversation's lock from its root's
               lastThreadSeq (repositories_places.thread_seqs_reserve; session 14)
    threadBlock  on a reply: "<threadId>/<threadSeq // SEQ_BLOCK>", the block of its
               thread it is in: a thread page's block read is ONE equality FerretDB's
               PostgreSQL handler answers from its GIN index (`thread_page`). Replies
               stored before session 14 carry an older "<threadId>:<seq // SEQ_BLOCK>",
               no longer read; `backfill_seq_blocks` numbers them
    lastThreadSeq  on a root: the last threadSeq given (absent: a thread not numbered
               yet, read by keyset)
    replyCount, replyUsers, lastReplyAt   on a root: its visible replies (absent: none)
    reactions  ["<emoji> <userId>"], one string per reaction, in order of reacting
               (`reaction_key`; session 5: documents stored before hold `{e, u}` pairs,
               read too, rewritten by `backfill_seq_blocks`);
               reactionEmoji  [emoji], the distinct emoji in order of first use
    mentions   [userId]; mentionsChannel  bool
    pinnedAt, pinnedBy   null unless pinned
    (docs/threads-reactions.md says why these are nested in the message document)

Every argument that reaches a query is a `str`, `int` or `datetime` produced by
`messaging.validation` or the services, never client JSON. Any pymongo error that
means "the server is unreachable or too slow" becomes `StoreUnavailable("mongo")`.

The package, split by action: `base` (errors, seq blocks), `indexes`, `core`
(`MessageRepository`: mapping, single-message writes and reads), `history` (pages and
seq windows) and `operations` (moderation, retention, export, backfills). Import from
`messaging.repositories`; the threads, reactions, mentions and pins calls are in
`messaging.repositories_ext`.
"""

from messaging.repositories.base import (
    SEQ_BLOCK,
    WINDOW_MAX_BLOCKS,
    DuplicateMessage,
    IndexConflict,
    _mongo_errors,
    in_channel,
    seq_block,
    thread_block,
    truncate_ms,
    utc,
)
from messaging.repositories.core import (
    ChannelMessageRepository,
    DmMessageRepository,
    MessageRepository,
    reaction_key,
    reaction_pair,
    reactions_from_mongo,
    repository_for,
)
from messaging.repositories.indexes import INDEXES, IndexSpec, ensure_indexes
from messaging.repositories.operations import DELETE_BATCH_SIZE

__all__ = [
    "DELETE_BATCH_SIZE",
    "INDEXES",
    "SEQ_BLOCK",
    "WINDOW_MAX_BLOCKS",
    "ChannelMessageRepository",
    "DmMessageRepository",
    "DuplicateMessage",
    "IndexConflict",
    "IndexSpec",
    "MessageRepository",
    "_mongo_errors",
    "ensure_indexes",
    "in_channel",
    "reaction_key",
    "reaction_pair",
    "reactions_from_mongo",
    "repository_for",
    "seq_block",
    "thread_block",
    "truncate_ms",
    "utc",
]
