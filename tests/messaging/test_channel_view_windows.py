"""The channel view read in bounded seq windows (issue 17, session 4), and a thread's
replies read in the blocks of their places in the thread (session 14).

The channel view (`thread_roots_only`) names `inChannel: true` as a top-level equality
(FerretDB 1.24 pushes it down; the former `$or` on threadId/alsoInChannel it did not, so
it decoded every hidden reply of each block). A thread's page reads the blocks of
`threadSeq` (before session 14: the conversation's seq blocks, 7 or 8 a page for a
thread of 1 message in 4; before session 4: one unbounded read of the whole thread); a
thread stored before its replies were numbered is read by keyset. Pages, `has_more`
and cursors stay exactly what the unbounded reads answer, with hidden replies and
deleted messages inside the windows."""

import dataclasses
import io
import random
import uuid

import pytest
from bson import ObjectId
from django.core.management import call_command

from messaging import services
from messaging.documents import Conversation
from messaging.repositories import (
    SEQ_BLOCK,
    WINDOW_MAX_BLOCKS,
    ChannelMessageRepository,
    DmMessageRepository,
    repository_for,
    thread_block,
)
from tests.messaging import test_history_windows as windows
from tests.messaging.support import assert_index_used
from tests.messaging.test_history_windows import START, _doc, _ferretdb_postgresql_plan

recorded_repo = windows.recorded_repo  # the fixture: a repository reporting every find filter


def _store_thread(
    repo, conversation, last, *, root_seq, reply_every, also=(), deleted=(), tombstone=False, numbered=True
):
    """Messages 1..last; every `reply_every`-th after `root_seq` a reply to the root at
    `root_seq` (those in `also` also in the channel); `deleted` soft-deleted; with
    `tombstone` the root is deleted but keeps its replies counted (a tombstone).
    `numbered`: the replies have their places (threadSeq 1, 2, ...) and the root its
    lastThreadSeq, as sends give them; without, as stored before session 14.
    Returns the root's id."""
    root_id = repo.new_id()
    docs = []
    places = 0
    for seq in range(1, last + 1):
        extra: dict = {}
        if seq > root_seq and (seq - root_seq) % reply_every == 0:
            places += 1
            extra |= {"thread_id": root_id, "also_in_channel": seq in also}
            if numbered:
                extra["thread_seq"] = places
        if seq in deleted or (tombstone and seq == root_seq):
            extra |= {"deleted_at": START, "deleted_by": str(uuid.UUID(int=1))}
        doc = _doc(conversation, seq, **extra)
        if seq == root_seq:
            doc = dataclasses.replace(doc, id=root_id, dedupe_key=f"s:{root_id}")
        docs.append(doc)
    repo.insert_many(docs)
    numbering = {"lastThreadSeq": places} if numbered else {}
    repo.collection.update_one({"_id": ObjectId(root_id)}, {"$set": {"replyCount": 1, **numbering}})
    return root_id


def _thread_top(repo, root_id):
    """The root's lastThreadSeq, as the API reads it before a thread page."""
    return repo.collection.find_one({"_id": ObjectId(root_id)}).get("lastThreadSeq")


def _thread_page(repo, conversation, root_id, *, top, limit, thread_top=..., **cursor):
    if thread_top is ...:
        thread_top = _thread_top(repo, root_id)
    return repo.thread_page(
        conversation_id=conversation.id, thread_id=root_id, thread_top=thread_top, top=top, limit=limit, **cursor
    )


def _visible_seqs(repo, conversation_id, **view) -> list[int]:
    """What the view shows, computed here from the stored documents (not by a query of
    the code under test): live messages and tombstones; the channel view without replies
    not also in the channel; a thread: its live replies. Oldest first."""
    seqs = []
    for raw in repo.collection.find({repo.conversation_field: conversation_id}):
        live = raw.get("deletedAt") is None
        if view.get("thread_id") is not None:
            if raw.get("threadId") == view["thread_id"] and live:
                seqs.append(int(raw["seq"]))
            continue
        if not (live or (raw.get("replyCount") or 0) > 0):
            continue
        if view.get("roots_only") and raw.get("threadId") is not None and not raw.get("alsoInChannel"):
            continue
        seqs.append(int(raw["seq"]))
    return sorted(seqs)


def _expected(visible, *, limit, before=None, after=None) -> list[int]:
    if after is not None:
        return [s for s in visible if s > after][:limit]
    older = [s for s in visible if before is None or s < before]
    return older[::-1][:limit]


def _conversation(repo):
    return Conversation(repo.kind, str(uuid.uuid4()))


# --- the channel view ---------------------------------------------------------------


def test_a_message_is_stored_with_in_channel(where, alice, bob):
    root = services.message_send(sender=alice, **where.kwargs, content="root").message
    reply = services.message_send(sender=bob, **where.kwargs, content="r", thread_id=root.id).message
    also = services.message_send(
        sender=bob, **where.kwargs, content="a", thread_id=root.id, also_in_channel=True
    ).message
    collection = repository_for(where.conversation.kind).collection

    stored = {
        str(raw["_id"]): raw.get("inChannel")
        for raw in collection.find({"_id": {"$in": [ObjectId(root.id), ObjectId(reply.id), ObjectId(also.id)]}})
    }

    assert stored == {root.id: True, reply.id: False, also.id: True}


def test_the_channel_view_names_in_channel_as_a_top_level_equality_in_every_block_read(recorded_repo):
    """FerretDB 1.24 pushes a top-level equality down to PostgreSQL, not an `$or`: with
    `inChannel: true` in each block's filter the hidden replies are never decoded."""
    repo, finds = recorded_repo
    conversation = _conversation(repo)
    root_id = _store_thread(repo, conversation, 400, root_seq=10, reply_every=2)

    finds.recording = True
    page = repo.window_page(conversation_id=conversation.id, top=400, limit=51, roots_only=True)
    finds.recording = False

    assert [m.seq for m in page] == _expected(_visible_seqs(repo, conversation.id, roots_only=True), limit=51)
    assert all(m.thread_id != root_id for m in page)
    block_reads = [query for query in finds.filters if isinstance(query.get("seq"), dict)]
    assert block_reads
    for query in block_reads:
        assert query["inChannel"] is True
        assert query["seqBlock"].startswith(f"{conversation.id}:")
        assert "threadId" not in str(query.get("$and"))
    # 51 roots among 1 reply in 2: about 102 seqs, 4 or 5 blocks of 32.
    assert len(block_reads) <= 5


@pytest.mark.parametrize("repo_class", [ChannelMessageRepository, DmMessageRepository])
def test_on_ferretdb_postgresql_the_channel_view_block_read_filters_in_channel_in_postgresql(repo_class):
    repo = repo_class()
    conversation = _conversation(repo)
    _store_thread(repo, conversation, 100, root_seq=1, reply_every=2)

    explain = repo.explain_window(conversation_id=conversation.id, seq=100, limit=51, roots_only=True)
    plan = _ferretdb_postgresql_plan(repo, explain)

    assert explain.get("filterPushdown") is True
    assert "_sc_gin_seqblock" in plan and "inChannel" in plan, plan


@pytest.mark.parametrize("repo_class", [ChannelMessageRepository, DmMessageRepository])
def test_a_channel_view_block_read_uses_the_conversation_seq_index(repo_class):
    """On MongoDB: an IXSCAN of (conversation, seq), no sort (xfail on FerretDB)."""
    repo = repo_class()
    conversation = _conversation(repo)
    _store_thread(repo, conversation, 100, root_seq=1, reply_every=2)

    explain = repo.explain_window(conversation_id=conversation.id, seq=100, limit=51, roots_only=True)

    assert_index_used(repo, explain, f"{repo.conversation_field}_1_seq_1")


@pytest.mark.django_db  # the numbering takes each conversation's lock
def test_backfill_sets_in_channel_on_documents_stored_before_it_and_numbers_old_threads():
    """Upgrade path: documents stored without `inChannel` are not in the channel view
    until `backfill_seq_blocks` sets it (roots and replies also in the channel: true;
    other replies: false). A thread stored before session 14 (no threadSeq, no
    lastThreadSeq) is read whole by keyset meanwhile, then in its blocks once numbered."""
    repo = ChannelMessageRepository()
    conversation = _conversation(repo)
    root_id = _store_thread(repo, conversation, 60, root_seq=5, reply_every=3, also={8, 59}, numbered=False)
    repo.collection.update_many({repo.conversation_field: conversation.id}, {"$unset": {"inChannel": ""}})
    assert repo.window_page(conversation_id=conversation.id, top=60, limit=5, roots_only=True) == []
    replies = _visible_seqs(repo, conversation.id, thread_id=root_id)
    assert len(replies) == 18
    assert [m.seq for m in _thread_page(repo, conversation, root_id, top=60, limit=5)] == replies[::-1][:5]

    out = io.StringIO()
    call_command("backfill_seq_blocks", stdout=out)
    call_command("backfill_seq_blocks", stdout=out)  # idempotent

    expected = _visible_seqs(repo, conversation.id, roots_only=True)
    assert 59 in expected and 8 in expected and 56 not in expected
    page = repo.window_page(conversation_id=conversation.id, top=60, limit=100, roots_only=True)
    assert [m.seq for m in page] == expected[::-1]
    assert repo.collection.count_documents({"inChannel": {"$exists": False}}) == 0
    stored = sorted(repo.collection.find({"threadId": root_id}), key=lambda raw: raw["seq"])
    assert [raw["threadSeq"] for raw in stored] == list(range(1, 19))
    assert [raw["threadBlock"] for raw in stored] == [thread_block(root_id, n) for n in range(1, 19)]
    assert _thread_top(repo, root_id) == 18
    assert [m.seq for m in _thread_page(repo, conversation, root_id, top=60, limit=5)] == replies[::-1][:5]
    assert "inChannel" in out.getvalue() and "1 thread(s) given threadSeq" in out.getvalue()


@pytest.mark.django_db  # the numbering takes each conversation's lock
def test_backfill_numbers_again_a_thread_where_an_older_server_stored_replies_without_a_place():
    """A rolling upgrade: a server of before session 14 stores replies without threadSeq
    in a thread the new ones numbered. `backfill_seq_blocks` renumbers that thread 1..n
    in seq order and sets lastThreadSeq to n."""
    repo = ChannelMessageRepository()
    conversation = _conversation(repo)
    root_id = _store_thread(repo, conversation, 100, root_seq=1, reply_every=3)  # places 1..33
    for seq in (41, 71):  # stored by the older server
        repo.collection.update_one(
            {repo.conversation_field: conversation.id, "seq": seq},
            {"$set": {"threadId": root_id, "inChannel": False}, "$unset": {"threadSeq": "", "threadBlock": ""}},
        )
    visible = _visible_seqs(repo, conversation.id, thread_id=root_id)
    assert 41 not in [m.seq for m in _thread_page(repo, conversation, root_id, top=100, limit=100)]

    call_command("backfill_seq_blocks", stdout=io.StringIO())

    stored = sorted(repo.collection.find({"threadId": root_id}), key=lambda raw: raw["seq"])
    assert [raw["threadSeq"] for raw in stored] == list(range(1, 36))
    assert _thread_top(repo, root_id) == 35
    assert [m.seq for m in _thread_page(repo, conversation, root_id, top=100, limit=100)] == visible[::-1]


# --- a thread's replies ---------------------------------------------------------------


def test_a_busy_thread_page_reads_only_its_own_blocks(recorded_repo):
    """Replies 1 in 4 of the conversation: each page reads two or three blocks of the
    thread's own places (before session 14: 7 or 8 seq blocks of the conversation)."""
    repo, finds = recorded_repo
    conversation = _conversation(repo)
    root_id = _store_thread(repo, conversation, 2000, root_seq=1, reply_every=4)
    thread_top = _thread_top(repo, root_id)

    finds.recording = True
    newest = _thread_page(repo, conversation, root_id, top=2000, limit=51, thread_top=thread_top)
    older = _thread_page(repo, conversation, root_id, top=2000, limit=51, before=1001, thread_top=thread_top)
    newer = _thread_page(repo, conversation, root_id, top=2000, limit=51, after=1901, thread_top=thread_top)
    finds.recording = False

    visible = _visible_seqs(repo, conversation.id, thread_id=root_id)
    assert [m.seq for m in newest] == _expected(visible, limit=51)
    assert [m.seq for m in older] == _expected(visible, limit=51, before=1001)
    assert [m.seq for m in newer] == _expected(visible, limit=51, after=1901)
    block_reads = [query for query in finds.filters if "threadBlock" in query]
    for query in block_reads:
        assert query["threadBlock"].startswith(f"{root_id}/") and query["$and"][0]["threadId"] == root_id
    assert len(block_reads) <= 3 * 3, [query["threadBlock"] for query in block_reads]
    # Besides them only point reads: past the counter, and the cursor's reply (its place).
    assert all("threadBlock" in query or isinstance(query.get("seq"), int) for query in finds.filters)


def test_a_thread_stored_before_its_replies_were_numbered_is_read_by_keyset(recorded_repo):
    repo, finds = recorded_repo
    conversation = _conversation(repo)
    root_id = _store_thread(repo, conversation, 300, root_seq=1, reply_every=4, numbered=False)

    finds.recording = True
    page = _thread_page(repo, conversation, root_id, top=300, limit=51)
    finds.recording = False

    assert [m.seq for m in page] == _expected(_visible_seqs(repo, conversation.id, thread_id=root_id), limit=51)
    assert not any("threadBlock" in query for query in finds.filters)
    assert finds.filters[-1]["threadId"] == root_id


def test_a_long_run_of_deleted_replies_leaves_the_blocks_for_the_keyset_read(recorded_repo):
    repo, finds = recorded_repo
    conversation = _conversation(repo)
    deleted = set(range(1000 - 20 * SEQ_BLOCK, 1001))  # the 20 newest blocks of the thread
    root_id = _store_thread(repo, conversation, 1000, root_seq=1, reply_every=1, deleted=deleted)

    finds.recording = True
    page = _thread_page(repo, conversation, root_id, top=1000, limit=51)
    finds.recording = False

    assert [m.seq for m in page] == _expected(_visible_seqs(repo, conversation.id, thread_id=root_id), limit=51)
    assert len([query for query in finds.filters if "threadBlock" in query]) == WINDOW_MAX_BLOCKS
    assert "threadBlock" not in finds.filters[-1] and finds.filters[-1]["threadId"] == root_id


def test_a_page_never_shows_a_reply_without_the_earlier_ones_when_its_root_was_read_before_them():
    """Replies numbered after the root's lastThreadSeq was read (a send between the two
    reads) are left for the next page: what the page shows is every reply up to one."""
    repo = ChannelMessageRepository()
    conversation = _conversation(repo)
    root_id = _store_thread(repo, conversation, 200, root_seq=1, reply_every=2)  # 99 replies, places 1..99
    for thread_top in (0, 31, 32, 40, 63, 64, 99, 100):
        newest = _thread_page(repo, conversation, root_id, top=200, limit=200, thread_top=thread_top)
        shown = sorted(m.seq for m in newest)
        assert shown == [seq for seq in range(3, 201, 2)][: len(shown)], thread_top
        assert len(shown) >= min(thread_top, 99)
        newer = _thread_page(repo, conversation, root_id, top=200, limit=200, after=0, thread_top=thread_top)
        assert [m.seq for m in newer] == shown, thread_top


def test_the_recent_repliers_of_a_numbered_thread_are_read_from_its_newest_blocks(recorded_repo):
    """A root's replyUsers / lastReplyAt (recomputed under the lock at each reply) come
    from the thread's newest blocks, past a run of deleted replies and replies of one
    user, and equal what the read of the whole thread answers (a thread never
    numbered); before session 14 that read decoded every reply on FerretDB."""
    from pymongo import UpdateOne

    from messaging import repositories_ext as ext

    repo, finds = recorded_repo
    conversation = _conversation(repo)
    deleted = set(range(250, 271))
    root_id = _store_thread(repo, conversation, 300, root_seq=1, reply_every=1, deleted=deleted)
    senders = {seq: str(uuid.UUID(int=1 if seq > 200 else seq % 9)) for seq in range(2, 301)}
    updates = [
        UpdateOne({"seq": seq, repo.conversation_field: conversation.id}, {"$set": {"senderId": user}})
        for seq, user in senders.items()
    ]
    for start in range(0, len(updates), 16):
        repo.collection.bulk_write(updates[start : start + 16])

    finds.recording = True
    numbered = ext.thread_recent_repliers(repo, conversation_id=conversation.id, root_id=root_id)
    finds.recording = False
    repo.collection.update_one({"_id": ObjectId(root_id)}, {"$unset": {"lastThreadSeq": ""}})
    whole = ext.thread_recent_repliers(repo, conversation_id=conversation.id, root_id=root_id)

    assert numbered == whole
    assert numbered[0][0] == str(uuid.UUID(int=1)) and len(numbered[0]) == 5
    assert [query.get("threadBlock") for query in finds.filters[1:]] == [
        thread_block(root_id, place) for place in (288, 256, 224, 192)
    ]  # the newest place is 299: blocks 9, 8, 7 and 6


def test_a_long_thread_of_few_repliers_is_read_whole_after_its_newest_blocks(recorded_repo):
    """Fewer than 5 repliers in a thread longer than REPLY_USERS_BLOCKS blocks: after
    those blocks, the read of the whole thread answers (its oldest replier counts)."""
    from pymongo import UpdateOne

    from messaging import repositories_ext as ext

    repo, finds = recorded_repo
    conversation = _conversation(repo)
    root_id = _store_thread(repo, conversation, 300, root_seq=1, reply_every=1)
    updates = [
        UpdateOne({"seq": seq, repo.conversation_field: conversation.id}, {"$set": {"senderId": str(uuid.UUID(int=7))}})
        for seq in (2, 3)
    ]
    repo.collection.bulk_write(updates)

    finds.recording = True
    users, _last = ext.thread_recent_repliers(repo, conversation_id=conversation.id, root_id=root_id)
    finds.recording = False

    assert users == [str(uuid.UUID(int=1)), str(uuid.UUID(int=7))]
    assert len([query for query in finds.filters if "threadBlock" in query]) == ext.REPLY_USERS_BLOCKS
    assert "threadBlock" not in finds.filters[-1] and finds.filters[-1]["threadId"] == root_id


@pytest.mark.parametrize("repo_class", [ChannelMessageRepository, DmMessageRepository])
def test_a_thread_block_read_uses_the_conversation_thread_place_index(repo_class):
    """On MongoDB: an IXSCAN of (conversation, threadId, threadSeq) (xfail on FerretDB)."""
    repo = repo_class()
    conversation = _conversation(repo)
    root_id = _store_thread(repo, conversation, 100, root_seq=1, reply_every=2)

    explain = repo.explain_window(conversation_id=conversation.id, seq=100, limit=51, thread_id=root_id)

    assert_index_used(repo, explain, f"{repo.conversation_field}_1_threadId_1_threadSeq_1")


@pytest.mark.parametrize("repo_class", [ChannelMessageRepository, DmMessageRepository])
def test_on_ferretdb_postgresql_a_thread_block_read_uses_the_thread_block_gin_index(repo_class):
    repo = repo_class()
    conversation = _conversation(repo)
    root_id = _store_thread(repo, conversation, 100, root_seq=1, reply_every=2)

    explain = repo.explain_window(conversation_id=conversation.id, seq=100, limit=51, thread_id=root_id)
    plan = _ferretdb_postgresql_plan(repo, explain)

    assert explain.get("filterPushdown") is True
    # The block's equality from its GIN index; the root is not pushed down (PostgreSQL
    # would pick the GIN index on threadId and read every reply of the thread).
    assert "_sc_gin_threadblock" in plan and "threadId" not in plan, plan


# --- exact pages ------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(8))
def test_view_pages_equal_what_the_stored_documents_say(seed):
    """Random conversations with busy or sparse threads, replies also in the channel,
    deleted runs and tombstones, counters behind or ahead of MongoDB: every page of the
    channel view and of the thread, in both directions, is exactly the visible messages
    computed from the documents, and has_more (one more than asked) is exact."""
    rng = random.Random(seed)
    repo = ChannelMessageRepository() if seed % 2 else DmMessageRepository()
    conversation = _conversation(repo)
    last = rng.choice([40, 150, 700, 1200])
    root_seq = rng.randint(1, max(1, last // 4))
    reply_every = rng.choice([1, 2, 3, 7, 40])
    also = {s for s in range(root_seq + 1, last + 1) if rng.random() < 0.1}
    deleted = {s for s in range(1, last + 1) if rng.random() < rng.choice([0.0, 0.2, 0.6])}
    if last > 200 and rng.random() < 0.5:
        start = rng.randint(root_seq + 1, last - 1)
        deleted |= set(range(start, min(last, start + 6 * SEQ_BLOCK)))
    root_id = _store_thread(
        repo,
        conversation,
        last,
        root_seq=root_seq,
        reply_every=reply_every,
        also=also,
        deleted=deleted - {root_seq},
        tombstone=rng.random() < 0.3,
        numbered=seed != 3,
    )
    for view in ({"roots_only": True}, {"thread_id": root_id}):
        visible = _visible_seqs(repo, conversation.id, **view)
        for top in {last, max(0, last - rng.randint(1, 40)), last + rng.randint(1, 40)}:
            for limit in (1, 7, 51):
                cases = [{}] + [{"before": rng.randint(0, last + 40)} for _ in range(3)]
                cases += [{"after": rng.randint(0, last + 40)} for _ in range(3)]
                for cursor in cases:
                    if "thread_id" in view:
                        page = _thread_page(repo, conversation, root_id, top=top, limit=limit + 1, **cursor)
                    else:
                        page = repo.window_page(
                            conversation_id=conversation.id, top=top, limit=limit + 1, **cursor, **view
                        )
                    expected = _expected(visible, limit=limit + 1, **cursor)
                    assert [m.seq for m in page] == expected, (view, top, limit, cursor)


def _page(client, url, **params):
    response = client.get(url, params)
    assert response.status_code == 200, response.content
    return response.json()


def test_channel_view_pages_over_a_busy_thread_and_deletes_keep_cursors_and_has_more_exact(
    client_for, alice, bob, where
):
    """Through the API: a channel view page whose windows are mostly hidden replies and
    deleted messages; paging back and forward visits every shown message once."""
    sent = []

    def send(user, content, **extra):
        message = services.message_send(sender=user, **where.kwargs, content=content, **extra).message
        sent.append(message)
        return message

    first = send(alice, "first")
    root = send(alice, "root")
    for n in range(90):  # a busy thread: 90 hidden replies, every 30th also in the channel
        send(bob, f"r{n}", thread_id=root.id, also_in_channel=n % 30 == 29)
    middle = send(alice, "middle")
    doomed = [send(alice, f"d{n}") for n in range(40)]
    for message in doomed:
        services.message_delete(user=alice, **where.kwargs, message_id=message.id)
    last = [send(bob, f"l{n}") for n in range(3)]
    client = client_for(alice)

    shown = [m.seq for m in sent if (m.thread_id is None or m.also_in_channel) and m not in doomed]
    assert shown == [
        first.seq,
        root.seq,
        *(m.seq for m in sent if m.also_in_channel),
        middle.seq,
        *(m.seq for m in last),
    ]
    view = {"thread_roots_only": "true", "limit": 3}
    pages = [_page(client, where.url, **view)]
    while pages[-1]["has_more"]:
        pages.append(_page(client, where.url, **view, before=pages[-1]["before_cursor"]))
    walked = [m["seq"] for page in reversed(pages) for m in page["results"]]
    assert walked == sorted(set(walked))  # each once, in order (SYSTEM "joined" messages first)
    assert [s for s in walked if s >= first.seq] == shown
    assert _page(client, where.url, **view, before=pages[-1]["before_cursor"])["results"] == []
    oldest_page_end = pages[-1]["results"][-1]["seq"]
    forward = _page(client, where.url, thread_roots_only="true", limit=4, after=pages[-1]["after_cursor"])
    assert [m["seq"] for m in forward["results"]] == [s for s in walked if s > oldest_page_end][:4]
    assert forward["has_more"] is True
    thread = _page(client, f"{where.url}/{root.id}/replies", limit=60)
    assert [m["seq"] for m in thread["results"]] == [m.seq for m in sent if m.thread_id == root.id][-60:]
    assert thread["has_more"] is True
