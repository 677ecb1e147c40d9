"""The repair of thread counters (issue 17): a reply stored whose root was never updated
(a crash between the insert and the root's `$inc`) is reported by check_consistency and
repaired by --fix, idempotently and safely beside live traffic."""

import io
from datetime import UTC, datetime

import pytest
from bson import ObjectId
from django.core.management import CommandError, call_command

from messaging import repositories_ext as ext
from messaging import services, thread_repair, threads
from messaging.repositories import repository_for
from tests.helpers import capture_broadcasts
from tests.messaging.support import run_in_threads
from tests.messaging.test_threads import _root as _stored
from tests.messaging.test_threads import _send

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def where(where_all):
    return where_all


class Crash(Exception):
    """The process died here."""


def _crash(*args, **kwargs):
    raise Crash


def _by_content(where, content):
    repo = repository_for(where.conversation.kind)
    raw = repo.collection.find_one({repo.conversation_field: where.pk, "content": content})
    return repo.from_mongo(raw)


def _check(*args) -> str:
    out = io.StringIO()
    call_command("check_consistency", *args, stdout=out)
    return out.getvalue()


def test_uncounted_replies_are_reported_then_repaired_idempotently(where, alice, bob, monkeypatch):
    root = _send(where, alice, "root")
    _send(where, bob, "counted", thread_id=root.id)
    # A reply stored unmarked whose count never came (a send with files, counted by
    # after_send, crashing before it).
    with monkeypatch.context() as patch:
        patch.setattr(threads, "replies_counted_locked", lambda **kwargs: None)
        _send(where, alice, "lost before counting", thread_id=root.id)
    repo = repository_for(where.conversation.kind)
    repo.collection.update_one({"content": "lost before counting"}, {"$unset": {"threadCounted": ""}})
    # The root's `$inc` failing after the reply's insert, marked counted (its batch's count:
    # logged, the send answered as stored).
    with monkeypatch.context() as patch:
        patch.setattr(ext, "thread_counters_add", _crash)
        _send(where, bob, "lost after marking", thread_id=root.id)
    lost = [_by_content(where, "lost before counting"), _by_content(where, "lost after marking")]
    assert (lost[0].thread_counted, lost[1].thread_counted) == (False, True)
    assert _stored(where, root.id).reply_count == 1

    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("check_consistency", stdout=out)
    assert "Thread roots whose counters disagree with their replies: 1" in out.getvalue()
    assert f"root {root.id}: replyCount 1, its live replies 3 (1 never counted)" in out.getvalue()

    with capture_broadcasts() as captured:
        out = _check("--fix")
    assert "Recomputed the reply counters of 1 thread root(s)" in out
    repaired = _stored(where, root.id)
    assert repaired.reply_count == 3
    assert list(repaired.reply_users) == [str(bob.pk), str(alice.pk)]
    assert repaired.last_reply_at == lost[1].created_at
    assert _by_content(where, "lost before counting").thread_counted
    updates = [e["fields"] for e in captured.of("conversation_event") if e["event_type"] == "thread.updated"]
    assert [(u["root_id"], u["reply_count"]) for u in updates] == [(root.id, 3)]

    # Idempotent: nothing left to report or change.
    assert "Consistent: nothing to report." in _check()
    assert (
        thread_repair.thread_counters_repair(roots=[(where.conversation, root.id)], created_before=datetime.now(UTC))
        == 0
    )
    assert _stored(where, root.id).reply_count == 3
    # The repaired replies are counted now, so deleting one lowers the count as usual.
    services.message_delete(user=alice, message_id=lost[0].id, **where.kwargs)
    assert _stored(where, root.id).reply_count == 2
    assert "Consistent: nothing to report." in _check()


def test_a_reply_whose_count_failed_is_reported_once_older_than_the_check_and_counted_once(
    where, alice, bob, monkeypatch
):
    """Its batch's count failed (logged, the send answered as stored): the reply is
    marked counted, its root is not. A check started before it leaves it (it may be on
    its way); the repair counts it, once, however often it runs."""
    root = _send(where, alice, "root")
    started = datetime.now(UTC)
    with monkeypatch.context() as patch:
        patch.setattr(ext, "thread_counters_add", _crash)
        _send(where, bob, "in flight", thread_id=root.id)
    assert _stored(where, root.id).reply_count == 0
    assert thread_repair.thread_counters_drift(created_before=started) == []  # maybe still on its way: skipped
    drift = thread_repair.thread_counters_drift(created_before=datetime.now(UTC))
    assert [(d.root_id, d.stored[0], d.expected[0]) for d in drift] == [(root.id, 0, 1)]
    for _ in range(2):
        thread_repair.thread_counters_repair(roots=[(where.conversation, root.id)], created_before=datetime.now(UTC))
    assert _stored(where, root.id).reply_count == 1
    assert thread_repair.thread_counters_drift(created_before=datetime.now(UTC)) == []


def test_repair_beside_live_replies_and_deletes_keeps_the_count_exact(where, alice, bob):
    root = _send(where, alice, "root")
    early = [_send(where, bob, f"early {n}", thread_id=root.id) for n in range(6)]
    repo = repository_for(where.conversation.kind)
    # Counters gone wrong (as after a crash): the repair must bring them back while
    # replies are sent and deleted around it.
    repo.collection.update_one({"_id": ObjectId(root.id)}, {"$set": {"replyCount": 0, "replyUsers": []}})

    def work(index):
        if index < 6:
            services.message_delete(user=bob, message_id=early[index].id, **where.kwargs)
        elif index < 12:
            _send(where, alice, f"late {index}", thread_id=root.id)
        else:
            for _ in range(3):
                thread_repair.thread_counters_repair(
                    roots=[(where.conversation, root.id)], created_before=datetime.now(UTC)
                )

    run_in_threads(14, work)
    # At least one repair ran after the break; every write after it is incremental under the lock.
    stored = _stored(where, root.id)
    assert stored.reply_count == ext.replies_count(repo, conversation_id=where.pk, root_id=root.id) == 6
    assert thread_repair.thread_counters_drift(created_before=datetime.now(UTC)) == []
    assert list(stored.reply_users) == [str(alice.pk)]
