"""Writes of messages: send, SYSTEM post, edit, delete, import, retention.

One module per action, as Zulip's `zerver/actions/`: `send` (message_send,
system_message_post), `store` (the seq counter, its row lock and one send's critical
section), `group_commit` (sends queued behind a held lock go in together), `edit`,
`delete` (author, staff, moderation, a deleted file), `maintenance` (counts,
deleted conversations, orphans, retention, backfill) and `bulk_import`. Callers import
from `messaging.services`; the names below are its API.

How `seq` is assigned
=====================

Every message has a per-conversation integer `seq`. The contract promises that seq
strictly increases in conversation order, that `created_at` never decreases with it,
that a gap only stands for a message never stored (or deleted), and that a client
paging forward with `after_cursor` sees every message exactly once even while others
send. `message_send` keeps those promises with one critical section per
conversation, serialised across ALL server processes by a PostgreSQL row lock on the
conversation's `message_sequences` row:

1. Inside `transaction.atomic()`, ONE SQL statement upserts and locks the row:
   `INSERT ... ON CONFLICT (conversation_id) DO UPDATE SET last_seq = last_seq + 1,
   last_created_at = GREATEST(last_created_at, EXCLUDED.last_created_at) RETURNING
   last_seq, last_created_at`, where the value offered is this process's `now`
   truncated to milliseconds (what MongoDB stores). The row lock is held until
   commit, so seq strictly increases and createdAt never goes back with seq, even
   when the clocks of two server processes disagree. In a channel, the channel is then
   checked again under the lock (409 `channel_archived`, rolling the increment back):
   `channel_archive` takes the same lock before it commits (`conversation_writes_lock`),
   so a send either completes before the archive or is refused, never lands after it.
2. Still holding the lock, the document is inserted into MongoDB. Because insert N is
   acknowledged before N+1 can be assigned, a reader paging forward by seq can never
   see N+1 and later discover N: that is what makes the `after_cursor` promise hold
   with concurrent senders in several processes.
3. On a duplicate-key error: if a message with the same dedupeKey exists, this was an
   idempotent retry of the same client_msg_id (the original was stored earlier, or
   just before by a concurrent duplicate), so the counter increment is rolled back and
   the original is returned (created=False).
   Otherwise seq collided because the counter is behind MongoDB (e.g. PostgreSQL was
   restored from a backup, or a commit was lost after an insert): the counter is
   raised to MongoDB's max seq (and createdAt) for that conversation and the insert
   retried once.
4. If MongoDB fails (StoreUnavailable), the counter increment is still committed and
   the error re-raised (503): the seq is never reused, and its gap stands for a
   message that was never stored, which the contract allows. Nothing is broadcast.
5. After MongoDB acknowledged the insert, and still inside the critical section,
   `realtime.broadcast.message_created` is called. Broadcasting under the lock is what
   gives every socket one conversation's `message.created` events in seq order across
   processes; the broadcast functions never raise and have a bounded timeout, so the
   lock is not held hostage. Idempotent retries do not broadcast again.

Cost: per conversation, sends are serialised at roughly one PostgreSQL upsert, one
MongoDB insert, one broadcast and one commit; different conversations run in parallel
(their rows do not contend). Idempotency costs nothing on the common path: there is no
lookup before the insert, the unique (conversation, dedupeKey) index is the check. A
retry of a stored client_msg_id takes the lock, fails its insert and is answered by
step 3 (one lookup, the increment rolled back), so it consumes no seq.

Known edge: an insert whose acknowledgement is lost (a timeout after MongoDB stored
it) answers 503, yet the message exists, with the seq that was committed for it; a
client that retries with the same client_msg_id gets it back (200). Clients should
always send a client_msg_id.

Group commit
============

Inside one process, sends into one conversation do not each wait for the lock:
`message_send` queues its send on the conversation's in-process queue. The first send
finds no batch running and leads: in ONE transaction it waits for the lock, THEN takes
every send queued by then (up to SEND_BATCH_MAX: with several processes, the sends that
queued while another process's batch held the lock go in together), reserves their seq
range (one upsert `last_seq + n`) and, in the same round trip, checks the channel and
its senders once (each statement of that round trip reads a snapshot taken after the
lock was granted), stores them with ONE ordered `insert_many`, writes their search,
unread and sidebar rows in ONE round trip (`slackclone.sql.execute_together`), and
hands them to the channel layer in ONE publish (`broadcast.messages_created`, still
under the lock, in seq order), then commits and answers each sender with its own
message. Sends arriving
meanwhile queue behind it; the leader hands the lead to the oldest of them, which
runs the next batch. Only a leader holds a pooled PostgreSQL connection while it waits
for the lock: a queued send gives its connection back first, so a hot conversation
takes at most one connection per process and never starves the other conversations
(before, every send waiting for the lock held one, the pool ran dry and every request
of the process answered 503 after DB_CONNECT_TIMEOUT). A process sheds (429
`conversation_busy`, nothing stored) a send that finds SEND_QUEUE_MAX sends queued, or
that waited SEND_QUEUE_WAIT_SECONDS without being taken into a batch.

The promises above hold per batch: seqs are consecutive in queue order and createdAt is
the batch's (never below the counter's); two sends of one client_msg_id in one batch
store one message (the later ones get it, created=False); a document refused by the
unique indexes is, as in step 3, either a retry of a stored client_msg_id (answered
with the original; its seq is given to the next document, so none is consumed) or a
counter behind MongoDB (resynced once). MongoDB and FerretDB both stop an ordered
insert_many at the first refused document and report its index, so the documents
before it are stored and none after it. The counter is then set to the last seq
stored. A send made inside a caller's transaction (`system_message_post`) is stored
alone, as before, since its lock must last until that transaction commits.

SYSTEM messages (`system_message_post`, e.g. "alice joined") take the same path. It
is called inside the channel service's own transaction, where the atomic block below
becomes a savepoint: the row lock is then held until that outer transaction commits,
and a rollback there also rolls back the counter (the next send then resyncs, step 3).
"""

from messaging.services.bulk_import import MessageDraft, messages_import
from messaging.services.delete import (
    AUDIT_CONTENT_EXCERPT,
    MODERATION_MAX_MESSAGES,
    message_delete,
    message_files_remove,
    message_moderate_delete,
)
from messaging.services.edit import message_edit
from messaging.services.maintenance import (
    conversation_message_count,
    conversation_messages_delete,
    conversation_sequence_delete,
    messages_purge,
    messages_workspace_backfill,
    orphan_messages_delete,
)
from messaging.services.send import message_send, system_message_post
from messaging.services.store import (
    SendResult,
    _lock_if_stored,  # messaging.threads: a write on a stored message's thread
    _now_ms,  # messaging.pins
    _send,  # messaging.pins: the pin's SYSTEM message
    conversation_writes_lock,
    message_write_locked,
)

__all__ = [
    "AUDIT_CONTENT_EXCERPT",
    "MODERATION_MAX_MESSAGES",
    "MessageDraft",
    "SendResult",
    "_lock_if_stored",
    "_now_ms",
    "_send",
    "conversation_message_count",
    "conversation_messages_delete",
    "conversation_sequence_delete",
    "conversation_writes_lock",
    "message_delete",
    "message_edit",
    "message_files_remove",
    "message_moderate_delete",
    "message_send",
    "message_write_locked",
    "messages_import",
    "messages_purge",
    "messages_workspace_backfill",
    "orphan_messages_delete",
    "system_message_post",
]
