#!/usr/bin/env python
"""Latency of message history pages as the collection grows (issues 8 and 13).

Seeds the message collection through the repository (bulk insert_many: seq 1..N per
conversation, createdAt increasing by 1 ms), growing it through the sizes of --messages
(default 10,000 then 100,000 stored messages): 90% of them go to one big channel, the
rest round-robin to --small-channels small ones (default 100), one of which is measured.
At each size it measures p50/p99 at --rate requests per second (default 50) of:

  * pages: the newest page of the big and of the small channel, a deep page of the big
    one (the page before the message 90% of the way back) and a catch-up page (after a
    cursor 20 messages from the end), each
      - through the API (HTTP to a daphne process started here, or --base-url, or
        --in-process with Django's test Client),
      - through the repository's window read (`window_page`, what the API runs: blocks
        of one conversation's seq range below its counter; issue 13), "raw",
      - and, as the same-run BASELINE, the old bare pymongo keyset query
        (find {channelId, deletedAt: null, seq < s} sort seq limit 51), which on
        FerretDB loads and sorts every document of the conversation
        (--baseline-requests calls, default 3: at 100,000 one takes seconds);
  * the other per-message paths, through the repository: the dedupe lookup of a send
    retry, an _id lookup, an edit and a soft delete.

Goals (issue 13, section 1): on the embedded store, a page's p99 at the largest size no
more than 1.5x its p99 at the smallest, for the big and the small channel; through the
API no more than 3x the raw store query.

    .venv/bin/python bench/history.py --messages 2000 --requests 20      # smoke check
    .venv/bin/python bench/history.py                                    # 10,000 and 100,000
    .venv/bin/python bench/history.py --base-url http://127.0.0.1:8000   # a running server

--rich (issue 17) also seeds a second channel of the largest size in which every
other message is a reply (half of them to the measured root, the rest to 9 others), every
third carries 3 reactions from 5 users and a mention, and measures, in the same run and
at the same rate, its newest history page, its channel view (?thread_roots_only=true)
and the newest page of one thread's replies, beside the plain channel's newest page: the
four cells' requests taken in turn (round-robin), so the machine's load weighs on each alike;
then the repository's reads alone, in turn: the plain newest page, the channel view and the
thread page as the API reads them (and the rich channel's newest page: the same blocks as
the plain one, with its heavier documents), beside their reads before session 4 (the channel view's
blocks with the `$or` filter, the thread's unbounded keyset read) as the same-run baseline.
Its goal line (issue 17: "the same p99 as plain history, same run"): each rich cell's API
p99 at most 1.2x the plain page's p99 of the same run, the 20% being for the noise of a
p99 over --requests samples on a shared machine (two runs of the same code here differ by
more than that; read the p50 ratios beside it). A short run, about 3 minutes:

    .venv/bin/python bench/history.py --messages 5000 --requests 100 --baseline-requests 1 --rate 20 --rich

The script uses the settings of DJANGO_SETTINGS_MODULE (default slackclone.settings),
so a server given with --base-url must share its DATABASE_URL, MONGO_URL, MONGO_DB and
SECRET_KEY (the middle page's cursor is signed here). The bench user, channels and
messages are removed at the end unless --keep is given.
"""

import argparse
import math
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "slackclone.settings")

import django
from common import emit_row, login_token, start_web_server, stop_processes, wait_http

django.setup()

from bson import Int64, ObjectId  # noqa: E402
from django.conf import settings  # noqa: E402
from django.test import Client  # noqa: E402

from accounts.models import User  # noqa: E402
from channels_app.models import Channel, ChannelMember  # noqa: E402
from messaging import repositories_ext as ext  # noqa: E402
from messaging.cursors import encode_cursor  # noqa: E402
from messaging.documents import Conversation, ConversationKind, MessageDocument, MessageType  # noqa: E402
from messaging.models import MessageSequence  # noqa: E402
from messaging.mongo import long_operations  # noqa: E402
from messaging.repositories import SEQ_BLOCK, ChannelMessageRepository, ensure_indexes, reaction_key  # noqa: E402
from slackclone.errors import StoreUnavailable  # noqa: E402

PAGE = 50
BATCH = 10_000


def seed(
    repo: ChannelMessageRepository,
    big: Conversation,
    smalls: list[Conversation],
    sender_id: str,
    first: int,
    count: int,
    state: dict[str, int],
) -> datetime:
    """Insert `count` messages (numbers first..): 90% into `big`, the rest round-robin
    over `smalls`; `state` holds each conversation's last seq. Returns the last createdAt."""
    start = datetime(2020, 1, 1, tzinfo=UTC)
    last = start
    batch: list[MessageDocument] = []
    for n in range(first, first + count):
        conversation = big if n % 10 or not smalls else smalls[(n // 10) % len(smalls)]
        state[conversation.id] = seq = state.get(conversation.id, 0) + 1
        message_id = repo.new_id()
        last = start + timedelta(milliseconds=n)
        batch.append(
            MessageDocument(
                id=message_id,
                conversation=conversation,
                seq=seq,
                sender_id=sender_id,
                content=f"bench message {n}",
                type=MessageType.TEXT,
                created_at=last,
                edited_at=None,
                client_msg_id=f"bench-{n}",
                dedupe_key=f"c:bench-{n}",
            )
        )
        if len(batch) == BATCH:
            repo.insert_many(batch)
            batch = []
    if batch:
        repo.insert_many(batch)
    return last


def seed_rich(repo: ChannelMessageRepository, conversation: Conversation, sender_id: str, count: int) -> str:
    """A channel with replies, reactions and mentions (see --rich); returns a root's id."""
    start = datetime(2020, 1, 1, tzinfo=UTC)
    users = [str(uuid.uuid4()) for _ in range(5)]
    roots = [repo.new_id() for _ in range(10)]
    places = dict.fromkeys(roots, 0)  # each root's replies so far: their threadSeq (session 14)
    for first in range(1, count + 1, BATCH):
        docs = []
        for seq in range(first, min(first + BATCH, count + 1)):
            message_id = roots[seq - 1] if seq <= len(roots) else repo.new_id()
            # Every other message is a reply; half of them in the measured thread (roots[1]).
            thread_id = (
                (roots[1] if seq % 4 == 1 else roots[seq % len(roots)]) if seq > len(roots) and seq % 2 else None
            )
            if thread_id is not None:
                places[thread_id] += 1
            doc = repo.to_mongo(
                MessageDocument(
                    id=message_id,
                    conversation=conversation,
                    seq=seq,
                    sender_id=sender_id,
                    content=f"bench message {seq} @someone",
                    type=MessageType.TEXT,
                    created_at=start + timedelta(milliseconds=seq),
                    edited_at=None,
                    client_msg_id=None,
                    dedupe_key=f"s:{message_id}",
                    thread_id=thread_id,
                    thread_seq=places[thread_id] if thread_id is not None else None,
                    mentions=(users[0],) if seq % 3 == 0 else (),
                )
            )
            if seq <= len(roots):
                doc |= {"replyCount": count // 20, "replyUsers": users, "lastReplyAt": start}
            if seq % 3 == 0:
                # The stored form of session 5: one "<emoji> <user id>" string per reaction.
                doc["reactions"] = [reaction_key(e, u) for e in ("👍", "🎉", "❤️") for u in users]
                doc["reactionEmoji"] = ["👍", "🎉", "❤️"]
            docs.append(doc)
        repo.collection.insert_many(docs)
    for root_id, last in places.items():
        repo.collection.update_one({"_id": ObjectId(root_id)}, {"$set": {"lastThreadSeq": Int64(last)}})
    return roots[1]


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def measure(
    fn: Callable[[], int], requests: int, rate: float, warmup: int = 2, expect: int = PAGE
) -> tuple[float, float]:
    """(p50, p99) in milliseconds of `fn`, which returns the page size it got (checked
    against `expect`), called at `rate` requests per second (or back to back when a
    request takes longer)."""
    for _ in range(warmup):
        fn()
    samples = []
    interval, next_at = 1.0 / rate, time.perf_counter()
    for _ in range(requests):
        time.sleep(max(0.0, next_at - time.perf_counter()))
        next_at += interval
        started = time.perf_counter()
        size = fn()
        samples.append((time.perf_counter() - started) * 1000)
        if size != expect:
            raise SystemExit(f"expected a page of {expect} messages, got {size}")
        next_at = max(next_at, time.perf_counter() - interval)  # do not burst to catch up
    return statistics.median(samples), percentile(samples, 0.99)


def measure_interleaved(
    cells: dict[str, Callable[[], int]], requests: int, rate: float, warmup: int = 2
) -> dict[str, tuple[float, float]]:
    """{name: (p50, p99)} of each cell, its requests taken in turn with the others' (one
    of each, round after round, at `rate` requests per second in all), so that the
    machine's load, which drifts over a run on a shared machine, weighs on every cell
    alike: the fair same-run comparison of --rich."""
    for fn in cells.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in cells}
    interval, next_at = 1.0 / rate, time.perf_counter()
    for _ in range(requests):
        for name, fn in cells.items():
            time.sleep(max(0.0, next_at - time.perf_counter()))
            next_at += interval
            started = time.perf_counter()
            size = fn()
            samples[name].append((time.perf_counter() - started) * 1000)
            if size != PAGE:
                raise SystemExit(f"{name}: expected a page of {PAGE} messages, got {size}")
            next_at = max(next_at, time.perf_counter() - interval)
    return {name: (statistics.median(found), percentile(found, 0.99)) for name, found in samples.items()}


def api_getter(base_url: str | None, token: str, url: str) -> Callable[[dict], int]:
    if base_url:
        import httpx

        client = httpx.Client(base_url=base_url.rstrip("/"), headers={"Authorization": f"Bearer {token}"}, timeout=60)

        def get(params: dict) -> int:
            response = client.get(url, params=params)
            if response.status_code != 200:
                raise SystemExit(f"GET {url} answered {response.status_code}: {response.text[:300]}")
            return len(response.json()["results"])

        return get

    client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {token}")

    def get_in_process(params: dict) -> int:
        response = client.get(url, params)
        if response.status_code != 200:
            raise SystemExit(f"GET {url} answered {response.status_code}: {response.content[:300]!r}")
        return len(response.json()["results"])

    return get_in_process


def old_page(collection, conversation_id: str, *, before: int | None = None, after: int | None = None):
    """The BASELINE: the bare pymongo keyset query of one page, as the history read was
    before issue 13 (on MongoDB a range of the {channelId, seq} index; on FerretDB every
    document of the conversation is loaded and sorted)."""
    query: dict = {"channelId": conversation_id, "deletedAt": None}
    direction = -1
    if before is not None:
        query["seq"] = {"$lt": before}
    if after is not None:
        query["seq"], direction = {"$gt": after}, 1

    def run() -> int:
        return len(list(collection.find(query).sort("seq", direction).limit(PAGE + 1))[:PAGE])

    return run


def window_page(repo, conversation_id: str, top: int, **cursor_and_view):
    """The store query the API runs now (issue 13): the repository's window read."""

    def run() -> int:
        return len(repo.window_page(conversation_id=conversation_id, top=top, limit=PAGE + 1, **cursor_and_view)[:PAGE])

    return run


def thread_page_read(repo, conversation_id: str, top: int, root_id: str, limit: int = PAGE + 1) -> list:
    """A thread page's store reads as the API runs them (session 14): the root's
    `lastThreadSeq`, then the thread's own blocks (`thread_page`)."""
    root = ext.get_visible(repo, conversation_id=conversation_id, message_id=root_id)
    return repo.thread_page(
        conversation_id=conversation_id, thread_id=root_id, thread_top=root.last_thread_seq, top=top, limit=limit
    )


def thread_page(repo, conversation_id: str, top: int, root_id: str):
    """`thread_page_read` as a timed cell (the page's size)."""
    return lambda: len(thread_page_read(repo, conversation_id, top, root_id)[:PAGE])


def old_channel_view(repo, conversation_id: str, top: int):
    """The BASELINE of the channel view's store read before session 4: the same newest
    seq blocks, with the view as an `$or` on threadId/alsoInChannel (FerretDB 1.24 does
    not push it down: it decodes every message of each block, hidden replies too)."""

    def run() -> int:
        found: list = []
        high = top
        while len(found) < PAGE + 1 and high >= 0:
            block = high // SEQ_BLOCK
            query = {
                "channelId": conversation_id,
                "seqBlock": f"{conversation_id}:{block}",
                "seq": {"$gte": block * SEQ_BLOCK, "$lte": high},
                "$and": [
                    {"$or": [{"deletedAt": None}, {"replyCount": {"$gt": 0}}]},
                    {"$or": [{"threadId": None}, {"alsoInChannel": True}]},
                ],
            }
            cursor = repo.collection.find(query).sort("seq", -1).limit(PAGE + 1 - len(found))
            found += [repo.from_mongo(raw) for raw in cursor.hint(repo.seq_index)]
            high = block * SEQ_BLOCK - 1
        return len(found[:PAGE])

    return run


def timed(fn: Callable[[], object], requests: int) -> tuple[float, float]:
    fn()
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), percentile(samples, 0.99)


def other_paths(repo, big: Conversation, last: int, requests: int) -> dict[str, tuple[float, float]]:
    """Dedupe lookup, _id lookup, edit and soft delete in the big channel."""
    sample = repo.window_page(conversation_id=big.id, top=last, limit=1)[0]
    victims = [m.id for m in repo.window_page(conversation_id=big.id, top=last, before=last // 2, limit=requests + 1)]
    edits = iter(range(1_000_000))
    ops = {
        "dedupe lookup (send retry)": lambda: repo.find_by_dedupe_key(
            conversation_id=big.id, dedupe_key=sample.dedupe_key
        ),
        "_id lookup": lambda: repo.get(conversation_id=big.id, message_id=sample.id),
        "edit": lambda: repo.edit(
            conversation_id=big.id, message_id=sample.id, content=f"edited {next(edits)}", edited_at=datetime.now(UTC)
        ),
        "soft delete": lambda: repo.soft_delete(
            conversation_id=big.id, message_id=victims.pop(), deleted_by=sample.sender_id, deleted_at=datetime.now(UTC)
        ),
    }
    results = {}
    for name, fn in ops.items():
        try:
            results[name] = timed(fn, requests)
        except StoreUnavailable:  # one call past the request timeout: report it, go on
            results[name] = (float("nan"), float("inf"))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--messages",
        default="10000,100000",
        help="stored messages to measure at, comma-separated, ascending; the collection grows from one to the "
        "next (default 10000,100000)",
    )
    parser.add_argument("--requests", type=int, default=100, help="timed requests per cell (default 100)")
    parser.add_argument(
        "--baseline-requests", type=int, default=3, help="timed calls of the old query per cell (default 3)"
    )
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second (default 50)")
    parser.add_argument("--small-channels", type=int, default=100, help="small channels sharing 10%% (default 100)")
    parser.add_argument(
        "--small-size", type=int, default=200, help="messages of the measured small channel (default 200)"
    )
    parser.add_argument("--base-url", default=None, help="a running server, e.g. http://127.0.0.1:8000")
    parser.add_argument("--in-process", action="store_true", help="use Django's test Client, not a daphne process")
    parser.add_argument("--keep", action="store_true", help="keep the seeded channels and messages")
    parser.add_argument("--rich", action="store_true", help="also measure threads and reactions (issue 17)")
    args = parser.parse_args()
    sizes = sorted({int(x) for x in args.messages.split(",") if x.strip()})
    small_channels = max(1, args.small_channels)
    if not sizes or sizes[0] < 2 * PAGE + 1:
        parser.error(f"--messages must be at least {2 * PAGE + 1}")
    if args.requests < 1 or args.baseline_requests < 1:
        parser.error("--requests and --baseline-requests must be at least 1")

    ensure_indexes()
    load_before = os.getloadavg()
    tag = uuid.uuid4().hex[:10]
    user = User.objects.create_user(f"bench{tag}", f"bench{tag}@example.invalid", None)
    channel = Channel.objects.create(name=f"bench-{tag}", created_by=user)
    small_channel = Channel.objects.create(name=f"bench-small-{tag}", created_by=user)
    ChannelMember.objects.create(channel=channel, user=user)
    ChannelMember.objects.create(channel=small_channel, user=user)
    token = login_token(user)
    conversation = Conversation(ConversationKind.CHANNEL, str(channel.pk))
    small = Conversation(ConversationKind.CHANNEL, str(small_channel.pk))
    # The other small channels exist only in MongoDB (they make the collection's shape);
    # the measured one keeps --small-size messages whatever the collection's size.
    smalls = [Conversation(ConversationKind.CHANNEL, str(uuid.uuid4())) for _ in range(small_channels)]
    repo = ChannelMessageRepository()
    with long_operations():  # the old query takes seconds at 100,000 on FerretDB
        old_collection = repo.collection
    server = None
    base_url = args.base_url
    if base_url is None and not args.in_process:
        log_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"slackclone-bench-history-{tag}"
        log_dir.mkdir(parents=True, exist_ok=True)
        base_url, server = start_web_server(log_dir, os.environ["DJANGO_SETTINGS_MODULE"])
        wait_http(base_url, server)
    through = f"HTTP {base_url}" if base_url else "in-process test Client"
    api = api_getter(base_url, token, f"/api/v1/channels/{channel.pk}/messages")
    small_api = api_getter(base_url, token, f"/api/v1/channels/{small_channel.pk}/messages")
    server_info = repo.server_info()
    store = f"FerretDB {server_info['ferretdbVersion']}" if server_info.get("ferretdbVersion") else "MongoDB"
    store += f" {server_info.get('version', '')} at {settings.MONGO_URL}"

    results: dict = {}
    others: dict = {}
    cleanup: list = []
    state: dict[str, int] = {}
    try:
        seeded = 0
        for size in sizes:
            started = time.perf_counter()
            with long_operations():  # 10,000 documents per insert_many
                if not seeded:
                    seed(repo, small, [], str(user.pk), 0, args.small_size, state)
                last_created_at = seed(repo, conversation, smalls, str(user.pk), seeded, size - seeded, state)
            seconds = time.perf_counter() - started
            for conv in (conversation, small):
                MessageSequence.objects.update_or_create(
                    conversation_id=conv.id,
                    defaults={"kind": "channel", "last_seq": state[conv.id], "last_created_at": last_created_at},
                )
            print(
                f"seeded {size - seeded:,} messages (collection now {size:,}: big channel {state[conversation.id]:,}, "
                f"measured small channel {state[small.id]:,}) in {seconds:.1f} s",
                flush=True,
            )
            seeded = size
            last, small_last = state[conversation.id], state[small.id]
            # "deep": the page before the message 90% of the way back from the newest end.
            deep = max(PAGE + 1, last // 10)
            catch_up = last - 20
            small_expect = min(PAGE, small_last)
            cells = {
                "newest big": (
                    lambda: api({"limit": PAGE}),
                    window_page(repo, conversation.id, last),
                    old_page(old_collection, conversation.id),
                    PAGE,
                ),
                "newest small": (
                    lambda: small_api({"limit": PAGE}),
                    window_page(repo, small.id, small_last),
                    old_page(old_collection, small.id),
                    small_expect,
                ),
                "deep big": (
                    lambda deep=deep: api({"limit": PAGE, "before": encode_cursor(conversation, deep)}),
                    window_page(repo, conversation.id, last, before=deep),
                    old_page(old_collection, conversation.id, before=deep),
                    PAGE,
                ),
                "catch-up big": (
                    lambda catch_up=catch_up: api({"limit": PAGE, "after": encode_cursor(conversation, catch_up)}),
                    window_page(repo, conversation.id, last, after=catch_up),
                    old_page(old_collection, conversation.id, after=catch_up),
                    20,
                ),
            }
            for name, (through_api, raw, old, expect) in cells.items():
                a50, a99 = measure(through_api, args.requests, args.rate, expect=expect)
                r50, r99 = measure(raw, args.requests, args.rate, expect=expect)
                o50, o99 = measure(old, args.baseline_requests, args.rate, warmup=0, expect=expect)
                results[(size, name)] = (a50, a99, r50, r99, o50, o99)
                print(
                    f"  {size:>9,} {name:<13} API p50 {a50:8.2f} p99 {a99:8.2f} | raw window p50 {r50:8.2f} "
                    f"p99 {r99:8.2f} | old query p50 {o50:9.1f} p99 {o99:9.1f} ms",
                    flush=True,
                )
            others[size] = other_paths(repo, conversation, last, min(args.requests, 30))

        if args.rich:
            rich_channel = Channel.objects.create(name=f"bench-rich-{tag}", created_by=user)
            ChannelMember.objects.create(channel=rich_channel, user=user)
            cleanup.append(rich_channel)
            rich = Conversation(ConversationKind.CHANNEL, str(rich_channel.pk))
            root_id = seed_rich(repo, rich, str(user.pk), sizes[-1])
            MessageSequence.objects.update_or_create(
                conversation_id=rich_channel.pk, defaults={"kind": "channel", "last_seq": sizes[-1]}
            )
            rich_api = api_getter(base_url, token, f"/api/v1/channels/{rich_channel.pk}/messages")
            thread_api = api_getter(base_url, token, f"/api/v1/channels/{rich_channel.pk}/messages/{root_id}/replies")
            rich_cells = {
                "plain newest (baseline)": lambda: api({"limit": PAGE}),
                "rich newest": lambda: rich_api({"limit": PAGE}),
                "rich channel view": lambda: rich_api({"limit": PAGE, "thread_roots_only": "true"}),
                "thread replies": lambda: thread_api({"limit": PAGE}),
            }
            rich_results = measure_interleaved(rich_cells, args.requests, args.rate)
            # The store reads alone, beside what they were before session 4 (same run, in turn).
            rich_top, plain_top = sizes[-1], state[conversation.id]
            raw_cells = {
                "raw plain newest (baseline)": window_page(repo, conversation.id, plain_top),
                "raw rich newest": window_page(repo, rich.id, rich_top),
                "raw channel view": window_page(repo, rich.id, rich_top, roots_only=True),
                "raw channel view, old $or filter": old_channel_view(repo, rich.id, rich_top),
                "raw thread replies": thread_page(repo, rich.id, rich_top, root_id),
                "raw thread replies, old keyset read": lambda: len(
                    repo.newest_page(conversation_id=rich.id, limit=PAGE + 1, thread_id=root_id)[:PAGE]
                ),
            }
            raw_results = measure_interleaved(raw_cells, args.requests, args.rate)

        load_after = os.getloadavg()
        print(
            f"\n{store}; {args.requests} timed requests per cell at up to {args.rate:g}/s ({args.baseline_requests} "
            f"for the old query), {PAGE}-message pages; API through the {through}; load average "
            f"{load_before[0]:.2f} before, {load_after[0]:.2f} after (1 min)"
        )
        header = f"{'messages':>10} {'position':<13}" + "".join(
            f"{h:>13}"
            for h in ("API p50", "API p99", "raw p50", "raw p99", "API/raw p99", "old q. p50", "old q. p99", "old/API")
        )
        print(header)
        print("-" * len(header))
        for (size, name), (a50, a99, r50, r99, o50, o99) in results.items():
            print(
                f"{size:>10,} {name:<13}{a50:>13.2f}{a99:>13.2f}{r50:>13.2f}{r99:>13.2f}{a99 / r99:>13.2f}"
                f"{o50:>13.1f}{o99:>13.1f}{o99 / a99:>13.1f}"
            )
        print("other paths (repository, big channel), ms:")
        for size, ops in others.items():
            print(f"  {size:>9,} " + "  ".join(f"{op} p50 {p50:.2f} p99 {p99:.2f}" for op, (p50, p99) in ops.items()))
        smallest, largest = sizes[0], sizes[-1]
        for name in ("newest big", "newest small", "deep big", "catch-up big"):
            a99, r99, o99 = results[(largest, name)][1], results[(largest, name)][3], results[(largest, name)][5]
            a99_small, o99_small = results[(smallest, name)][1], results[(smallest, name)][5]
            scaling = a99 / a99_small
            ok = len(sizes) > 1 and scaling <= 1.5 and a99 <= 3 * r99
            goal_name = {"newest big": "newest", "newest small": "newest small", "deep big": "deep"}.get(name, name)
            emit_row(
                f"3 history {goal_name} page ({name}) at {largest:,} msgs, {args.rate:g} req/s: API p99 <= 1.5x "
                f"p99 at {smallest:,}, <= 3x raw",
                f"old query p99 {o99_small:,.1f} -> {o99:,.1f} ms",
                f"API p99 {a99_small:.1f} -> {a99:.1f} ms (raw {r99:.1f})",
                f"x{scaling:.2f} vs {smallest:,}; API/raw {a99 / r99:.2f}",
                ok,
            )
        if args.rich:
            print(f"issue 17, channels of {sizes[-1]:,} messages (same run):")
            base99 = rich_results["plain newest (baseline)"][1]
            for name, (p50, p99) in rich_results.items():
                print(f"  {name:<26} p50 {p50:8.2f} ms  p99 {p99:8.2f} ms  ({p99 / base99:.2f}x the baseline p99)")
            for name in ("rich newest", "rich channel view", "thread replies"):
                p50, p99 = rich_results[name]
                emit_row(
                    f"17 {name} page at {sizes[-1]:,} msgs, {args.rate:g} req/s: API p99 <= 1.2x the plain page's "
                    "p99 (same run)",
                    f"plain p50 {rich_results['plain newest (baseline)'][0]:.1f} / p99 {base99:.1f} ms",
                    f"p50 {p50:.1f} / p99 {p99:.1f} ms",
                    f"x{p99 / base99:.2f} p99, x{p50 / rich_results['plain newest (baseline)'][0]:.2f} p50",
                    p99 <= 1.2 * base99,
                )
            print("  the repository's reads alone (raw, in turn with each other):")
            raw50, raw99 = raw_results["raw plain newest (baseline)"]
            for name, (p50, p99) in raw_results.items():
                print(
                    f"  {name:<36} p50 {p50:8.2f} ms ({p50 / raw50:.2f}x)  p99 {p99:8.2f} ms ({p99 / raw99:.2f}x the "
                    "baseline)"
                )
    finally:
        stop_processes([server])
        for extra in cleanup:
            with long_operations():
                repo.delete_conversation(conversation_id=str(extra.pk))
            MessageSequence.objects.filter(conversation_id=extra.pk).delete()
            extra.delete()
        if args.keep:
            print(f"kept: channels {channel.pk}, {small_channel.pk}, user {user.username}")
        else:
            with long_operations():
                for cid in state:  # seq block by seq block (delete_conversation)
                    repo.delete_conversation(conversation_id=cid)
            MessageSequence.objects.filter(conversation_id__in=[channel.pk, small_channel.pk]).delete()
            channel.delete()
            small_channel.delete()
            from readstate.models import ReadMarker  # issue 18: history reads move read markers

            ReadMarker.objects.filter(user=user).delete()
            user.delete()


if __name__ == "__main__":
    main()
