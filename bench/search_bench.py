#!/usr/bin/env python
"""Message search: latency per query kind, index size, and what indexing costs a send.

Seeds --messages messages (default 200,000; the issue states 1,000,000) over
--conversations channels (default 1,000), a bench user being a member of --member-of
of them (default 50), with chat-like text (a vocabulary of common and rare words,
technical tokens, emoji, and 5% Chinese/Japanese messages). The index rows are written
with the backend's own write (the SQL of the send path, in batches); the MongoDB
documents too (insert_many), for every conversation, unless --mongo-members-only.

Then, for each query kind (a selective word, a common word, a phrase, a prefix, a CJK
substring), p50/p99 of --requests searches:
  * through the API: GET /api/v1/search/messages over HTTP to a daphne process started
    here (or --base-url / --in-process);
  * the engine alone: the backend's search() for the same spec, in this process (the
    baseline: what PostgreSQL costs; the rest is Django, MongoDB and HTTP).
Index size per message: pg_total_relation_size(search_entries) / rows.
Send cost: --sends sends through messaging.services.message_send (the real path), in
alternating rounds with the index write on and off (monkeypatched away), same run.

    .venv/bin/python bench/search_bench.py --messages 20000 --requests 20      # smoke check
    .venv/bin/python bench/search_bench.py --messages 1000000                 # the issue's size
"""

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import django_setup, emit_row, login_token, percentile, start_web_server, stop_processes, wait_http

django_setup()

from django.db import connection, transaction  # noqa: E402

from accounts.models import User, default_workspace_id  # noqa: E402
from channels_app.models import Channel, ChannelMember  # noqa: E402
from messaging import services as message_services  # noqa: E402
from messaging.documents import Conversation, ConversationKind, MessageDocument, MessageType  # noqa: E402
from messaging.repositories import ChannelMessageRepository, ensure_indexes  # noqa: E402
from search import services as search_services  # noqa: E402
from search.backends import SearchSpec, get_backend  # noqa: E402
from search.backends.postgres import _row  # noqa: E402
from search.query import parse_query  # noqa: E402
from tests.conftest import join_workspace  # noqa: E402

COMMON = [
    "the",
    "a",
    "to",
    "and",
    "is",
    "it",
    "in",
    "we",
    "on",
    "for",
    "that",
    "this",
    "with",
    "be",
    "you",
    "can",
    "i",
    "have",
    "are",
    "not",
    "just",
    "so",
    "but",
    "if",
    "do",
    "what",
    "at",
    "was",
    "all",
    "will",
    "get",
    "now",
    "build",
    "deploy",
    "test",
    "fix",
    "merge",
    "review",
    "team",
    "today",
    "meeting",
    "please",
    "thanks",
    "ok",
    "yes",
    "no",
    "think",
    "need",
    "update",
    "release",
    "branch",
    "issue",
    "bug",
    "error",
    "logs",
    "server",
]
RARE = ["zephyrine", "quokkabyte", "flumox", "vantablack", "murmuration"]
TECH = ["v1.2.3", "foo-bar", "snake_case", "https://ci.example.com/job/42", "node-7", "🚀", "🎉", "`make test`"]
CJK = ["明天我们部署新版本", "本番環境へのデプロイは金曜日です", "服务器日志有错误", "テストが失敗しました"]
QUERIES = {
    "selective word": "zephyrine",
    "common word": "deploy",
    "phrase": '"the release"',
    "prefix": "deplo",
    "CJK substring": "部署",
}


def sentence(rng: random.Random) -> str:
    if rng.random() < 0.05:
        return rng.choice(CJK) + (" " + rng.choice(COMMON) if rng.random() < 0.5 else "")
    words = [rng.choice(COMMON) for _ in range(rng.randint(4, 16))]
    if rng.random() < 0.1:
        words.insert(rng.randrange(len(words)), rng.choice(TECH))
    if rng.random() < 0.0005 * 20:
        words.insert(rng.randrange(len(words)), rng.choice(RARE))
    return " ".join(words)


def seed(args, rng, tag):
    workspace_id = str(default_workspace_id())
    user = User.objects.create_user(f"bench{tag}", f"bench{tag}@example.invalid", None)
    join_workspace(user)
    channels = Channel.objects.bulk_create(
        [Channel(name=f"bench-{tag}-{i}", created_by=user) for i in range(args.conversations)]
    )
    members = channels[: args.member_of]
    ChannelMember.objects.bulk_create([ChannelMember(channel=c, user=user) for c in members])
    member_ids = {str(c.pk) for c in members}
    repo = ChannelMessageRepository()
    backend = get_backend()
    per = args.messages // args.conversations
    start = datetime.now(UTC) - timedelta(days=30)
    done, started, pending = 0, time.perf_counter(), []

    def flush():
        nonlocal done
        stored = [m for m in pending if args.mongo_all or m.conversation.id in member_ids]
        if stored:
            repo.insert_many(stored)
        with transaction.atomic():
            if args.bulk:
                copy_rows(pending)
            else:
                backend.index_messages(pending)
        done += len(pending)
        pending.clear()
        print(f"  seeded {done:,} messages ({done / (time.perf_counter() - started):,.0f}/s)", flush=True)

    for n, channel in enumerate(channels):
        conversation = Conversation(ConversationKind.CHANNEL, str(channel.pk), workspace_id)
        for seq in range(1, per + 1):
            message_id = repo.new_id()
            pending.append(
                MessageDocument(
                    id=message_id,
                    conversation=conversation,
                    seq=seq,
                    sender_id=str(user.pk),
                    content=sentence(rng),
                    type=MessageType.TEXT,
                    created_at=start + timedelta(seconds=seq * 2 + n),
                    edited_at=None,
                    client_msg_id=None,
                    dedupe_key=f"s:{message_id}",
                )
            )
        if len(pending) >= 10_000:
            flush()
    if pending:
        flush()
    return user, channels, time.perf_counter() - started


_COPY_SQL = (
    "COPY search_entries (message_id, workspace_id, kind, conversation_id, seq, sender_id, type, created_at, "
    "deleted_at, content, has_link, has_file, has_pin, is_thread) FROM STDIN"
)


def copy_rows(messages):
    """The rows index_messages would write (the same _row: generated columns computed by
    PostgreSQL as on a send), loaded with COPY instead of INSERT ... ON CONFLICT."""
    with connection.cursor() as cursor, cursor.cursor.copy(_COPY_SQL) as copy:
        for message in messages:
            copy.write_row(_row(message))


def secondary_indexes():
    """{name: definition} of search_entries' indexes other than its primary key."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'search_entries' "
            "AND indexname <> 'search_entries_pkey'"
        )
        return dict(cursor.fetchall())


def rebuild_indexes(definitions):
    """Create the dropped indexes again (a fresh build, as search_reindex onto an empty
    table would leave them), timed; returns seconds."""
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '512MB'")
        for name, definition in definitions.items():
            t = time.perf_counter()
            cursor.execute(definition.replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS", 1))
            print(f"  built {name} in {time.perf_counter() - t:.0f} s", flush=True)
    return time.perf_counter() - started


def measure(fn, requests):
    for _ in range(3):
        fn()
    samples = []
    for _ in range(requests):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples), percentile(samples, 99)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--member-of", type=int, default=50)
    parser.add_argument("--requests", type=int, default=50, help="timed engine searches per query kind")
    parser.add_argument(
        "--api-requests", type=int, default=None, help="timed API searches per kind (default: --requests)"
    )
    parser.add_argument("--sends", type=int, default=200, help="sends per round (4 rounds: on, off, on, off)")
    parser.add_argument("--base-url", default=None)
    parser.add_argument("--in-process", action="store_true")
    parser.add_argument(
        "--mongo-all",
        action="store_true",
        help="store every seeded document in MongoDB (default: only those of the conversations searched)",
    )
    parser.add_argument("--keep", action="store_true")
    parser.add_argument(
        "--bulk",
        action="store_true",
        help="seed the index with COPY, its secondary indexes dropped during the load and built again after "
        "(the 1,000,000 size: ~10x faster than the send path's INSERT per row)",
    )
    args = parser.parse_args()
    ensure_indexes()
    rng = random.Random(19)
    tag = uuid.uuid4().hex[:8]
    print(f"seeding {args.messages:,} messages over {args.conversations} channels (member of {args.member_of})")
    dropped = {}
    if args.bulk:
        dropped = secondary_indexes()
        with connection.cursor() as cursor:
            for name in dropped:
                cursor.execute(f"DROP INDEX IF EXISTS {name}")  # names read from pg_indexes
    try:
        user, channels, seconds = seed(args, rng, tag)
    finally:
        if dropped:  # built again even when the load failed: the table must keep its indexes
            print("building the indexes again")
            built = rebuild_indexes(dropped)
            print(f"indexes built in {built:.0f} s")
    print(f"seeded in {seconds:.0f} s" + (f" (+ {built:.0f} s of index builds)" if dropped else ""))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE search_entries")
        cursor.execute(
            "SELECT pg_total_relation_size('search_entries'), pg_relation_size('search_entries'), count(*) "
            "FROM search_entries"
        )
        total, heap, rows = cursor.fetchone()
    print(
        f"index: {rows:,} rows, {total / rows:.0f} bytes per message in all ({heap / rows:.0f} in the table, "
        f"{(total - heap) / rows:.0f} in its indexes and TOAST)"
    )
    token = login_token(user)
    server, base_url = None, args.base_url
    if base_url is None and not args.in_process:
        log_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"slackclone-bench-search-{tag}"
        log_dir.mkdir(parents=True, exist_ok=True)
        base_url, server = start_web_server(log_dir, os.environ["DJANGO_SETTINGS_MODULE"])
        wait_http(base_url, server)
    if base_url:
        import httpx

        client = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60)

        def api(q):
            r = client.get("/api/v1/search/messages", params={"q": q})
            assert r.status_code == 200, r.text[:300]
            return len(r.json()["results"])
    else:
        from django.test import Client

        client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {token}")

        def api(q):
            r = client.get("/api/v1/search/messages", {"q": q})
            assert r.status_code == 200, r.content[:300]
            return len(r.json()["results"])

    conversations = [
        Conversation(ConversationKind.CHANNEL, str(c.pk), str(c.workspace_id)) for c in channels[: args.member_of]
    ]
    try:
        header = f"{'query':<16} {'q':<14} {'hits/page':>9} {'API p50':>9} {'API p99':>9}"
        print(f"\n{header} {'engine p50':>11} {'engine p99':>11}")
        for kind, q in QUERIES.items():
            parsed = parse_query(q)
            spec = SearchSpec(workspace_id=None, conversations=conversations, terms=parsed.terms, limit=21)
            engine = measure(lambda spec=spec: get_backend().search(spec), args.requests)
            through = measure(lambda q=q: api(q), args.api_requests or args.requests)
            hits = api(q)
            cells = f"{through[0]:>8.1f}ms {through[1]:>8.1f}ms {engine[0]:>10.1f}ms {engine[1]:>10.1f}ms"
            print(f"{kind:<16} {q:<14} {hits:>9} {cells}")
            emit_row(
                f"search p99, {kind}",
                f"engine {engine[1]:.1f} ms",
                f"API {through[1]:.1f} ms",
                f"{through[1] / max(engine[1], 0.001):.1f}x",
                None,
                f"{args.messages:,} messages",
            )
        # Send throughput, index write on and off, alternating rounds.
        target = Channel.objects.create(name=f"bench-{tag}-sends", created_by=user)
        ChannelMember.objects.create(channel=target, user=user)
        # A send writes its row with the statements of messages_index_statements
        # (messaging.services.derived), not through messages_indexed.
        real = search_services.messages_index_statements
        rates = {"on": [], "off": []}
        for mode in ("on", "off", "on", "off"):
            search_services.messages_index_statements = real if mode == "on" else (lambda messages: [])
            t = time.perf_counter()
            for i in range(args.sends):
                message_services.message_send(sender=user, channel_id=target.pk, content=sentence(rng) + f" {i}")
            rates[mode].append(args.sends / (time.perf_counter() - t))
        search_services.messages_index_statements = real
        on, off = statistics.mean(rates["on"]), statistics.mean(rates["off"])
        print(
            f"\nsends (one thread, message_send): with indexing {on:.0f}/s, without {off:.0f}/s "
            f"({(1 / on - 1 / off) * 1000:+.2f} ms per send, rounds {rates})"
        )
        emit_row(
            "send throughput with the search index write",
            f"without {off:.0f}/s",
            f"with {on:.0f}/s",
            f"{on / off:.2f}x",
            None,
        )
    finally:
        stop_processes([server])
        if not args.keep:
            ids = [str(c.pk) for c in Channel.objects.filter(name__startswith=f"bench-{tag}-")]
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM search_entries WHERE conversation_id = ANY(%s::uuid[])", [ids])
            ChannelMessageRepository().collection.delete_many({"channelId": {"$in": ids}})
            Channel.objects.filter(pk__in=ids).delete()
            user.delete()


if __name__ == "__main__":
    main()
