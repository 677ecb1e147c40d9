"""Group commit of sends (messaging.services, "Group commit"): sends into one
conversation that queue in a process while its lock is held are stored together.
Threads with their own PostgreSQL connections stand in for concurrent requests."""

import contextlib
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from messaging import services
from messaging.documents import ConversationKind
from messaging.models import MessageSequence
from messaging.mongo import get_db
from messaging.repositories import repository_for
from messaging.services import group_commit
from slackclone import errors
from tests.helpers import backends_waiting_for_a_lock, capture_broadcasts
from tests.messaging.support import in_thread, run_in_threads

pytestmark = pytest.mark.django_db(transaction=True)


def _queued(channel) -> int:
    queue = group_commit._send_queues.get((ConversationKind.CHANNEL.value, str(channel.pk)))
    return len(queue.waiting) if queue is not None else 0


def _wait_until(predicate, timeout=10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@contextlib.contextmanager
def _first_send_held(monkeypatch, channel, on_hold=None):
    """The first single-document insert into `channel` blocks (holding the
    conversation's lock) until the block exits, after calling `on_hold()` in its
    thread; every insert_many is recorded."""
    repo = repository_for(ConversationKind.CHANNEL)
    real_insert, real_insert_many = repo.insert, repo.insert_many
    inside, go = threading.Event(), threading.Event()
    batches: list[list[str]] = []

    def insert(message):
        if message.conversation.id == str(channel.pk) and not inside.is_set():
            if on_hold is not None:
                on_hold()
            inside.set()
            assert go.wait(20)
        return real_insert(message)

    def insert_many(messages):
        messages = list(messages)
        batches.append([m.client_msg_id for m in messages])
        return real_insert_many(messages)

    monkeypatch.setattr(repo, "insert", insert)
    monkeypatch.setattr(repo, "insert_many", insert_many)
    try:
        yield inside, batches
    finally:
        go.set()


def _batch_metrics() -> tuple[float, float, float]:
    """slackclone_send_batch_size's (count, sum, batches of 5 to 8 sends) so far."""
    from prometheus_client import REGISTRY

    def sample(suffix: str, **labels) -> float:
        return REGISTRY.get_sample_value(f"slackclone_send_batch_size{suffix}", labels) or 0.0

    return sample("_count"), sample("_sum"), sample("_bucket", le="8.0") - sample("_bucket", le="4.0")


@contextlib.contextmanager
def _lock_held_by_another_process(pool, channel):
    """Another process's batch, in effect: a thread holds the conversation's row lock in
    its own transaction until the block exits."""
    from django.db import transaction

    from messaging.documents import Conversation
    from messaging.services.store import _lock_if_stored

    conversation = Conversation(ConversationKind.CHANNEL, str(channel.pk))
    locked, release = threading.Event(), threading.Event()

    def hold():
        with transaction.atomic():
            _lock_if_stored(conversation)
            locked.set()
            assert release.wait(20)

    holder = in_thread(pool, hold)
    assert locked.wait(10)
    try:
        yield
    finally:
        release.set()
        holder.result(10)


def _sends_behind_the_lock(pool, channel, sends: list[dict]) -> list:
    """One send into `channel` per `message_send` keywords of `sends`: the first leads
    and waits for the held lock, the others queue behind it in order. Their futures."""
    futures = [in_thread(pool, services.message_send, channel_id=channel.pk, **sends[0])]
    _wait_until(lambda: backends_waiting_for_a_lock() == 1)
    for send in sends[1:]:
        queued = _queued(channel)
        futures.append(in_thread(pool, services.message_send, channel_id=channel.pk, **send))
        _wait_until(lambda queued=queued: _queued(channel) == queued + 1)
    return futures


def _numbered(sender, count: int) -> list[dict]:
    return [{"sender": sender, "content": f"s{n}"} for n in range(count)]


def _seqs(channel) -> list[int]:
    return [d["seq"] for d in get_db()["channel_messages"].find({"channelId": str(channel.pk)}).sort("seq", 1)]


def test_sends_queued_behind_the_lock_go_in_as_one_batch_with_duplicates_and_retries(
    make_user, make_channel, monkeypatch
):
    alice, bob = make_user(), make_user()
    channel = make_channel(alice, bob)
    batches_before = _batch_metrics()
    old = services.message_send(sender=alice, channel_id=channel.pk, content="old", client_msg_id="old").message
    queued = [  # (sender, client_msg_id), queued in this order behind the held send
        (alice, "b"),
        (alice, "old"),  # a retry of a stored message, in the middle of the batch
        (bob, "c"),
        (alice, "b"),  # a duplicate inside the batch
        (bob, None),
        (alice, "d"),
    ]
    with ThreadPoolExecutor(len(queued) + 1) as pool, capture_broadcasts() as captured:
        with _first_send_held(monkeypatch, channel) as (inside, batches):
            held = in_thread(pool, services.message_send, sender=alice, channel_id=channel.pk, content="a")
            assert inside.wait(10)
            futures = []
            for n, (sender, cid) in enumerate(queued, start=1):
                futures.append(
                    in_thread(
                        pool,
                        services.message_send,
                        sender=sender,
                        channel_id=channel.pk,
                        content=f"q{n}",
                        client_msg_id=cid,
                    )
                )
                _wait_until(lambda n=n: _queued(channel) == n)
        assert held.result(10).message.seq == 2
        results = [future.result(10) for future in futures]

    b, retry, c, b_again, anonymous, d = results
    assert retry.created is False and retry.message.id == old.id and retry.message.seq == 1
    assert b_again.created is False and b_again.message.id == b.message.id
    assert [r.created for r in (b, c, anonymous, d)] == [True] * 4
    # Seqs follow the queue; the retry consumed none, so there is no gap.
    assert [r.message.seq for r in (b, c, anonymous, d)] == [3, 4, 5, 6]
    assert [r.message.content for r in (b, c, anonymous, d)] == ["q1", "q3", "q5", "q6"]
    assert anonymous.message.sender_id == str(bob.pk) and c.message.sender_id == str(bob.pk)
    # One batch: one insert_many, retried once past the refused retry.
    assert batches == [["b", "old", "c", None, "d"], ["c", None, "d"]]
    assert _seqs(channel) == [1, 2, 3, 4, 5, 6]
    assert [call["message"]["seq"] for call in captured.of("message_created")] == [2, 3, 4, 5, 6]
    assert MessageSequence.objects.get(conversation_id=channel.pk).last_seq == 6
    assert services.message_send(sender=alice, channel_id=channel.pk, content="next").message.seq == 7
    # slackclone_send_batch_size: "old", the held send, the queued six, "next".
    count, total, sized_5_to_8 = (b - a for a, b in zip(batches_before, _batch_metrics(), strict=True))
    assert (count, total, sized_5_to_8) == (4, 9, 1)


def test_a_batch_resyncs_a_counter_behind_mongodb(make_user, make_channel, monkeypatch):
    alice = make_user()
    channel = make_channel(alice)
    for n in range(3):
        services.message_send(sender=alice, channel_id=channel.pk, content=f"m{n}")
    with ThreadPoolExecutor(4) as pool, capture_broadcasts():
        # As if PostgreSQL had been restored from an old backup meanwhile (done by the
        # send holding the lock, which commits it).
        behind = MessageSequence.objects.filter(conversation_id=channel.pk)
        with _first_send_held(monkeypatch, channel, on_hold=lambda: behind.update(last_seq=1)) as (inside, _b):
            held = in_thread(pool, services.message_send, sender=alice, channel_id=channel.pk, content="held")
            assert inside.wait(10)
            futures = []
            for n in range(1, 4):
                futures.append(in_thread(pool, services.message_send, sender=alice, channel_id=channel.pk, content="x"))
                _wait_until(lambda n=n: _queued(channel) == n)
        assert held.result(10).message.seq == 4
        assert sorted(future.result(10).message.seq for future in futures) == [5, 6, 7]
    assert _seqs(channel) == [1, 2, 3, 4, 5, 6, 7]
    assert MessageSequence.objects.get(conversation_id=channel.pk).last_seq == 7


def test_many_concurrent_senders_get_their_own_messages_without_gaps_or_duplicates(make_user, make_channel):
    senders = [make_user() for _ in range(16)]
    channel = make_channel(*senders)
    per_sender = 12

    def send_all(i):
        mine = []
        for n in range(per_sender):
            cid = f"{i}-{n}-{uuid.uuid4().hex[:6]}"
            result = services.message_send(
                sender=senders[i], channel_id=channel.pk, content=f"{i}:{n}", client_msg_id=cid
            )
            assert result.created and result.message.client_msg_id == cid
            assert result.message.sender_id == str(senders[i].pk) and result.message.content == f"{i}:{n}"
            mine.append(result.message)
            if n % 3 == 2:  # a retry of an earlier one: lands in another batch
                earlier = mine[n - 2]
                again = services.message_send(
                    sender=senders[i], channel_id=channel.pk, content="retry", client_msg_id=earlier.client_msg_id
                )
                assert not again.created and again.message.id == earlier.id and again.message.seq == earlier.seq
        return mine

    with capture_broadcasts() as captured:
        sent = run_in_threads(len(senders), send_all)

    total = len(senders) * per_sender
    docs = list(get_db()["channel_messages"].find({"channelId": str(channel.pk)}).sort("seq", 1))
    assert [d["seq"] for d in docs] == list(range(1, total + 1))
    assert sorted(m.id for mine in sent for m in mine) == sorted(str(d["_id"]) for d in docs)
    created = [d["createdAt"] for d in docs]
    assert created == sorted(created)
    for i, mine in enumerate(sent):  # each sender's messages in its sending order
        assert [m.content for m in mine] == [f"{i}:{n}" for n in range(per_sender)]
        assert [m.seq for m in mine] == sorted(m.seq for m in mine)
    # Broadcast once each, in seq order, and in fewer publishes than messages.
    assert [call["message"]["seq"] for call in captured.of("message_created")] == list(range(1, total + 1))
    assert captured.publishes < total
    assert MessageSequence.objects.get(conversation_id=channel.pk).last_seq == total


def test_a_hot_conversation_does_not_take_the_pooled_connections_of_others(
    make_user, make_channel, monkeypatch, settings
):
    """Before group commit every send waiting for a conversation's lock held a pooled
    connection: 30 of them drained the pool (20) and a send elsewhere got 503."""
    alice = make_user()
    hot, quiet = make_channel(alice), make_channel(alice)
    waiting = 30
    with ThreadPoolExecutor(waiting + 2) as pool, capture_broadcasts():
        with _first_send_held(monkeypatch, hot) as (inside, _batches):
            held = in_thread(pool, services.message_send, sender=alice, channel_id=hot.pk, content="held")
            assert inside.wait(10)
            futures = [
                in_thread(pool, services.message_send, sender=alice, channel_id=hot.pk, content=f"h{n}")
                for n in range(waiting)
            ]
            time.sleep(1.0)  # every one of them is waiting (queued, or for the lock)
            started = time.monotonic()
            elsewhere = in_thread(pool, services.message_send, sender=alice, channel_id=quiet.pk, content="quiet")
            assert elsewhere.result(10).created
            assert time.monotonic() - started < 1.0
        held.result(10)
        assert sorted(f.result(10).message.seq for f in futures) == list(range(2, waiting + 2))


def test_sends_beyond_the_queue_bound_or_waiting_too_long_are_shed_with_nothing_stored(
    make_user, make_channel, monkeypatch, settings
):
    settings.SEND_QUEUE_MAX = 2
    settings.SEND_QUEUE_WAIT_SECONDS = 1.0
    alice = make_user()
    channel = make_channel(alice)
    with ThreadPoolExecutor(4) as pool, capture_broadcasts():
        with _first_send_held(monkeypatch, channel) as (inside, _batches):
            held = in_thread(pool, services.message_send, sender=alice, channel_id=channel.pk, content="held")
            assert inside.wait(10)
            queued = in_thread(pool, services.message_send, sender=alice, channel_id=channel.pk, content="queued")
            _wait_until(lambda: _queued(channel) == 1)
            waiting = in_thread(pool, services.message_send, sender=alice, channel_id=channel.pk, content="late")
            _wait_until(lambda: _queued(channel) == 2)
            started = time.monotonic()
            with pytest.raises(errors.Busy) as shed:
                services.message_send(sender=alice, channel_id=channel.pk, content="full", client_msg_id="full")
            assert time.monotonic() - started < 0.5
            assert shed.value.status == 429
            for future in (queued, waiting):
                with pytest.raises(errors.Busy):
                    future.result(5)  # waited SEND_QUEUE_WAIT_SECONDS, never taken
        assert held.result(10).message.seq == 1
    assert [d["content"] for d in get_db()["channel_messages"].find({"channelId": str(channel.pk)})] == ["held"]
    assert services.message_send(sender=alice, channel_id=channel.pk, content="after").message.seq == 2


def test_a_shed_send_answers_429_with_retry_after(make_user, make_channel, client_for, monkeypatch, settings):
    settings.SEND_QUEUE_MAX = 0
    alice = make_user()
    channel = make_channel(alice)
    response = client_for(alice).post(f"/api/v1/channels/{channel.pk}/messages", {"content": "hi"}, format="json")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "conversation_busy"
    assert response["Retry-After"] == "1"


def test_a_batch_takes_the_sends_queued_while_another_process_held_the_lock(make_user, make_channel):
    """Another process's batch (here a thread holding the conversation's row lock in
    its own transaction) holds the lock while this process's leader waits for it and
    more sends queue behind the leader. The leader takes the batch once it has the
    lock: the leader's send and the queued ones go in as ONE batch, in queue order
    (taken before the wait, they would be two: the leader's alone, then the rest)."""
    alice = make_user()
    channel = make_channel(alice)
    services.message_send(sender=alice, channel_id=channel.pk, content="first")
    with ThreadPoolExecutor(6) as pool, capture_broadcasts():
        with _lock_held_by_another_process(pool, channel):
            before = _batch_metrics()
            futures = _sends_behind_the_lock(pool, channel, _numbered(alice, 5))
        results = [future.result(10) for future in futures]
    assert [r.message.seq for r in results] == [2, 3, 4, 5, 6]
    count, total, _sized = (b - a for a, b in zip(before, _batch_metrics(), strict=True))
    assert (count, total) == (1, 5)
    assert _seqs(channel) == [1, 2, 3, 4, 5, 6]


def test_a_send_writes_its_search_unread_and_sidebar_rows_in_one_statement(make_user, make_channel):
    """Under the conversation's lock every round trip counts (slackclone.sql.execute_together)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    alice = make_user()
    channel = make_channel(alice)
    with CaptureQueriesContext(connection) as captured:
        services.message_send(sender=alice, channel_id=channel.pk, content="hello @channel")
    writes = [q["sql"] for q in captured.captured_queries if "search_entries" in q["sql"]]
    assert len(writes) == 1
    assert "INSERT INTO unread_entries" in writes[0] and "SET latest_seq" in writes[0]


def test_a_channel_send_with_server_side_binding_reserves_and_checks_in_two_statements(
    make_user, make_channel, server_side_binding
):
    """The seq reserve and the member check cannot go as one prepared statement: with
    server-side binding they are sent one after the other (a grouped channel send
    failed with "cannot insert multiple commands into a prepared statement")."""
    from django.db import connection

    alice = make_user()
    channel = make_channel(alice)
    with capture_broadcasts():
        first = services.message_send(sender=alice, channel_id=channel.pk, content="hello @channel")
        second = services.message_send(sender=alice, channel_id=channel.pk, content="100% ; 'quoted'")
    assert type(connection.cursor().cursor).__name__ == "ServerBindingCursor"
    assert (first.message.seq, second.message.seq) == (1, 2)
    assert _seqs(channel) == [1, 2]


def test_a_leader_interrupted_by_a_base_exception_answers_its_batch_503(make_user, make_channel, monkeypatch):
    """A BaseException in the leader's thread (the process shutting down, say) ends its
    own request, and the other sends of its batch get 503 `store_unavailable` (a retry
    with the same client_msg_id is safe), not a bare error; the queue is left usable."""

    class Interrupted(BaseException):
        pass

    alice = make_user()
    channel = make_channel(alice)
    services.message_send(sender=alice, channel_id=channel.pk, content="first")

    def interrupted(conversation, batch):
        raise Interrupted

    monkeypatch.setattr(group_commit, "_insert_batch_locked", interrupted)
    with ThreadPoolExecutor(4) as pool, capture_broadcasts():
        with _lock_held_by_another_process(pool, channel):
            futures = _sends_behind_the_lock(pool, channel, _numbered(alice, 3))
        with pytest.raises(Interrupted):
            futures[0].result(10)
        for future in futures[1:]:
            with pytest.raises(errors.StoreUnavailable):
                future.result(10)
    monkeypatch.undo()
    assert _queued(channel) == 0
    assert services.message_send(sender=alice, channel_id=channel.pk, content="after").message.seq == 2


def test_the_replies_of_a_batch_are_counted_once_per_root_after_their_message_created(make_user, make_channel):
    """Session 14: replies queued behind the lock go in as one batch and are counted in
    their roots by that batch, under the same lock: one counter update and one
    `thread.updated` per root, after every `message.created` of the batch, with the
    counts after all of its replies; no reply takes the lock again for its count."""
    from messaging import thread_repair

    alice, bob = make_user(), make_user()
    channel = make_channel(alice, bob)
    roots = [services.message_send(sender=alice, channel_id=channel.pk, content=f"root {n}").message for n in (0, 1)]
    plan = [(bob, roots[0]), (alice, roots[1]), (bob, roots[0]), (alice, roots[0]), (bob, roots[1])]
    with ThreadPoolExecutor(len(plan) + 2) as pool, capture_broadcasts() as captured:
        with _lock_held_by_another_process(pool, channel):
            sends = [{"sender": bob, "content": "lead"}]
            sends += [
                {"sender": sender, "content": f"r{n}", "thread_id": root.id} for n, (sender, root) in enumerate(plan)
            ]
            futures = _sends_behind_the_lock(pool, channel, sends)
        replies = [future.result(10).message for future in futures[1:]]

    assert all(reply.thread_counted for reply in replies)
    repo = repository_for(ConversationKind.CHANNEL)
    stored = [repo.get(conversation_id=str(channel.pk), message_id=root.id) for root in roots]
    assert [root.reply_count for root in stored] == [3, 2]
    assert list(stored[0].reply_users) == [str(alice.pk), str(bob.pk)]
    assert list(stored[1].reply_users) == [str(bob.pk), str(alice.pk)]
    events = [
        (name, call["fields"].get("root_id"), call["fields"].get("reply_count"))
        if name == "conversation_event"
        else (name, None, None)
        for name, call in captured.calls
        if name in ("message_created", "conversation_event")
    ]
    assert events == [
        *[("message_created", None, None)] * 6,  # the batch: "lead" and the five replies, in seq order
        ("conversation_event", roots[0].id, 3),
        ("conversation_event", roots[1].id, 2),
    ]
    assert thread_repair.thread_counters_drift(created_before=replies[-1].created_at) == []


def test_a_replier_mentioned_earlier_in_the_same_batch_gets_the_marker_of_a_late_mention(
    make_user, make_channel, client_for
):
    """bob is mentioned in a reply and replies right after, both in one batch: his thread
    marker starts just before the mention, as when the two are counted one by one (the
    mention gave him a marker, then his reply found him following). As a replier he got
    none (0): every earlier reply of the thread was unread, depending on the batching."""
    alice, bob = make_user(), make_user()
    channel = make_channel(alice, bob)
    root = services.message_send(sender=alice, channel_id=channel.pk, content="root").message
    for n in range(3):
        services.message_send(sender=alice, channel_id=channel.pk, content=f"r{n}", thread_id=root.id)
    sends = [
        {"sender": alice, "content": f"over to you <@{bob.pk}>", "thread_id": root.id},
        {"sender": bob, "content": "on it", "thread_id": root.id},
    ]
    with ThreadPoolExecutor(3) as pool, capture_broadcasts():
        with _lock_held_by_another_process(pool, channel):
            futures = _sends_behind_the_lock(pool, channel, sends)
        mention, _own = (future.result(10).message for future in futures)

    [listed] = client_for(bob).get("/api/v1/threads").json()["results"]
    assert (listed["unread_replies"], listed["last_read_seq"]) == (1, mention.seq - 1)
