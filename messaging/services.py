"""Writes of messages: send, SYSTEM post, edit, delete.

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
finds no batch running and leads: in ONE transaction it takes the lock and a seq range
for every send queued by then (up to SEND_BATCH_MAX; one upsert `last_seq + n`), checks
the archive once, stores them with ONE ordered `insert_many`, and hands them to the
channel layer in ONE publish (`broadcast.messages_created`, still under the lock, in
seq order), then commits and answers each sender with its own message. Sends arriving
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

import contextlib
import copy
import logging
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from channels_app.selectors import channel_archived_error, channel_check_sender, channel_get, channel_is_archived
from files.services import file_shares_record, files_lock_for_send
from files.validation import clean_file_ids
from messaging import selectors, validation
from messaging.documents import Conversation, ConversationKind, MessageDocument, MessageType, dedupe_key_for
from messaging.latest import latest_deleted, latest_edited, latest_set
from messaging.models import MessageSequence
from messaging.repositories import DuplicateMessage, repository_for, truncate_ms
from messaging.serializers import message_to_api
from moderation.models import AuditLogEntry
from moderation.services import AuditRecord, audit_entries_create
from readstate import counting as unread_index
from realtime import broadcast
from search import services as search_services
from slackclone import errors

logger = logging.getLogger(__name__)

_NEXT_SEQ_SQL = """
INSERT INTO message_sequences (conversation_id, kind, last_seq, last_created_at)
VALUES (%s, %s, 1, %s)
ON CONFLICT (conversation_id) DO UPDATE SET
    last_seq = message_sequences.last_seq + 1,
    last_created_at = GREATEST(message_sequences.last_created_at, EXCLUDED.last_created_at)
RETURNING last_seq, last_created_at
"""

# Lock the row without taking a seq (creating it if this conversation has none yet, so
# that a concurrent first send, whose row is not committed yet, is waited for too).
_LOCK_SQL = """
INSERT INTO message_sequences (conversation_id, kind, last_seq, last_created_at)
VALUES (%s, %s, 0, %s)
ON CONFLICT (conversation_id) DO UPDATE SET last_seq = message_sequences.last_seq
"""

_SET_SEQ_SQL = """
UPDATE message_sequences SET last_seq = %s, last_created_at = GREATEST(last_created_at, %s)
WHERE conversation_id = %s
"""

_RESYNC_SQL = """
UPDATE message_sequences
SET last_seq = GREATEST(last_seq, %s), last_created_at = GREATEST(last_created_at, %s)
WHERE conversation_id = %s
"""


@dataclass(frozen=True, slots=True)
class SendResult:
    message: MessageDocument
    created: bool  # False: an earlier message with the same client_msg_id was returned


def _now_ms() -> datetime:
    return truncate_ms(timezone.now().astimezone(UTC))


def _next_seq(conversation: Conversation) -> tuple[int, datetime]:
    """Step 1: take the next seq and createdAt, locking the conversation's row."""
    with connection.cursor() as cursor:
        cursor.execute(_NEXT_SEQ_SQL, [UUID(conversation.id), conversation.kind.value, _now_ms()])
        seq, created_at = cursor.fetchone()
    return seq, truncate_ms(created_at.astimezone(UTC))


def conversation_writes_lock(conversation: Conversation) -> None:
    """Inside the caller's transaction: wait until the sends (and edits, deletes) in
    flight in `conversation` have committed, and hold new ones off until that
    transaction ends. `channel_archive` calls it before marking a channel archived, so
    no send or edit is stored after that commits (a waiting one then sees the archive,
    step 1); `channel_delete` before deleting one; `message_edit` and `message_delete`
    to check their rules and write as one step (issue 12)."""
    if not connection.in_atomic_block:
        raise RuntimeError("conversation_writes_lock() needs the caller's transaction.")
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_SQL, [UUID(conversation.id), conversation.kind.value, _now_ms()])


_LOCK_EXISTING_SQL = "SELECT 1 FROM message_sequences WHERE conversation_id = %s FOR UPDATE"


def _lock_if_stored(conversation: Conversation) -> None:
    """`conversation_writes_lock` for a write on a message that is already stored (its
    conversation's row then exists, unless the conversation was deleted: no row is
    created for an orphan here)."""
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_EXISTING_SQL, [UUID(conversation.id)])


@contextlib.contextmanager
def message_write_locked(*, user, workspace, message_id: object, channel_id=None, conversation_id=None):
    """A write on one live message by a member (reactions, pins; issue 17): checks the
    access rule (403/404, 409 `channel_archived`), then, in a transaction holding the
    conversation's lock, checks it again and reads the message (404 if it is deleted or
    unknown). Yields (repository, message); the write and its broadcast happen inside."""
    conversation = selectors.conversation_get_for_member(
        user=user, workspace=workspace, channel_id=channel_id, conversation_id=conversation_id, for_write=True
    )
    message_id = validation.clean_message_id(message_id)
    repo = repository_for(conversation.kind)
    with transaction.atomic():
        _lock_if_stored(conversation)
        # Again under the lock: membership or the archive may have changed meanwhile.
        selectors.conversation_get_for_member(
            user=user, workspace=workspace, channel_id=channel_id, conversation_id=conversation_id, for_write=True
        )
        message = repo.get(conversation_id=conversation.id, message_id=message_id)
        if message is None:
            raise errors.NotFound("Message not found.")
        yield repo, message


def _refuse_if_archived(conversation: Conversation, *, sender_id: str | None = None) -> None:
    """Step 1, in a channel: under the lock, the archive cannot be racing us any more;
    nor can the channel's deletion (`channel_delete` deletes the locked row): a channel
    gone meanwhile is 404, and the rollback leaves no counter row and no orphan message.
    With `sender_id` (a TEXT send, issue 16), nor can the sender's removal or leave:
    a sender who is no longer a member is refused here (403, 404 in a private
    channel), so nothing is stored after a removal committed."""
    if conversation.kind is not ConversationKind.CHANNEL:
        return
    if sender_id is not None:
        channel_check_sender(channel_id=conversation.id, user_id=sender_id)
    elif channel_is_archived(channel_id=conversation.id):
        raise channel_archived_error()


def _resync_seq(conversation: Conversation, *, max_seq: int, max_created_at: datetime | None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(_RESYNC_SQL, [max_seq, max_created_at, UUID(conversation.id)])


def _broadcast_created(message: MessageDocument) -> None:
    try:
        broadcast.message_created(message=message_to_api(message))
    except Exception:  # broadcast never raises by contract; a stored message must not fail on it
        logger.exception("message_created broadcast failed for %s", message.id)


def _insert_locked(
    *,
    conversation: Conversation,
    sender_id: str | None,
    content: str,
    message_type: MessageType,
    client_msg_id: str | None,
    files: tuple[dict, ...] = (),
    extra: dict | None = None,
) -> SendResult:
    """Steps 1-3 and 5; runs inside the atomic block that holds the row lock. `files`:
    what the message carries (files.services.files_lock_for_send, rows locked). `extra`:
    more MessageDocument fields (thread and mentions, messaging.threads.send_fields)."""
    repo = repository_for(conversation.kind)
    message_id = repo.new_id()
    dedupe_key = dedupe_key_for(message_id=message_id, client_msg_id=client_msg_id)
    for attempt in range(2):
        seq, created_at = _next_seq(conversation)
        _refuse_if_archived(conversation, sender_id=sender_id if message_type is MessageType.TEXT else None)
        message = MessageDocument(
            id=message_id,
            conversation=conversation,
            seq=seq,
            sender_id=sender_id,
            content=content,
            type=message_type,
            created_at=created_at,
            edited_at=None,
            client_msg_id=client_msg_id,
            dedupe_key=dedupe_key,
            files=files,
            **(extra or {}),
        )
        try:
            repo.insert(message)
        except DuplicateMessage:
            existing = repo.find_by_dedupe_key(conversation_id=conversation.id, dedupe_key=dedupe_key)
            if existing is not None:
                # A concurrent duplicate won: do not consume a seq for nothing.
                transaction.set_rollback(True)
                return SendResult(message=existing, created=False)
            if attempt:
                raise
            max_seq, max_created_at = repo.high_water_mark(conversation_id=conversation.id)
            logger.warning(
                "seq counter of %s %s was behind MongoDB (gave %d, max stored %d): resynced",
                conversation.kind,
                conversation.id,
                seq,
                max_seq,
            )
            _resync_seq(conversation, max_seq=max_seq, max_created_at=max_created_at)
            continue
        if files:
            file_shares_record(message=message)
        search_services.messages_indexed([message])  # in the seq's transaction: searchable once committed
        unread_index.entries_add([message])  # counted from the same commit (issue 18)
        latest_set(conversation, [message])  # the sidebar's row, in the send's transaction (issue 16)
        _broadcast_created(message)
        return SendResult(message=message, created=True)
    raise AssertionError("unreachable")


def _send(*, attach: dict | None = None, **fields) -> SendResult:
    """Steps 1-5 (the fields are `_insert_locked`'s) in one transaction. If MongoDB
    fails, the transaction still commits (step 4) and then the failure is raised.
    `attach` (user, workspace, file_ids): the files are locked and checked first, in
    the same transaction (files.services.files_lock_for_send)."""
    with transaction.atomic():
        if attach:
            fields["files"] = files_lock_for_send(**attach)
        try:
            return _insert_locked(**fields)
        except errors.StoreUnavailable as exc:
            failure = exc  # step 4: commit the increment, then report the failure
    raise failure


# --- Group commit ------------------------------------------------------------------
# One process, one conversation: the first send finds no batch running and leads; the
# sends that arrive while it waits for the row lock and stores queue behind it and go
# into the NEXT batch together. The leader of a batch answers its own request only;
# before returning it hands the lead to the oldest send still queued, which runs the
# next batch (so every request does at most one batch of work and waits for at most one
# batch ahead of it). Queued sends hold no PostgreSQL connection: a hot conversation
# takes at most one pooled connection per process while it waits for its lock.


@dataclass(eq=False, slots=True)
class _QueuedSend:
    fields: dict  # sender_id, content, message_type, client_msg_id, extra (issue 17)
    message_id: str = ""
    dedupe_key: str = ""
    result: SendResult | None = None
    error: BaseException | None = None
    lead: bool = False  # this send's thread runs the next batch
    done: threading.Event = field(default_factory=threading.Event)


@dataclass(eq=False, slots=True)
class _SendQueue:
    waiting: deque = field(default_factory=deque)
    running: bool = False  # a batch is being stored (or its leader is about to)


_send_queues: dict[tuple[str, str], _SendQueue] = {}
_send_queues_lock = threading.Lock()


def _send_grouped(*, conversation: Conversation, **fields) -> SendResult:
    """`_send`, grouped with the sends queued in this process for the same
    conversation (see "Group commit" in the module docstring). Raises errors.Busy (429,
    nothing stored) when SEND_QUEUE_MAX sends already wait, or when this one waited
    SEND_QUEUE_WAIT_SECONDS without being taken into a batch."""
    if connection.in_atomic_block:
        # Inside a caller's transaction the lock must be held until that commits: alone.
        return _send(conversation=conversation, **fields)
    key = (conversation.kind.value, conversation.id)
    item = _QueuedSend(fields=fields)
    with _send_queues_lock:
        queue = _send_queues.get(key)
        if queue is None:
            queue = _send_queues[key] = _SendQueue()
        if len(queue.waiting) >= settings.SEND_QUEUE_MAX:
            raise _busy()
        queue.waiting.append(item)
        leads = item.lead = not queue.running
        queue.running = True
    if not leads:
        # Waiting for a turn: give the pooled connection back (others need it).
        connection.close()
        _wait_for_turn(queue, item)
        if not item.lead:
            return _answer(item)
    _lead_batch(conversation, key, queue)
    return _answer(item)


def _busy() -> errors.Busy:
    return errors.Busy(
        "Too many messages are queued for this conversation; try again shortly.", code="conversation_busy"
    )


def _wait_for_turn(queue: _SendQueue, item: _QueuedSend) -> None:
    if item.done.wait(settings.SEND_QUEUE_WAIT_SECONDS):
        return
    with _send_queues_lock:
        if not item.lead and item in queue.waiting:
            queue.waiting.remove(item)  # never taken: shed, nothing stored
            raise _busy()
    # Taken into a batch meanwhile (or just made leader): its outcome is bounded by the
    # stores' own timeouts.
    item.done.wait()


def _answer(item: _QueuedSend) -> SendResult:
    if item.error is not None:
        try:  # one exception object per request: the batch's senders raise it in their own threads
            error = copy.copy(item.error)
        except Exception:
            error = item.error
        raise error
    assert item.result is not None
    return item.result


def _lead_batch(conversation: Conversation, key: tuple[str, str], queue: _SendQueue) -> None:
    """Store the oldest queued sends (this thread's among them) as one batch, answer
    them, and hand the lead to the next queued send, if any."""
    with _send_queues_lock:
        batch = [queue.waiting.popleft() for _ in range(min(len(queue.waiting), settings.SEND_BATCH_MAX))]
    try:
        _send_batch(conversation, batch)
    finally:
        with _send_queues_lock:
            if queue.waiting:
                successor = queue.waiting[0]
                successor.lead = True
                successor.done.set()
            else:
                queue.running = False
                _send_queues.pop(key, None)
        for item in batch:
            item.done.set()


def _send_batch(conversation: Conversation, batch: list[_QueuedSend]) -> None:
    """Steps 1-5 once for the whole batch, in one transaction: one seq range, one
    insert_many, one publish. Every send of the batch gets its result or the error."""
    failure: BaseException | None = None
    try:
        with transaction.atomic():
            failure = _insert_batch_locked(conversation, batch)
    except Exception as exc:  # rolled back: every send of the batch fails with it
        failure = exc
    for item in batch:
        if item.result is None and item.error is None:
            item.error = failure if failure is not None else AssertionError("send left unanswered")


def _insert_batch_locked(conversation: Conversation, batch: list[_QueuedSend]) -> errors.StoreUnavailable | None:
    """Inside the batch's transaction. Duplicates of one client_msg_id inside the batch
    are stored once (the first; the others get it with created=False). A document the
    unique indexes refuse is, as in step 3, either a retry of a stored client_msg_id
    (answered with the original; its seq goes to the next document, so no seq is
    consumed) or a counter behind MongoDB (resynced once). At the end the counter is set
    to the last seq stored. Returns the StoreUnavailable to answer the sends that got
    no result (step 4: what was reserved stays consumed), else None."""
    repo = repository_for(conversation.kind)
    firsts: dict[str, _QueuedSend] = {}
    repeats: list[tuple[_QueuedSend, _QueuedSend]] = []
    for item in batch:
        item.message_id = repo.new_id()
        item.dedupe_key = dedupe_key_for(message_id=item.message_id, client_msg_id=item.fields["client_msg_id"])
        first = firsts.setdefault(item.dedupe_key, item)
        if first is not item:
            repeats.append((item, first))
    pending = list(firsts.values())
    first_seq, created_at = _reserve_seq_range(conversation, count=len(pending), earliest=_now_ms())
    reserved_last = first_seq + len(pending) - 1
    _refuse_if_archived(conversation)
    pending = _refuse_removed_senders(conversation, pending)  # issue 16
    counter, next_seq, resynced = first_seq - 1, first_seq, False
    stored: list[MessageDocument] = []
    failure: errors.StoreUnavailable | None = None
    try:
        while pending:
            messages = [
                _batch_message(conversation, item, seq=next_seq + offset, created_at=created_at)
                for offset, item in enumerate(pending)
            ]
            try:
                if len(messages) == 1:  # the common case of a quiet conversation
                    repo.insert(messages[0])
                else:
                    repo.insert_many(messages)
                refused = len(messages)
            except DuplicateMessage as exc:
                refused = exc.index or 0
            for item, message in zip(pending[:refused], messages[:refused], strict=True):
                item.result = SendResult(message=message, created=True)
                stored.append(message)
                counter = message.seq
            if refused == len(messages):
                break
            item, message = pending[refused], messages[refused]
            existing = repo.find_by_dedupe_key(conversation_id=conversation.id, dedupe_key=item.dedupe_key)
            if existing is not None:  # a retry of a stored client_msg_id: no seq consumed
                item.result = SendResult(message=existing, created=False)
                pending, next_seq = pending[refused + 1 :], message.seq
                continue
            if resynced:
                raise DuplicateMessage(f"seq {message.seq} taken after a resync")
            max_seq, max_created_at = repo.high_water_mark(conversation_id=conversation.id)
            logger.warning(
                "seq counter of %s %s was behind MongoDB (gave %d, max stored %d): resynced",
                conversation.kind,
                conversation.id,
                message.seq,
                max_seq,
            )
            resynced = True
            counter = max(counter, max_seq)
            pending, next_seq = pending[refused:], max(message.seq, max_seq + 1)
            created_at = max(created_at, max_created_at or created_at)
    except errors.StoreUnavailable as exc:
        failure, counter = exc, max(counter, reserved_last, next_seq + len(pending) - 1)
    if counter != reserved_last:
        with connection.cursor() as cursor:
            cursor.execute(_SET_SEQ_SQL, [counter, created_at, UUID(conversation.id)])
    for item, first in repeats:
        if first.result is not None:
            item.result = SendResult(message=first.result.message, created=False)
        elif first.error is not None:
            item.error = first.error
    search_services.messages_indexed(stored)  # the batch, in the seq range's transaction
    unread_index.entries_add(stored)
    latest_set(conversation, stored)  # the sidebar's row, once per batch, in its transaction (issue 16)
    _broadcast_created_many(stored)
    return failure


def _refuse_removed_senders(conversation: Conversation, pending: list[_QueuedSend]) -> list[_QueuedSend]:
    """Under the lock, in a channel: the sends whose sender is no longer a member (a
    removal or leave committed while they waited) get that error (403, 404 in a private
    channel) and are not stored; the others are returned (issue 16). The seqs reserved
    for the refused ones are given back by the counter update at the end of the batch."""
    if conversation.kind is not ConversationKind.CHANNEL:
        return pending
    verdicts: dict[str, errors.DomainError | None] = {}
    kept = []
    for item in pending:
        sender_id = item.fields.get("sender_id")
        if item.fields.get("message_type") is not MessageType.TEXT or sender_id is None:
            kept.append(item)
            continue
        if sender_id not in verdicts:
            try:
                channel_check_sender(channel_id=conversation.id, user_id=sender_id)
                verdicts[sender_id] = None
            except errors.DomainError as exc:
                verdicts[sender_id] = exc
        if verdicts[sender_id] is None:
            kept.append(item)
        else:
            item.error = verdicts[sender_id]
    return kept


def _batch_message(conversation: Conversation, item: _QueuedSend, *, seq: int, created_at: datetime) -> MessageDocument:
    return MessageDocument(
        id=item.message_id,
        conversation=conversation,
        seq=seq,
        sender_id=item.fields["sender_id"],
        content=item.fields["content"],
        type=item.fields["message_type"],
        created_at=created_at,
        edited_at=None,
        client_msg_id=item.fields["client_msg_id"],
        dedupe_key=item.dedupe_key,
        **(item.fields.get("extra") or {}),  # issue 17: thread and mentions
    )


def _broadcast_created_many(messages: list[MessageDocument]) -> None:
    """Step 5 for a batch: one publish of every stored message, in seq order."""
    if len(messages) == 1:
        _broadcast_created(messages[0])
    elif messages:
        try:
            broadcast.messages_created(messages=[message_to_api(message) for message in messages])
        except Exception:  # as _broadcast_created
            logger.exception("message_created broadcast failed for %d messages", len(messages))


def _check_retry_sender(result: SendResult, *, sender_id: str) -> SendResult:
    if not result.created and result.message.sender_id != sender_id:
        raise errors.Conflict(
            "This client_msg_id was already used by another sender in this conversation.",
            code="client_msg_id_conflict",
        )
    return result


def message_send(
    *,
    sender,
    workspace=None,
    channel_id: UUID | str | None = None,
    conversation_id: UUID | str | None = None,
    content: object = None,
    client_msg_id: object = None,
    file_ids: object = None,
    thread_id: object = None,
    also_in_channel: object = None,
) -> SendResult:
    """Post a TEXT message as `sender` in a channel (members only: 404 unknown, 403
    not a member, 409 `channel_archived`) or a DM (its two users only, else 404).

    `file_ids` (issue 20): 1-10 of the sender's own uploads of this workspace (400
    `invalid_file_ids` otherwise); `content` may then be empty. The message stores
    what clients render of each file, and a share row per file is written in the
    send's transaction (files.services.file_shares_record).

    Issue 17: `thread_id` makes it a reply (400 `invalid_thread` unless the root is a
    live TEXT message of this conversation that is no reply itself), `also_in_channel`
    shows the reply in the channel view too; mentions are resolved against the
    conversation's workspace (messaging.mentions). A reply takes the next seq like any
    message (the same send path); once it is stored, its root's counters are updated
    and `thread.updated` follows its `message.created` (messaging.threads).

    `content` and `client_msg_id` may be raw client values: they are validated here
    (400). A retry with a client_msg_id already stored in this conversation returns
    the original message with created=False and stores nothing; if that original has
    another sender, 409 `client_msg_id_conflict`.
    """
    conversation = selectors.conversation_get_for_member(
        user=sender, workspace=workspace, channel_id=channel_id, conversation_id=conversation_id, for_write=True
    )
    file_ids = clean_file_ids(file_ids)
    content = validation.clean_send_content(content, has_files=bool(file_ids))
    client_msg_id = validation.clean_client_msg_id(client_msg_id)
    sender_id = str(sender.pk)
    from messaging import threads  # it builds on this module's lock helpers

    fields = {
        "conversation": conversation,
        "sender_id": sender_id,
        "content": content,
        "message_type": MessageType.TEXT,
        "client_msg_id": client_msg_id,
        "extra": threads.send_fields(
            conversation=conversation, content=content, thread_id=thread_id, also_in_channel=also_in_channel
        ),
    }
    if file_ids:  # alone, not grouped: its files are locked and shared in its own transaction
        result = _send(**fields, attach={"user": sender, "workspace": workspace, "file_ids": file_ids})
    else:
        result = _send_grouped(**fields)
    result = _check_retry_sender(result, sender_id=sender_id)
    if result.created:
        threads.after_send(message=result.message)
        from readstate import notifications  # issue 18

        notifications.after_send(message=result.message)
    return result


def system_message_post(
    *, channel_id: UUID | str, content: str, actor_id: UUID | str | None = None, workspace_id: UUID | str | None = None
) -> MessageDocument:
    """Store a SYSTEM message in a channel (e.g. "alice joined") and broadcast it.

    `senderId` is the acting user's id when given (who joined, who left), else null.
    No membership check: the caller is a service that already decided. `workspace_id`
    is the channel's (looked up when not given).
    """
    cid = validation.clean_uuid(channel_id, field="channel_id", not_found="Channel not found.")
    if workspace_id is None:
        workspace_id = channel_get(workspace=None, channel_id=cid).workspace_id
    conversation = Conversation(ConversationKind.CHANNEL, cid, str(workspace_id))
    sender_id = str(UUID(str(actor_id))) if actor_id is not None else None
    result = _send(
        conversation=conversation,
        sender_id=sender_id,
        content=validation.clean_content(content),
        message_type=MessageType.SYSTEM,
        client_msg_id=None,
    )
    return result.message


def _message_get(*, message_id: object, conversation: Conversation) -> MessageDocument:
    message_id = validation.clean_message_id(message_id)
    message = repository_for(conversation.kind).get(conversation_id=conversation.id, message_id=message_id)
    if message is None:
        raise errors.NotFound("Message not found.")
    return message


def _system_immutable() -> errors.PermissionDenied:
    return errors.PermissionDenied("SYSTEM messages cannot be changed.", code="system_message_immutable")


def message_edit(
    *,
    user,
    workspace=None,
    message_id: str,
    content: object,
    channel_id: UUID | str | None = None,
    conversation_id: UUID | str | None = None,
) -> MessageDocument:
    """Replace a message's content and set `edited_at`: its author only (403 `not_author`),
    who must be a member (403 `not_a_member`); SYSTEM messages never (403
    `system_message_immutable`); deleted or unknown -> 404; in an archived channel 409
    `channel_archived`.

    Atomic with its preconditions (issue 12): the checks are made once to fail fast,
    then again under the conversation's lock (`conversation_writes_lock`), which every
    other write of the conversation's messages and memberships also takes (sends,
    deletes, moderation, join, leave, archive, channel delete). The MongoDB update is
    conditional on the message not being deleted (its matched document decides: 404
    otherwise), and `message.updated` is broadcast before the lock is released, so no
    socket hears it after the message's `message.deleted`, and edits arrive in order."""
    conversation = selectors.conversation_get_for_member(
        user=user, workspace=workspace, channel_id=channel_id, conversation_id=conversation_id, for_write=True
    )
    message = _message_get(message_id=message_id, conversation=conversation)
    content = validation.clean_content(content)
    if message.type is MessageType.SYSTEM:
        raise _system_immutable()
    if message.sender_id != str(user.pk):
        raise errors.PermissionDenied("Only the author can edit a message.", code="not_author")
    with transaction.atomic():
        # As a send does: under the conversation's lock, so no edit lands after an
        # archive, a delete, or the author's leave; the rules are checked again there.
        conversation_writes_lock(conversation)
        selectors.conversation_get_for_member(
            user=user, workspace=workspace, channel_id=channel_id, conversation_id=conversation_id, for_write=True
        )
        # Never before createdAt, even if this process's clock is behind the sender's.
        edited_at = max(_now_ms(), message.created_at)
        from messaging.mentions import mentions_resolve

        mentioned = mentions_resolve(content=content, workspace_id=conversation.workspace_id)
        updated = repository_for(conversation.kind).edit(
            conversation_id=conversation.id,
            message_id=message.id,
            content=content,
            edited_at=edited_at,
            mentions=(mentioned.user_ids, mentioned.channel),
        )
        if updated is None:  # deleted (or purged) meanwhile
            raise errors.NotFound("Message not found.")
        search_services.messages_indexed([updated])
        unread_index.entries_edited(updated)  # mentions added or removed
        latest_edited(conversation, updated)
        try:
            broadcast.message_updated(message=message_to_api(updated))
        except Exception:
            logger.exception("message_updated broadcast failed for %s", updated.id)
    from readstate import notifications  # issue 18: whoever the edit newly mentions

    notifications.after_edit(before=message, after=updated)
    return updated


def message_delete(
    *,
    user,
    workspace=None,
    message_id: str,
    channel_id: UUID | str | None = None,
    conversation_id: UUID | str | None = None,
) -> None:
    """Soft-delete a message (hidden from history): its author (a member) or staff, else
    403 `not_author` / `not_a_member`. A SYSTEM message only by staff. Deleted or unknown
    -> 404. Still possible in an archived channel. Staff deleting someone else's message
    is a moderation act: it is audited like a deletion from the admin.

    Atomic with its preconditions (issue 12): checked once to fail fast, then again
    under the conversation's lock (see `message_edit`), where the soft delete is a
    conditional update (`deletedAt: null` in the filter) whose matched document decides.
    Of concurrent deletes of one message exactly one succeeds (and is audited and
    broadcast once); the others raise NotFound (404)."""
    conversation = selectors.conversation_get_for_deleter(
        user=user, workspace=workspace, channel_id=channel_id, conversation_id=conversation_id
    )
    message = _message_get(message_id=message_id, conversation=conversation)
    is_staff = bool(getattr(user, "is_staff", False))
    if message.type is MessageType.SYSTEM and not is_staff:
        raise _system_immutable()
    if message.sender_id != str(user.pk) and not is_staff:
        raise errors.PermissionDenied("Only the author or staff can delete a message.", code="not_author")
    with transaction.atomic():
        conversation_writes_lock(conversation)
        selectors.conversation_get_for_deleter(
            user=user, workspace=workspace, channel_id=channel_id, conversation_id=conversation_id
        )
        deleted = repository_for(conversation.kind).soft_delete(
            conversation_id=conversation.id,
            message_id=message.id,
            deleted_by=str(user.pk),
            deleted_at=max(_now_ms(), message.created_at),
        )
        from messaging import threads

        # A reply: its root's counters go down, still under the lock (issue 17).
        root = threads.reply_removed_locked(reply=deleted) if deleted is not None else None
        if deleted is not None:
            search_services.messages_unindexed([deleted])
            unread_index.entries_remove([deleted])
            latest_deleted(conversation, deleted)
    if deleted is None:  # deleted meanwhile
        raise errors.NotFound("Message not found.")
    # Outside the lock: once deleted, nothing else can be announced about this message.
    _after_deletes([deleted], by=user, audit=deleted.sender_id != str(user.pk))
    threads.after_reply_removed(root=root)


def _deletion_record(message: MessageDocument) -> AuditRecord:
    return AuditRecord(
        action=AuditLogEntry.Action.MESSAGE_DELETE,
        target_type=AuditLogEntry.TargetType.MESSAGE,
        target_id=message.id,
        detail={
            message.conversation.api_field: message.conversation.id,
            "seq": message.seq,
            "sender_id": message.sender_id,
            "type": message.type.value,
            "created_at": message_to_api(message)["created_at"],
            "content": message.content[:AUDIT_CONTENT_EXCERPT],
        },
    )


def _after_deletes(deleted: list[MessageDocument], *, by, audit: bool) -> None:
    """Once MongoDB acknowledged soft deletes: audit them (one INSERT), then announce
    each as any deletion is announced (message.deleted), even if the audit write failed."""
    try:
        if audit and deleted:
            audit_entries_create(actor=by, records=[_deletion_record(message) for message in deleted])
    finally:
        for message in deleted:
            try:
                if message.reply_count > 0:  # a root with replies stays as a tombstone (issue 17)
                    broadcast.message_updated(message=message_to_api(message))
                    continue
                broadcast.message_deleted(
                    message_id=message.id, **{message.conversation.api_field: message.conversation.id}
                )
            except Exception:
                logger.exception("message_deleted broadcast failed for %s", message.id)


def message_files_remove(*, file_id: str, shares) -> list[MessageDocument]:
    """A file was deleted (files.services.file_delete): take it off every message that
    carried it (`shares`: its FileShare rows, already deleted), each under its
    conversation's lock as every write of a message, and announce each live one with
    message.updated. Returns the live messages updated."""
    updated: list[MessageDocument] = []
    for share in shares:
        conversation = Conversation(ConversationKind(share.kind), str(share.conversation_id))
        with transaction.atomic():
            _lock_if_stored(conversation)
            message = repository_for(conversation.kind).files_remove(
                conversation_id=conversation.id, message_id=share.message_id, file_id=file_id
            )
        if message is not None:
            updated.append(message)
            try:
                broadcast.message_updated(message=message_to_api(message))
            except Exception:
                logger.exception("message_updated broadcast failed for %s", message.id)
    return updated


# --- Moderation and operations ----------------------------------------------------

AUDIT_CONTENT_EXCERPT = 200
MODERATION_MAX_MESSAGES = 500


def message_moderate_delete(*, kind: ConversationKind, message_ids: list[str], by) -> list[MessageDocument]:
    """Delete messages from the admin (staff only, else 403): the same soft delete as
    `message_delete`, of any message of any conversation of `kind`, SYSTEM ones
    included, each under its conversation's lock with a conditional update (so a
    message deleted concurrently through the API is skipped, not deleted twice). Each
    message that was still live is hidden from history, recorded in the audit log
    (after MongoDB acknowledged it) and announced with message.deleted, as any
    deletion is. Returns those messages; ids already deleted or unknown are skipped.

    If MongoDB fails part-way, the deletions already made are still audited and
    announced before the error (StoreUnavailable) is raised.
    """
    if not getattr(by, "is_staff", False):
        raise errors.PermissionDenied("Only staff can moderate messages.", code="staff_only")
    ids = list(dict.fromkeys(validation.clean_message_id(mid) for mid in message_ids))
    if len(ids) > MODERATION_MAX_MESSAGES:
        raise errors.ValidationFailed(f"At most {MODERATION_MAX_MESSAGES} messages at a time.")
    repo = repository_for(kind)
    deleted: list[MessageDocument] = []
    roots: list[MessageDocument | None] = []
    try:
        for message in repo.get_many(message_ids=ids):
            if message.is_deleted:
                continue
            # Under the conversation's lock, as every write of a message (see message_edit).
            with transaction.atomic():
                _lock_if_stored(message.conversation)
                done = repo.soft_delete(
                    conversation_id=message.conversation.id,
                    message_id=message.id,
                    deleted_by=str(by.pk),
                    deleted_at=max(_now_ms(), message.created_at),
                )
                from messaging import threads

                if done is not None:  # a reply: its root's counters go down (issue 17)
                    roots.append(threads.reply_removed_locked(reply=done))
                if done is not None:
                    search_services.messages_unindexed([done])
                    unread_index.entries_remove([done])
                    latest_deleted(message.conversation, done)
            if done is not None:  # else deleted meanwhile by someone else
                deleted.append(done)
    finally:
        _after_deletes(deleted, by=by, audit=True)
        for root in roots:
            threads.after_reply_removed(root=root)
    return deleted


def conversation_message_count(*, conversation: Conversation) -> int:
    """Every stored message of a conversation, deleted ones included."""
    return repository_for(conversation.kind).count(conversation_id=conversation.id)


def conversation_sequence_delete(*, conversation: Conversation) -> None:
    """Drop a deleted conversation's seq counter (inside the deleting transaction)."""
    MessageSequence.objects.filter(conversation_id=UUID(conversation.id)).delete()
    search_services.conversation_unindexed(conversation)
    unread_index.conversation_entries_drop(conversation)


def conversation_messages_delete(*, conversation: Conversation) -> int:
    """Hard-delete every message of a conversation that no longer exists in PostgreSQL
    (called once its deletion committed). Never raises: if MongoDB fails, the messages
    are orphans for `manage.py check_consistency --fix`."""
    try:
        deleted = repository_for(conversation.kind).delete_conversation(conversation_id=conversation.id)
    except Exception:
        logger.exception(
            "messages of deleted %s %s not removed from MongoDB: run check_consistency --fix",
            conversation.kind,
            conversation.id,
        )
        return 0
    logger.info("removed %d messages of deleted %s %s", deleted, conversation.kind, conversation.id)
    return deleted


def orphan_messages_delete(*, orphans: list[selectors.OrphanConversation], created_before: datetime) -> dict:
    """Hard-delete the messages (created before `created_before`) of these conversations
    if they still have no PostgreSQL row, which is checked again here; returns
    {collection name: messages deleted}."""
    counts = {repository_for(kind).collection_name: 0 for kind in ConversationKind}
    for kind in ConversationKind:
        ids = [orphan.conversation.id for orphan in orphans if orphan.conversation.kind is kind]
        still_missing = set(ids) - selectors.conversation_ids_existing(kind=kind, conversation_ids=ids)
        repo = repository_for(kind)
        for conversation_id in ids:
            if conversation_id in still_missing:
                counts[repo.collection_name] += repo.delete_conversation(
                    conversation_id=conversation_id, created_before=created_before
                )
                search_services.conversation_unindexed(Conversation(kind, conversation_id))
                unread_index.conversation_entries_drop(Conversation(kind, conversation_id))
    return counts


def messages_purge(
    *,
    older_than: datetime,
    channel_id: UUID | str | None = None,
    workspace_id: UUID | str | None = None,
    dry_run: bool = False,
    progress=None,
) -> dict[str, int]:
    """Retention: hard-delete the messages created before `older_than`, in every channel
    and DM, or in one channel only (404 if it does not exist), or in one workspace
    (`workspace_id`; on its (workspaceId, createdAt) index). `dry_run` only counts.
    Returns {collection name: messages deleted (or that would be)}; `progress(collection,
    deleted so far)` is called after each batch. Nothing is broadcast: the messages are
    far older than anything a client shows live, and history simply starts later (the
    seq counters are kept, so no seq is ever reused)."""
    targets: list[tuple[ConversationKind, str | None]]
    if channel_id is not None:
        cid = validation.clean_uuid(channel_id, field="channel_id", not_found="Channel not found.")
        channel_get(workspace=workspace_id, channel_id=cid)
        targets = [(ConversationKind.CHANNEL, cid)]
    else:
        targets = [(ConversationKind.CHANNEL, None), (ConversationKind.DM, None)]
    counts: dict[str, int] = {}
    for kind, conversation_id in targets:
        repo = repository_for(kind)
        if dry_run:
            counts[repo.collection_name] = repo.count_older_than(
                created_before=older_than,
                conversation_id=conversation_id,
                workspace_id=str(workspace_id) if workspace_id is not None else None,
            )
            continue
        name = repo.collection_name
        counts[name] = repo.delete_older_than(
            created_before=older_than,
            conversation_id=conversation_id,
            workspace_id=str(workspace_id) if workspace_id is not None else None,
            progress=(lambda deleted, name=name: progress(name, deleted)) if progress is not None else None,
        )
        search_services.messages_purged(
            created_before=older_than, kind=kind, conversation_id=conversation_id, workspace_id=workspace_id
        )
        unread_index.entries_purged(
            created_before=older_than, kind=kind, conversation_id=conversation_id, workspace_id=workspace_id
        )
    return counts


def messages_workspace_backfill(*, batch_size: int = 500) -> dict[str, int]:
    """Set `workspaceId` on the documents stored before workspaces existed, from their
    conversation's row in PostgreSQL (idempotent: only documents without one change;
    orphans, whose conversation is gone, are left to check_consistency). Returns
    {collection name: documents updated}."""
    from channels_app.models import Channel
    from dms.models import DmConversation

    models = {ConversationKind.CHANNEL: Channel, ConversationKind.DM: DmConversation}
    counts: dict[str, int] = {}
    for kind, model in models.items():
        repo = repository_for(kind)
        ids = repo.conversation_ids_without_workspace()
        updated = 0
        for start in range(0, len(ids), batch_size):
            chunk = [cid for cid in ids[start : start + batch_size] if validation.is_uuid(cid)]
            by_workspace: dict[str, list[str]] = {}
            for pk, workspace_id in model.objects.filter(pk__in=chunk).values_list("pk", "workspace_id"):
                by_workspace.setdefault(str(workspace_id), []).append(str(pk))
            for workspace_id, conversation_ids in by_workspace.items():
                updated += repo.set_workspace(conversation_ids=conversation_ids, workspace_id=workspace_id)
        counts[repo.collection_name] = updated
    return counts


# --- Bulk import (manage.py seed_demo) ---------------------------------------------

_RESERVE_SEQ_SQL = """
INSERT INTO message_sequences (conversation_id, kind, last_seq, last_created_at)
VALUES (%s, %s, %s, %s)
ON CONFLICT (conversation_id) DO UPDATE SET
    last_seq = message_sequences.last_seq + EXCLUDED.last_seq,
    last_created_at = GREATEST(message_sequences.last_created_at, EXCLUDED.last_created_at)
RETURNING last_seq, last_created_at
"""

_RAISE_CREATED_AT_SQL = """
UPDATE message_sequences SET last_created_at = GREATEST(last_created_at, %s) WHERE conversation_id = %s
"""


@dataclass(frozen=True, slots=True)
class MessageDraft:
    """A message to import. `created_at` is a wish: the import never lets createdAt go
    back with seq, nor lie in the future (see messages_import)."""

    sender_id: str | None
    content: str
    type: MessageType = MessageType.TEXT
    created_at: datetime | None = None


def _reserve_seq_range(conversation: Conversation, *, count: int, earliest: datetime) -> tuple[int, datetime]:
    """Take `count` consecutive seqs with the one-statement upsert of `_next_seq`, which
    locks the conversation's row until commit. Returns (first seq, the createdAt floor:
    no imported message may be older than this)."""
    with connection.cursor() as cursor:
        cursor.execute(_RESERVE_SEQ_SQL, [UUID(conversation.id), conversation.kind.value, count, earliest])
        last_seq, floor = cursor.fetchone()
    return last_seq - count + 1, truncate_ms(floor.astimezone(UTC))


def _import_locked(conversation: Conversation, drafts: list[MessageDraft]) -> list[MessageDocument]:
    repo = repository_for(conversation.kind)
    now = _now_ms()
    wished = [min(truncate_ms(d.created_at.astimezone(UTC)), now) if d.created_at else now for d in drafts]
    for attempt in range(2):
        first_seq, floor = _reserve_seq_range(conversation, count=len(drafts), earliest=min(wished))
        messages, previous = [], floor
        for offset, (draft, created_at) in enumerate(zip(drafts, wished, strict=True)):
            previous = max(previous, created_at)  # never back with seq, never before the floor
            message_id = repo.new_id()
            messages.append(
                MessageDocument(
                    id=message_id,
                    conversation=conversation,
                    seq=first_seq + offset,
                    sender_id=draft.sender_id,
                    content=draft.content,
                    type=draft.type,
                    created_at=previous,
                    edited_at=None,
                    client_msg_id=None,
                    dedupe_key=dedupe_key_for(message_id=message_id, client_msg_id=None),
                )
            )
        with connection.cursor() as cursor:
            cursor.execute(_RAISE_CREATED_AT_SQL, [previous, UUID(conversation.id)])
        try:
            repo.insert_many(messages)
        except DuplicateMessage:
            # The counter is behind MongoDB (see step 3 of the module docstring): undo
            # what this batch stored, raise the counter, and try once more.
            repo.delete_ids(message_ids=[message.id for message in messages])
            if attempt:
                raise
            max_seq, max_created_at = repo.high_water_mark(conversation_id=conversation.id)
            logger.warning("seq counter of %s %s was behind MongoDB: resynced", conversation.kind, conversation.id)
            _resync_seq(conversation, max_seq=max_seq, max_created_at=max_created_at)
            continue
        search_services.messages_indexed(messages)
        unread_index.entries_add(messages)
        return messages
    raise AssertionError("unreachable")


def messages_import(*, conversation: Conversation, drafts: list[MessageDraft]) -> list[MessageDocument]:
    """Store a batch of messages in one conversation with ONE seq reservation and ONE
    insert_many (seeding; thousands per call). Nothing is broadcast, nothing validated:
    the caller is trusted code that builds valid content.

    The same critical section as `message_send`, once per batch: the conversation's
    `message_sequences` row is locked by an upsert that takes `len(drafts)` seqs at
    once, the batch is inserted while the lock is held, and only then committed, so
    live sends in the same conversation (which wait for the lock) stay in order and a
    reader paging forward never skips a message. createdAt is each draft's wish
    (default now), capped at now and raised so that it never goes back with seq nor
    below the counter's last createdAt. If MongoDB fails, the reserved seqs are
    committed as a gap (never reused) and the error is raised, as in step 4.
    """
    if not drafts:
        return []
    failure: errors.StoreUnavailable | None = None
    messages: list[MessageDocument] = []
    with transaction.atomic():
        try:
            messages = _import_locked(conversation, list(drafts))
        except errors.StoreUnavailable as exc:
            failure = exc
    if failure is not None:
        raise failure
    return messages
