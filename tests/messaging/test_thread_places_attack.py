"""Review of session 14 (a thread's replies read in blocks of their places): attacks."""

import uuid

import pytest
from bson import ObjectId

from messaging import services
from messaging.documents import Conversation
from messaging.repositories import repository_for
from tests.messaging import test_history_windows as windows
from tests.messaging.support import run_in_threads
from tests.messaging.test_channel_view_windows import _store_thread

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def where(where_all):
    return where_all


def _send(where, user, content="hi", **extra):
    return services.message_send(sender=user, **where.kwargs, content=content, **extra).message


def _page_ids(client, url, **params):
    return [m["id"] for m in client.get(url, params).json()["results"]]


def _places(where, root_id) -> list[int | None]:
    """The threadSeq of the root's stored replies, deleted ones too, in seq order."""
    repo = repository_for(where.conversation.kind)
    stored = repo.collection.find({repo.conversation_field: where.pk, "threadId": root_id})
    return [raw.get("threadSeq") for raw in sorted(stored, key=lambda raw: raw["seq"])]


def test_a_reply_with_a_file_is_shown_in_its_thread_page(where, alice, bob, client_for):
    """A reply with files is sent alone (services.store._insert_locked, not the grouped
    batch): it must get its place too, or the thread's block reads never show it."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from files import services as file_services

    root = _send(where, alice, "root")
    first = _send(where, bob, "first", thread_id=root.id)
    upload = file_services.file_upload(user=bob, workspace=None, uploaded=SimpleUploadedFile("a.txt", b"a"))
    with_file = _send(where, bob, "with a file", thread_id=root.id, file_ids=[str(upload.pk)])
    last = _send(where, alice, "last", thread_id=root.id)
    url = f"{where.url}/{root.id}/replies"
    client = client_for(alice)
    assert _page_ids(client, url) == [first.id, with_file.id, last.id]
    assert _places(where, root.id) == [1, 2, 3]


def _walk_back(client, url, limits):
    """Every page from the newest back to the first (limits cycled): (seqs newest first,
    ids), checking that each page is in seq order."""
    seqs, ids, page, turn = [], [], None, 0
    while True:
        params = {"limit": limits[turn % len(limits)]}
        turn += 1
        if page is not None:
            params["before"] = page["before_cursor"]
        page = client.get(url, params).json()
        got = [m["seq"] for m in page["results"]]
        assert got == sorted(got)
        seqs += got[::-1]
        ids += [m["id"] for m in page["results"]][::-1]
        if not page["has_more"]:
            return seqs, ids
        assert turn < 500


def test_pages_of_a_thread_while_replies_are_sent_and_deleted(where, alice, bob, client_for):
    """Readers page back and poll forward (after_cursor, from the root's own seq; limits
    1..100) while three senders reply and a fourth deletes: forward, every reply never
    deleted is seen once, in seq order (so never one without the earlier ones); each walk
    back shows every reply never deleted older than its first page's newest, once, in
    order; at rest has_more is exact in both directions for every limit."""
    import random
    import threading

    from messaging.cursors import encode_cursor

    root = _send(where, alice, "root")
    old = [_send(where, bob, f"old {n}", thread_id=root.id) for n in range(70)]
    doomed = {m.id for m in old[::3]}
    url = f"{where.url}/{root.id}/replies"
    sent, seen_forward, walks = [], [], []
    done, lock, writers_left = threading.Event(), threading.Lock(), [4]

    def work(index):
        if index < 3:
            for n in range(15):
                sent.append(_send(where, alice if index % 2 else bob, f"new {index}.{n}", thread_id=root.id))
        elif index == 3:
            for message in old[::3]:
                services.message_delete(user=bob, message_id=message.id, **where.kwargs)
        elif index == 4:  # forward poller, from the root's seq
            client, rng = client_for(alice), random.Random(index)
            cursor = encode_cursor(where.conversation, root.seq)
            while True:
                finished = done.is_set()
                page = client.get(url, {"limit": rng.randint(1, 100), "after": cursor}).json()
                seen_forward.extend((m["seq"], m["id"]) for m in page["results"])
                cursor = page["after_cursor"]
                if finished and not page["has_more"] and not page["results"]:
                    return
        else:  # walkers back
            client, rng = client_for(alice), random.Random(index)
            while not done.is_set():
                walks.append(_walk_back(client, url, [rng.randint(1, 100) for _ in range(5)]))

    def target(index):
        try:
            work(index)
        finally:
            if index < 4:
                with lock:
                    writers_left[0] -= 1
                    if writers_left[0] == 0:
                        done.set()

    run_in_threads(7, target)
    never_deleted = sorted((m.seq, m.id) for m in old + sent if m.id not in doomed)
    assert len(never_deleted) == 70 - 24 + 45
    assert [seq for seq, _ in seen_forward] == sorted({seq for seq, _ in seen_forward}), "forward: repeat/order"
    assert set(never_deleted) <= set(seen_forward), "forward: a reply never deleted was skipped"
    assert walks
    for seqs, ids in walks:
        assert seqs == sorted(set(seqs), reverse=True), "back: repeat or out of order"
        newest = seqs[0] if seqs else 0
        assert {m for m in never_deleted if m[0] <= newest} <= set(zip(seqs, ids, strict=True))

    client = client_for(alice)
    live = [seq for seq, _ in never_deleted]
    for limit in (1, 2, 7, 31, 32, 33, 64, 100, 200):
        seqs, _ = _walk_back(client, url, [limit])
        assert seqs[::-1] == live
        assert client.get(url, {"limit": limit}).json()["has_more"] is (len(live) > limit)
        forward, cursor = [], encode_cursor(where.conversation, live[0])
        while True:
            body = client.get(url, {"limit": limit, "after": cursor}).json()
            forward += [m["seq"] for m in body["results"]]
            assert body["has_more"] is (forward != live[1:])
            if not body["has_more"]:
                break
            cursor = body["after_cursor"]
        assert forward == live[1:]


def test_thread_pages_with_cursors_that_name_no_reply_of_the_thread(where, alice, bob, client_for):
    """Cursors of the root, of another thread's reply, of a deleted reply, seq 0 and past
    the end: each page is what the seq order says (a cursor is a position)."""
    from messaging.cursors import encode_cursor

    root = _send(where, alice, "root")
    other = _send(where, alice, "other root")
    replies, others = [], []
    for n in range(40):
        replies.append(_send(where, bob, f"r{n}", thread_id=root.id))
        if n % 4 == 0:
            others.append(_send(where, alice, f"o{n}", thread_id=other.id))
    services.message_delete(user=bob, message_id=replies[20].id, **where.kwargs)
    live = [m for m in replies if m is not replies[20]]
    url = f"{where.url}/{root.id}/replies"
    client = client_for(alice)

    def page(**params):
        cursor = {k: encode_cursor(where.conversation, v) for k, v in params.items() if k in ("before", "after")}
        body = client.get(url, {"limit": params.get("limit", 50), **cursor}).json()
        return [m["id"] for m in body["results"]], body["has_more"]

    def expect(seq, direction, limit):
        if direction == "after":
            chosen = [m for m in live if m.seq > seq]
            return [m.id for m in chosen[:limit]], len(chosen) > limit
        chosen = [m for m in live if m.seq < seq]
        return [m.id for m in chosen[-limit:]], len(chosen) > limit

    top = max(m.seq for m in replies + others)
    for seq in (0, root.seq, other.seq, others[3].seq, replies[20].seq, replies[33].seq, top, top + 1, top + 5000):
        for direction in ("before", "after"):
            for limit in (1, 5, 32, 50):
                assert page(**{direction: seq, "limit": limit}) == expect(seq, direction, limit), (seq, direction)


def _unnumber(where, root_ids):
    """As stored before session 14: no threadSeq on the replies, the old threadBlock form,
    no lastThreadSeq on the roots."""
    repo = repository_for(where.conversation.kind)
    for root_id in root_ids:
        query = {repo.conversation_field: where.pk, "threadId": root_id}
        for raw in repo.collection.find(query, projection={"seq": 1}):
            repo.collection.update_one(
                {"_id": raw["_id"]},
                {"$unset": {"threadSeq": ""}, "$set": {"threadBlock": f"{root_id}:{int(raw['seq']) // 32}"}},
            )
        repo.collection.update_one({"_id": ObjectId(root_id)}, {"$unset": {"lastThreadSeq": ""}})


def _assert_numbered(where, root_id, client):
    """Places unique and increasing with seq, the root's lastThreadSeq at least the last,
    and the thread's pages (both ways) exactly its live replies."""
    repo = repository_for(where.conversation.kind)
    stored = sorted(
        repo.collection.find({repo.conversation_field: where.pk, "threadId": root_id}), key=lambda raw: raw["seq"]
    )
    places = [raw.get("threadSeq") for raw in stored]
    assert None not in places, places
    assert places == sorted(set(places)), places
    root = repo.collection.find_one({"_id": ObjectId(root_id)})
    assert root["lastThreadSeq"] >= places[-1]
    live = [int(raw["seq"]) for raw in stored if raw.get("deletedAt") is None]
    url = f"{where.url}/{root_id}/replies"
    for limit in (3, 40):
        seqs, _ = _walk_back(client, url, [limit])
        assert seqs[::-1] == live
    assert root.get("replyCount") == len(live)


def test_replies_to_old_threads_while_backfill_numbers_them(where, alice, bob, client_for):
    """Upgrade: threads stored without places (one with a reply deleted, one a tombstone,
    one whose root is purged) get replies from 6 senders while `backfill_seq_blocks`
    runs twice: every thread ends numbered 1..n in seq order and pages right; the purged
    root's replies stay readable by keyset."""
    import io

    from django.core.management import call_command

    roots = [_send(where, alice, f"root {n}") for n in range(4)]
    for root in roots:
        for n in range(12):
            _send(where, bob, f"old {n}", thread_id=root.id)
    first_of_0 = _send(where, bob, "to delete", thread_id=roots[0].id)
    services.message_delete(user=bob, message_id=first_of_0.id, **where.kwargs)
    services.message_delete(user=alice, message_id=roots[1].id, **where.kwargs)  # a tombstone
    _unnumber(where, [root.id for root in roots])
    repo = repository_for(where.conversation.kind)
    repo.collection.delete_one({"_id": ObjectId(roots[3].id)})  # purged by retention

    def work(index):
        if index == 6:
            for _ in range(2):
                call_command("backfill_seq_blocks", stdout=io.StringIO())
            return
        for n in range(8):
            _send(where, alice if index % 2 else bob, f"new {index}.{n}", thread_id=roots[2 * ((index + n) % 2)].id)

    run_in_threads(7, work)
    client = client_for(alice)
    for root in roots[:3]:
        _assert_numbered(where, root.id, client)
    url = f"{where.url}/{roots[3].id}/replies"
    assert len(client.get(url, {"limit": 100}).json()["results"]) == 12


def test_a_big_threads_counters_stay_exact_under_concurrent_replies_and_deletes(make_channel, make_user, alice):
    """120 replies by 8 users (four blocks), then 4 senders and 3 deleters at once, the
    deleters emptying the newest blocks: the root's reply_count, reply_users and
    last_reply_at are what its stored live replies say."""
    from tests.messaging.support import Where

    users = [alice] + [make_user() for _ in range(7)]
    channel = make_channel(*users)
    where = Where(f"/api/v1/channels/{channel.pk}/messages", {"channel_id": channel.pk}, channel.pk, "channel")
    root = _send(where, alice, "root")
    old = [_send(where, users[n % 8], f"old {n}", thread_id=root.id) for n in range(120)]
    doomed = old[40:] + old[:10]

    def work(index):
        if index < 4:
            for n in range(6):
                reply = _send(where, users[(index * 3 + n) % 8], f"new {index}.{n}", thread_id=root.id)
                if n % 2 == 0:  # the deleters below also delete some of the new ones at once
                    services.message_delete(user=users[(index * 3 + n) % 8], message_id=reply.id, **where.kwargs)
            return
        for message in doomed[index - 4 :: 3]:
            services.message_delete(user=users[old.index(message) % 8], message_id=message.id, **where.kwargs)

    run_in_threads(7, work)
    repo = repository_for(where.conversation.kind)
    stored = sorted(
        repo.collection.find({repo.conversation_field: where.pk, "threadId": root.id, "deletedAt": None}),
        key=lambda raw: raw["seq"],
    )
    recent: list[str] = []
    for raw in reversed(stored):
        if raw["senderId"] not in recent:
            recent.append(raw["senderId"])
    stored_root = repo.get(conversation_id=where.pk, message_id=root.id)
    assert stored_root.reply_count == len(stored) == 30 + 12
    assert list(stored_root.reply_users) == recent[:5]
    assert stored_root.last_reply_at == stored[-1]["createdAt"].replace(tzinfo=stored_root.last_reply_at.tzinfo)


_SENDER_PROCESS = """
import os, sys, threading
import django
django.setup()
from django.db import connection
from accounts.models import User
from messaging import services
channel_id, roots, users, tag = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(","), sys.argv[4]
senders = [User.objects.get(pk=pk) for pk in users]
failures = []
def run(index):
    try:
        for n in range(10):
            root = roots[(index + n) % len(roots)]
            # every third send is retried with the same client_msg_id
            for _ in range(2 if n % 3 == 0 else 1):
                services.message_send(sender=senders[index % len(senders)], channel_id=channel_id,
                    content=f"{tag} {index}.{n}", thread_id=root, client_msg_id=f"{tag}-{index}-{n}")
    except BaseException as exc:
        failures.append(repr(exc))
    finally:
        connection.close()
threads = [threading.Thread(target=run, args=(i,)) for i in range(6)]
[t.start() for t in threads]
[t.join() for t in threads]
print(failures)
sys.exit(1 if failures else 0)
"""


def test_two_processes_replying_to_three_threads_give_unique_increasing_places(channel, alice, bob, client_for):
    """Two server processes (each grouping its own sends) reply to three threads at once,
    some sends retried with the same client_msg_id: in each thread the places are unique
    and grow with seq, the retries stored once, and the pages show every reply."""
    import os
    import subprocess
    import sys

    from django.conf import settings
    from django.db import connection

    from tests.messaging.support import Where

    where = Where(f"/api/v1/channels/{channel.pk}/messages", {"channel_id": channel.pk}, channel.pk, "channel")
    roots = [_send(where, alice, f"root {n}") for n in range(3)]
    _send(where, bob, "a first reply", thread_id=roots[0].id)
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "slackclone.settings_test",
        "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
    }
    args = [str(channel.pk), ",".join(r.id for r in roots), f"{alice.pk},{bob.pk}"]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _SENDER_PROCESS, *args, f"p{n}"],
            env=env,
            cwd=settings.BASE_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=110)
        assert proc.returncode == 0, (out, err[-3000:])
    client = client_for(alice)
    repo = repository_for(where.conversation.kind)
    total = 0
    for root in roots:
        _assert_numbered(where, root.id, client)
        stored = list(repo.collection.find({repo.conversation_field: where.pk, "threadId": root.id}))
        assert len({raw["clientMsgId"] for raw in stored if raw.get("clientMsgId")}) == len(stored) - (root is roots[0])
        total += len(stored)
    assert total == 1 + 2 * 6 * 10


@pytest.mark.parametrize("gap", [1, 32, 40 * 32])
def test_pages_step_over_the_places_of_failed_sends(where, alice, bob, client_for, gap):
    """Places given to sends whose batch failed are never given back (the root's
    lastThreadSeq raised, nothing stored): pages read past the hole, even one of 40
    empty blocks (more than WINDOW_MAX_BLOCKS), and the recent repliers too."""
    repo = repository_for(where.conversation.kind)
    root = _send(where, alice, "root")
    before = [_send(where, alice, f"b{n}", thread_id=root.id) for n in range(30)]
    repo.collection.update_one({"_id": ObjectId(root.id)}, {"$inc": {"lastThreadSeq": gap}})  # a failed batch
    after = [_send(where, bob, f"a{n}", thread_id=root.id) for n in range(5)]
    assert _places(where, root.id) == list(range(1, 31)) + list(range(31 + gap, 36 + gap))
    client = client_for(alice)
    _assert_numbered(where, root.id, client)
    live = [m.seq for m in before + after]
    for limit in (1, 4, 30, 50):
        forward, cursor, turns = [], None, 0
        while True:
            params = {"limit": limit, "after": cursor} if cursor else {"limit": limit, "before": None}
            params = {k: v for k, v in params.items() if v is not None}
            if cursor is None:
                from messaging.cursors import encode_cursor

                params["after"] = encode_cursor(where.conversation, root.seq)
            body = client.get(f"{where.url}/{root.id}/replies", params).json()
            forward += [m["seq"] for m in body["results"]]
            cursor, turns = body["after_cursor"], turns + 1
            if not body["has_more"]:
                break
        assert forward == live
    # the newest 5 replies are bob's; delete them: the repliers are read from past the hole
    for message in after:
        services.message_delete(user=bob, message_id=message.id, **where.kwargs)
    stored_root = repo.get(conversation_id=where.pk, message_id=root.id)
    assert list(stored_root.reply_users) == [str(alice.pk)] and stored_root.reply_count == 30


recorded_repo = windows.recorded_repo  # a repository reporting every find filter


def test_the_recent_repliers_past_a_long_run_of_deleted_replies_take_few_reads(recorded_repo):
    """A member posts 600 replies and deletes them: every later reply or delete in that
    thread recomputes replyUsers under the conversation's lock. A walk of every block
    (s14 as first reviewed: one read per 32 places, 20 here; 1.1 s for 3,000 deleted
    replies on FerretDB against 0.33 s for the read of the whole thread) is bounded: a
    few blocks, then one read of the rest, with the same answer."""
    from messaging import repositories_ext as ext

    repo, finds = recorded_repo
    conversation = Conversation(repo.kind, str(uuid.uuid4()))
    root_id = _store_thread(repo, conversation, 603, root_seq=1, reply_every=1, deleted=set(range(5, 604)))
    finds.recording = True
    numbered = ext.thread_recent_repliers(repo, conversation_id=conversation.id, root_id=root_id)
    finds.recording = False
    repo.collection.update_one({"_id": ObjectId(root_id)}, {"$unset": {"lastThreadSeq": ""}})
    whole = ext.thread_recent_repliers(repo, conversation_id=conversation.id, root_id=root_id)
    assert numbered == whole and numbered[1] is not None
    assert len(finds.filters) <= 1 + ext.REPLY_USERS_BLOCKS + 1


def test_a_reply_sent_while_the_store_is_down_breaks_no_later_page(where, alice, bob, client_for):
    """The send's batch fails at the place's reservation (MongoDB unreachable): 503 for
    that reply, and once the store is back the thread's next replies, its places and its
    pages are as if it had never been tried."""
    from slackclone import errors
    from tests.messaging.conftest import mongo_unreachable

    root = _send(where, alice, "root")
    first = [_send(where, bob, f"r{n}", thread_id=root.id) for n in range(3)]
    _db, restore = mongo_unreachable()
    try:
        with pytest.raises(errors.StoreUnavailable):
            _send(where, bob, "lost", thread_id=root.id)
        response = client_for(bob).post(where.url, {"content": "lost", "thread_id": root.id}, format="json")
        assert response.status_code == 503
    finally:
        restore()
    later = [_send(where, alice, f"l{n}", thread_id=root.id) for n in range(3)]
    client = client_for(alice)
    _assert_numbered(where, root.id, client)
    assert _page_ids(client, f"{where.url}/{root.id}/replies") == [m.id for m in first + later]


def test_the_backfill_numbers_a_big_thread_a_step_at_a_time(channel, alice, bob, client_for, monkeypatch):
    """Numbering holds the conversation's lock about 3 ms a reply on FerretDB (6.5 s for
    2,000 replies): the backfill numbers a thread not numbered yet THREAD_NUMBER_STEP
    replies per hold of the lock (sends go in between), and the thread ends numbered
    1..n with its pages right."""
    import io

    from django.core.management import call_command

    from messaging.services import maintenance, store
    from tests.messaging.support import Where

    where = Where(f"/api/v1/channels/{channel.pk}/messages", {"channel_id": channel.pk}, channel.pk, "channel")
    root = _send(where, alice, "root")
    for n in range(150):
        _send(where, bob, f"old {n}", thread_id=root.id)
    _unnumber(where, [root.id])
    repo = repository_for(where.conversation.kind)
    numbered_at_lock = []
    real = store._lock_if_stored

    def observed(conversation):
        real(conversation)
        if conversation.id == where.pk:
            numbered_at_lock.append(repo.collection.count_documents({"threadId": root.id, "threadSeq": {"$ne": None}}))

    monkeypatch.setattr(store, "_lock_if_stored", observed)
    call_command("backfill_seq_blocks", stdout=io.StringIO())

    assert numbered_at_lock[:3] == [0, 64, 128] and numbered_at_lock[-1] == 150
    assert maintenance.THREAD_NUMBER_STEP == 64
    _assert_numbered(where, root.id, client_for(alice))
