"""Group commit: sends to one conversation that queue in a process while its lock is held
go in together (issue 13; see docs/performance.md)."""

import copy
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from django.conf import settings
from django.db import connection, transaction

from channels_app.selectors import channel_archived_error, channel_senders_statement, channel_senders_verdict
from messaging import repositories_places
from messaging.documents import Conversation, ConversationKind, MessageDocument, MessageType, dedupe_key_for
from messaging.repositories import DuplicateMessage, repository_for
from messaging.serializers import message_to_api
from messaging.services import derived
from messaging.services.store import (
    _SET_SEQ_SQL,
    SendResult,
    _broadcast_created,
    _lock_if_stored,
    _now_ms,
    _reserve_seq_range,
    _reserve_seq_range_and,
    _send,
)
from realtime import broadcast
from slackclone import admission, errors
from slackclone.metrics import SEND_BATCH_SECONDS, SEND_BATCH_SIZE

logger = logging.getLogger(__name__)

# --- Group commit ------------------------------------------------------------------
# One process, one conversation: the first send finds no batch running and leads. The
# leader first waits for the conversation's row lock, and only then takes what is
# queued (its own send first): with two processes, the sends that queued while the
# other process's batch held the lock go into this one (taken before the wait, a
# batch held what had queued during this process's previous batch: half as many at
# two processes). The sends that arrive while a batch stores queue behind it and go
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
        # Waiting for a turn: give the pooled connection back (others need it), and the
        # send's turn at the door (slackclone.admission): it uses no CPU until answered.
        admission.turn_release()
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
    """Store the oldest queued sends (this thread's first: the leader is always the
    queue's head) as one batch, taken once the conversation's lock is held; answer
    them, and hand the lead to the next queued send, if any."""
    batch: list[_QueuedSend] = []
    locked_at = None
    try:
        locked_at = _send_batch(conversation, queue, batch)
    finally:
        if not batch:  # never got as far as taking it: these sends get the error
            batch.extend(_take(queue))
        for item in batch:  # left by a BaseException in this thread: 503, a retry is safe
            if item.result is None and item.error is None:
                item.error = errors.StoreUnavailable("postgres", "The message could not be stored; try again shortly.")
        if locked_at is not None:
            SEND_BATCH_SECONDS.observe(time.perf_counter() - locked_at)
            SEND_BATCH_SIZE.observe(len(batch))
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


def _take(queue: _SendQueue) -> list[_QueuedSend]:
    """The oldest queued sends, at most SEND_BATCH_MAX, off the queue."""
    with _send_queues_lock:
        return [queue.waiting.popleft() for _ in range(min(len(queue.waiting), settings.SEND_BATCH_MAX))]


def _send_batch(conversation: Conversation, queue: _SendQueue, batch: list[_QueuedSend]) -> float | None:
    """Steps 1-5 once for a whole batch, in one transaction: wait for the
    conversation's lock, then take the batch into `batch` (what is queued now), then
    one seq range, one insert_many, one publish. Every send of the batch gets its
    result or the error; if the lock is never granted, the sends queued then get its
    error. Returns when the lock was granted (time.perf_counter()), or None."""
    failure: BaseException | None = None
    locked_at = None
    try:
        with transaction.atomic():
            # A conversation's first batch finds no row: the reserve's upsert then waits
            # for a concurrent first batch's row, and the member check after it still
            # reads a snapshot taken after that wait.
            _lock_if_stored(conversation)
            locked_at = time.perf_counter()
            batch.extend(_take(queue))
            failure = _insert_batch_locked(conversation, batch)
    except Exception as exc:  # rolled back: every send of the batch fails with it
        failure = exc
    if not batch:
        batch.extend(_take(queue))
    for item in batch:
        if item.result is None and item.error is None:
            item.error = failure if failure is not None else AssertionError("send left unanswered")
    return locked_at


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
    first_seq, created_at, pending = _reserve_and_check_senders(conversation, pending)
    places, roots = _thread_places(repo, conversation, pending)
    reserved_last = first_seq + len(firsts) - 1
    counter, next_seq, resynced = first_seq - 1, first_seq, False
    stored: list[MessageDocument] = []
    failure: errors.StoreUnavailable | None = None
    try:
        while pending:
            messages = [
                _batch_message(
                    conversation, item, seq=next_seq + offset, created_at=created_at, thread_seq=places.get(id(item))
                )
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
    derived.messages_sent(conversation, stored)  # index, unread and sidebar rows, in the seq range's transaction
    _broadcast_created_many(stored)
    replies = [message for message in stored if message.thread_counted]
    if replies:
        from messaging import threads  # it builds on this package

        threads.replies_counted_locked(conversation=conversation, replies=replies, roots=roots)
    return failure


def _reserve_and_check_senders(
    conversation: Conversation, pending: list[_QueuedSend]
) -> tuple[int, datetime, list[_QueuedSend]]:
    """Under the lock, in one round trip: reserve a seq for each of `pending` and, in a
    channel, check that the channel still exists (404) and is not archived (409 for the
    whole batch, raised), and which senders are no longer members (a removal or leave
    committed while they waited): those sends get that error (403, 404 in a private
    channel) and are not stored (issue 16). Returns (first seq, the createdAt floor,
    the sends kept). The seqs reserved for the refused ones are given back by the
    counter update at the end of the batch."""
    count, earliest = len(pending), _now_ms()
    if conversation.kind is not ConversationKind.CHANNEL:
        first_seq, floor = _reserve_seq_range(conversation, count=count, earliest=earliest)
        return first_seq, floor, pending
    senders = sorted(
        {
            item.fields["sender_id"]
            for item in pending
            if item.fields.get("message_type") is MessageType.TEXT and item.fields.get("sender_id") is not None
        }
    )
    statement = channel_senders_statement(channel_id=conversation.id, user_ids=senders)
    first_seq, floor, row = _reserve_seq_range_and(conversation, count=count, earliest=earliest, statement=statement)
    archived, refused = channel_senders_verdict(row, user_ids=senders)
    if archived:
        raise channel_archived_error()
    kept = []
    for item in pending:
        error = (
            refused.get(item.fields.get("sender_id")) if item.fields.get("message_type") is MessageType.TEXT else None
        )
        if error is None:
            kept.append(item)
        else:
            item.error = error
    return first_seq, floor, kept


def _thread_places(
    repo, conversation: Conversation, pending: list[_QueuedSend]
) -> tuple[dict[int, int], dict[str, MessageDocument]]:
    """Under the lock: each reply of the batch its place in its thread (`threadSeq`,
    session 14), in the batch's order, which is the seq order; ({id(send): place},
    {root id: the root as this read it}). ONE update per thread the batch replies to
    (`thread_seqs_reserve`); none for a batch without replies. A reply whose root is
    gone, or whose thread is not numbered yet (stored before session 14), gets no place."""
    by_root: dict[str, list[_QueuedSend]] = {}
    for item in pending:
        root_id = (item.fields.get("extra") or {}).get("thread_id")
        if root_id is not None:
            by_root.setdefault(root_id, []).append(item)
    places: dict[int, int] = {}
    roots: dict[str, MessageDocument] = {}
    for root_id, items in by_root.items():
        root = repositories_places.thread_seqs_reserve(
            repo, conversation_id=conversation.id, root_id=root_id, count=len(items)
        )
        if root is not None:
            roots[root_id] = root
        if root is not None and root.last_thread_seq is not None:
            first = root.last_thread_seq - len(items) + 1
            places |= {id(item): first + offset for offset, item in enumerate(items)}
    return places, roots


def _batch_message(
    conversation: Conversation, item: _QueuedSend, *, seq: int, created_at: datetime, thread_seq: int | None = None
) -> MessageDocument:
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
        thread_seq=thread_seq,
        # Counted in its root by this batch, under the same lock (replies_counted_locked).
        thread_counted=(item.fields.get("extra") or {}).get("thread_id") is not None,
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
