#!/usr/bin/env python
"""Unread and mention counts for a user in many conversations (issue 18).

Seeds a user in --conversations channels (default 500) with --messages each (default
20, bulk imported); the user has read every channel to its newest seq except --unread
of them (default 100), where the last 5 messages are unread and one of them mentions the
user. Then measures, in-process, p50/p99 of:

  * the counts of one sidebar page (50 conversations, 10 of them with unread), as
    GET /conversations computes them: `readstate.selectors.counts_many`, one
    PostgreSQL query on the unread index;
  * GET /unreads through Django's test client (all conversations, plus threads);
  * the baselines: the same page counted with one query per conversation (a naive
    per-row count), and with the first design's two aggregations on MongoDB.

and the per-send cost of read state: the p50 of message_send in a 2-member channel
with the notification decision on and off (monkeypatched out), in the same run, and
with an `@channel` mention in a 50-member channel (the fan-out case).

    .venv/bin/python bench/unreads.py                      # the issue's figures
    .venv/bin/python bench/unreads.py --conversations 50 --unread 10 --requests 20   # smoke
"""

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import django_setup, emit_row, percentile, remove_fixture


def _timed(func, n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        func()
        out.append((time.perf_counter() - start) * 1000)
    return out


def _fmt(values) -> str:
    return f"p50 {percentile(values, 50):.2f} ms, p99 {percentile(values, 99):.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=500)
    parser.add_argument("--unread", type=int, default=100)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--sends", type=int, default=100)
    args = parser.parse_args()
    django_setup()
    from bson import ObjectId
    from django.db import connection
    from pymongo import UpdateOne
    from pymongo.errors import PyMongoError
    from rest_framework.test import APIClient

    from accounts.models import User, WorkspaceMember, default_workspace_id
    from accounts.services import token_create
    from channels_app.models import Channel, ChannelMember
    from messaging import services
    from messaging.documents import Conversation, ConversationKind
    from messaging.repositories import repository_for
    from readstate import notifications, selectors
    from readstate.models import ReadMarker

    tag = uuid.uuid4().hex[:8]
    workspace_id = default_workspace_id()
    reader = User.objects.create_user(f"sb{tag}r", f"sb{tag}r@example.com", "x" * 12)
    writer = User.objects.create_user(f"sb{tag}w", f"sb{tag}w@example.com", "x" * 12)
    extras = [User.objects.create_user(f"sb{tag}x{n}", f"sb{tag}x{n}@example.com", "x" * 12) for n in range(48)]
    users = [reader, writer, *extras]
    memberships = [WorkspaceMember.objects.create(workspace_id=workspace_id, user=u) for u in users]
    channels = Channel.objects.bulk_create(
        [Channel(workspace_id=workspace_id, name=f"sb{tag}-{n}", created_by=writer) for n in range(args.conversations)]
    )
    ChannelMember.objects.bulk_create([ChannelMember(channel=c, user=u) for c in channels for u in (reader, writer)])
    print(f"seeding {args.conversations} channels x {args.messages} messages ...", flush=True)
    conversations = [Conversation(ConversationKind.CHANNEL, str(c.pk), str(workspace_id)) for c in channels]
    unread_ids = {c.id for c in conversations[:: max(1, args.conversations // args.unread)][: args.unread]}
    markers, lasts = [], []
    for conversation in conversations:
        drafts = [
            services.MessageDraft(
                sender_id=str(writer.pk),
                content=f"m{n} <@{reader.pk}>" if n == args.messages - 1 else f"m{n}",
            )
            for n in range(args.messages)
        ]
        stored = services.messages_import(conversation=conversation, drafts=drafts)
        last = stored[-1].seq
        lasts.append((conversation.id, last, stored[-1].id))
        markers.append(
            ReadMarker(
                user=reader,
                workspace_id=workspace_id,
                kind="channel",
                conversation_id=conversation.id,
                last_read_seq=last - 5 if conversation.id in unread_ids else last,
            )
        )
    repo = repository_for(ConversationKind.CHANNEL)
    updates = [UpdateOne({"_id": ObjectId(mid)}, {"$set": {"mentions": [str(reader.pk)]}}) for _c, _s, mid in lasts]
    for start in range(0, len(updates), 10):  # small commands: FerretDB 1.24 scans per _id lookup
        repo.collection.bulk_write(updates[start : start + 10], ordered=False)
    # The import does not resolve mentions: the last message of each mentions the
    # reader, in both stores (the unread index is what the counts read).
    with connection.cursor() as cursor:
        cursor.executemany(
            "UPDATE unread_entries SET mentions = ARRAY[%s]::uuid[] WHERE conversation_id = %s AND seq = %s",
            [(reader.pk, uuid.UUID(cid), seq) for cid, seq, _mid in lasts],
        )
    ReadMarker.objects.bulk_create(markers)
    marks = {c: m.last_read_seq for c, m in zip(conversations, markers, strict=True)}

    # A sidebar page: 50 conversations, 10 of them unread (as in 100 of 500).
    page = list(marks)[:50]
    page_marks = {c: marks[c] for c in page}
    got = selectors.counts_many(user_id=reader.pk, markers=page_marks)
    print(f"page: {sum(1 for n in got.values() if n.unread_count)} conversations with unread")

    def naive():
        for c, m in page_marks.items():
            selectors.counts_many(user_id=reader.pk, markers={c: m})

    def on_the_message_store():
        """The first design's count, for comparison: one aggregation per count on MongoDB."""
        user = str(reader.pk)
        branches = [{"channelId": c.id, "seq": {"$gt": m}} for c, m in page_marks.items()]
        unread = {
            "$and": [
                {"$or": branches},
                {"deletedAt": None, "type": "TEXT", "senderId": {"$ne": user}},
                {"$or": [{"threadId": None}, {"alsoInChannel": True}]},
            ]
        }
        mentions = {"$and": [unread, {"$or": [{"mentions": user}, {"mentionsChannel": True}]}]}
        for query in (unread, mentions):
            list(repo.collection.aggregate([{"$match": query}, {"$group": {"_id": "$channelId", "n": {"$sum": 1}}}]))

    page_times = _timed(lambda: selectors.counts_many(user_id=reader.pk, markers=page_marks), args.requests)
    naive_times = _timed(naive, max(5, args.requests // 5))
    try:
        store_times = _timed(on_the_message_store, max(3, args.requests // 10))
    except PyMongoError as exc:  # FerretDB 1.24 reads the whole collection for it
        print(f"first design on the message store: failed ({type(exc).__name__}: over the socket timeout)")
        store_times = None
    client = APIClient(SERVER_NAME="127.0.0.1")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_create(user=reader, membership=memberships[0])}")
    totals = client.get("/api/v1/unreads").json()
    print("GET /unreads:", totals)
    unreads_times = _timed(lambda: client.get("/api/v1/unreads"), args.requests)
    print(f"sidebar page counts (50 conversations, one query):          {_fmt(page_times)}")
    print(f"baseline, one query per conversation (50 queries):          {_fmt(naive_times)}")
    if store_times is not None:
        print(f"baseline, first design: 2 aggregations on the message store: {_fmt(store_times)}")
    print(f"GET /unreads ({args.conversations} conversations):               {_fmt(unreads_times)}")

    # Per-send cost of the notification decision.
    small = channels[0]
    big = channels[1]
    ChannelMember.objects.bulk_create([ChannelMember(channel=big, user=u) for u in extras])

    def send(channel, content):
        return lambda: services.message_send(sender=writer, channel_id=channel.pk, content=content)

    with_n = _timed(send(small, "hello"), args.sends)
    original = notifications.after_send
    notifications.after_send = lambda **kwargs: {}
    try:
        without_n = _timed(send(small, "hello"), args.sends)
        big_without = _timed(send(big, "@channel hello"), max(10, args.sends // 5))
    finally:
        notifications.after_send = original
    big_with = _timed(send(big, "@channel hello"), max(10, args.sends // 5))
    # Per-send cost of the unread index: its row write on and off (interleaved halves).
    from readstate import counting

    # A send writes its rows with the statements of entries_add_statements
    # (messaging.services.derived), not through entries_add.
    real_add = counting.entries_add_statements
    index_on, index_off = [], []
    for _ in range(2):
        index_on += _timed(send(small, "hello"), args.sends // 2)
        counting.entries_add_statements = lambda messages: []
        try:
            index_off += _timed(send(small, "hello"), args.sends // 2)
        finally:
            counting.entries_add_statements = real_add
    print(f"send, 2 members, unread index off (baseline):  p50 {statistics.median(index_off):.2f} ms")
    print(f"send, 2 members, unread index on:              p50 {statistics.median(index_on):.2f} ms")
    print(f"send, 2 members, notifications off (baseline): p50 {statistics.median(without_n):.2f} ms")
    print(f"send, 2 members, notifications on:             p50 {statistics.median(with_n):.2f} ms")
    print(f"send @channel, 50 members, off (baseline):      p50 {statistics.median(big_without):.2f} ms")
    print(f"send @channel, 50 members, on (49 notified):    p50 {statistics.median(big_with):.2f} ms")
    emit_row(
        "sidebar page counts, 500 conversations / 100 unread",
        f"{percentile(naive_times, 50):.1f} ms (per-row counts)",
        f"{percentile(page_times, 50):.1f} ms",
        f"{percentile(page_times, 50) / max(percentile(naive_times, 50), 1e-9):.2f}",
        None,
        "first design on the message store: "
        + (f"{percentile(store_times, 50):.1f} ms" if store_times is not None else "timed out (> 4 s)"),
    )
    emit_row(
        "send cost of the unread index, 2 members",
        f"{statistics.median(index_off):.2f} ms (off)",
        f"{statistics.median(index_on):.2f} ms",
        f"{statistics.median(index_on) / max(statistics.median(index_off), 1e-9):.2f}",
        None,
        "p50, interleaved halves",
    )
    remove_fixture(user_ids=[u.pk for u in users], channel_ids=[str(c.pk) for c in channels])


if __name__ == "__main__":
    main()
