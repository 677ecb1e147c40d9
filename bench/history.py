#!/usr/bin/env python
"""Latency of message history pages in a big channel.

Seeds one fresh channel with messages (bulk insert_many through the repository: the
fast path, seq 1..N, createdAt increasing by 1 ms), growing it through the sizes of
--messages (default 10,000 then 100,000), and at each size measures p50/p99 of a
50-message history page at the newest end and at a deep cursor (the page before the
message that is 90% of the way from the newest end: seq 100,000 of 1,000,000), at
--rate requests per second (default 50):

  * through the API: over HTTP to a daphne process started here (or --base-url, or
    --in-process with Django's test Client);
  * through the bare pymongo keyset query (find {channelId, deletedAt: null, seq < s}
    sort seq desc limit 51): the baseline.

Goal (issue 8): API p99 <= 20 ms, <= 4x the raw p99, and p99 at the largest size <=
1.3x p99 at the smallest. On FerretDB every such query is a collection scan, so the
scaling part cannot hold here; real MongoDB serves it from the {channelId, seq} index.

    .venv/bin/python bench/history.py --messages 2000 --requests 20      # smoke check
    .venv/bin/python bench/history.py --messages 10000,1000000           # the goal's sizes
    .venv/bin/python bench/history.py --base-url http://127.0.0.1:8000   # a running server

--rich (issue 17) also seeds a second channel of the largest size in which every
other message is a reply (half of them to the measured root, the rest to 9 others), every
third carries 3 reactions from 5 users and a mention, and measures, in the same run and
at the same rate, its newest history page, its channel view (?thread_roots_only=true)
and the newest page of one thread's replies, beside the plain channel's newest page: the
four cells' requests taken in turn (round-robin), so the machine's load weighs on each alike.

The script uses the settings of DJANGO_SETTINGS_MODULE (default slackclone.settings),
so a server given with --base-url must share its DATABASE_URL, MONGO_URL, MONGO_DB and
SECRET_KEY (the middle page's cursor is signed here). The bench user, channel and
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

django.setup()

from common import emit_row, start_daphne, stop_processes, wait_http  # noqa: E402
from django.test import Client  # noqa: E402
from knox.models import AuthToken  # noqa: E402

from accounts.models import User  # noqa: E402
from channels_app.models import Channel, ChannelMember  # noqa: E402
from messaging.cursors import encode_cursor  # noqa: E402
from messaging.documents import Conversation, ConversationKind, MessageDocument, MessageType  # noqa: E402
from messaging.models import MessageSequence  # noqa: E402
from messaging.repositories import ChannelMessageRepository, ensure_indexes  # noqa: E402

PAGE = 50
BATCH = 10_000


def seed(
    repo: ChannelMessageRepository, conversation: Conversation, sender_id: str, count: int, first_seq: int = 1
) -> datetime:
    """Insert `count` messages with seq first_seq..; return the last createdAt."""
    end = first_seq + count
    start = datetime(2020, 1, 1, tzinfo=UTC)
    last = start
    for first in range(first_seq, end, BATCH):
        batch = []
        for seq in range(first, min(first + BATCH, end)):
            message_id = repo.new_id()
            last = start + timedelta(milliseconds=seq)
            batch.append(
                MessageDocument(
                    id=message_id,
                    conversation=conversation,
                    seq=seq,
                    sender_id=sender_id,
                    content=f"bench message {seq}",
                    type=MessageType.TEXT,
                    created_at=last,
                    edited_at=None,
                    client_msg_id=None,
                    dedupe_key=f"s:{message_id}",
                )
            )
        repo.insert_many(batch)
    return last


def seed_rich(repo: ChannelMessageRepository, conversation: Conversation, sender_id: str, count: int) -> str:
    """A channel with replies, reactions and mentions (see --rich); returns a root's id."""
    start = datetime(2020, 1, 1, tzinfo=UTC)
    users = [str(uuid.uuid4()) for _ in range(5)]
    roots = [repo.new_id() for _ in range(10)]
    for first in range(1, count + 1, BATCH):
        docs = []
        for seq in range(first, min(first + BATCH, count + 1)):
            message_id = roots[seq - 1] if seq <= len(roots) else repo.new_id()
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
                    # Every other message is a reply; half of them in the measured thread (roots[1]).
                    thread_id=(roots[1] if seq % 4 == 1 else roots[seq % len(roots)])
                    if seq > len(roots) and seq % 2
                    else None,
                    mentions=(users[0],) if seq % 3 == 0 else (),
                )
            )
            if seq <= len(roots):
                doc |= {"replyCount": count // 20, "replyUsers": users, "lastReplyAt": start}
            if seq % 3 == 0:
                doc["reactions"] = [{"e": e, "u": u} for e in ("👍", "🎉", "❤️") for u in users]
                doc["reactionEmoji"] = ["👍", "🎉", "❤️"]
            docs.append(doc)
        repo.collection.insert_many(docs)
    return roots[1]


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def measure(fn: Callable[[], int], requests: int, rate: float, warmup: int = 2) -> tuple[float, float]:
    """(p50, p99) in milliseconds of `fn`, which returns the page size it got, called at
    `rate` requests per second (or back to back when a request takes longer)."""
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
        if size != PAGE:
            raise SystemExit(f"expected a page of {PAGE} messages, got {size}")
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


def raw_page(collection, conversation_id: str, before: int | None) -> Callable[[], int]:
    """The bare pymongo keyset query of one page (what the {channelId, seq} index serves)."""
    query = {"channelId": conversation_id, "deletedAt": None}
    if before is not None:
        query["seq"] = {"$lt": before}

    def run() -> int:
        return len(list(collection.find(query).sort("seq", -1).limit(PAGE + 1))[:PAGE])

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--messages",
        default="10000,100000",
        help="channel sizes to measure, comma-separated, ascending; the channel grows from one to the next "
        "(default 10000,100000; the goal is stated at 10000,1000000)",
    )
    parser.add_argument("--requests", type=int, default=100, help="timed requests per cell (default 100)")
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second (default 50)")
    parser.add_argument("--base-url", default=None, help="a running server, e.g. http://127.0.0.1:8000")
    parser.add_argument("--in-process", action="store_true", help="use Django's test Client, not a daphne process")
    parser.add_argument("--keep", action="store_true", help="keep the seeded channel and messages")
    parser.add_argument("--rich", action="store_true", help="also measure threads and reactions (issue 17)")
    args = parser.parse_args()
    sizes = sorted({int(x) for x in args.messages.split(",") if x.strip()})
    if not sizes or sizes[0] < 2 * PAGE + 1:
        parser.error(f"--messages must be at least {2 * PAGE + 1}")
    if args.requests < 1:
        parser.error("--requests must be at least 1")

    ensure_indexes()
    tag = uuid.uuid4().hex[:10]
    user = User.objects.create_user(f"bench{tag}", f"bench{tag}@example.invalid", None)
    channel = Channel.objects.create(name=f"bench-{tag}", created_by=user)
    ChannelMember.objects.create(channel=channel, user=user)
    token = AuthToken.objects.create(user)[1]
    conversation = Conversation(ConversationKind.CHANNEL, str(channel.pk))
    repo = ChannelMessageRepository()
    server = None
    base_url = args.base_url
    if base_url is None and not args.in_process:
        log_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"slackclone-bench-history-{tag}"
        log_dir.mkdir(parents=True, exist_ok=True)
        base_url, server = start_daphne(log_dir, os.environ["DJANGO_SETTINGS_MODULE"])
        wait_http(base_url, server)
    through = f"HTTP {base_url}" if base_url else "in-process test Client"
    api = api_getter(base_url, token, f"/api/v1/channels/{channel.pk}/messages")

    results = {}
    cleanup: list = []
    try:
        seeded = 0
        for size in sizes:
            started = time.perf_counter()
            last_created_at = seed(repo, conversation, str(user.pk), size - seeded, first_seq=seeded + 1)
            seconds = time.perf_counter() - started
            MessageSequence.objects.update_or_create(
                conversation_id=channel.pk,
                defaults={"kind": "channel", "last_seq": size, "last_created_at": last_created_at},
            )
            print(f"seeded {size - seeded:,} messages (channel now {size:,}) in {seconds:.1f} s", flush=True)
            seeded = size
            # "deep": the page before the message that is the 90%-th counted from the newest end
            # (seq 100,000 of 1,000,000: the ~900,000th newest).
            deep = max(PAGE + 1, size // 10)
            positions = {
                "newest": ({}, raw_page(repo.collection, conversation.id, None)),
                "deep": (
                    {"before": encode_cursor(conversation, deep)},
                    raw_page(repo.collection, conversation.id, deep),
                ),
            }
            for name, (params, raw) in positions.items():
                api_p50, api_p99 = measure(
                    lambda params=params: api({**params, "limit": PAGE}), args.requests, args.rate
                )
                raw_p50, raw_p99 = measure(raw, args.requests, args.rate)
                results[(size, name)] = (api_p50, api_p99, raw_p50, raw_p99)

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
            cells = {
                "plain newest (baseline)": lambda: api({"limit": PAGE}),
                "rich newest": lambda: rich_api({"limit": PAGE}),
                "rich channel view": lambda: rich_api({"limit": PAGE, "thread_roots_only": "true"}),
                "thread replies": lambda: thread_api({"limit": PAGE}),
            }
            rich_results = measure_interleaved(cells, args.requests, args.rate)

        print(
            f"{args.requests} timed requests per cell at up to {args.rate:g}/s, {PAGE}-message pages; "
            f"API through the {through}"
        )
        header = f"{'messages':>10} {'position':<8}" + "".join(
            f"{h:>12}" for h in ("API p50 ms", "API p99 ms", "raw p50 ms", "raw p99 ms", "API/raw")
        )
        print(header)
        print("-" * len(header))
        for (size, name), (a50, a99, r50, r99) in results.items():
            print(f"{size:>10,} {name:<8}{a50:>12.2f}{a99:>12.2f}{r50:>12.2f}{r99:>12.2f}{a99 / r99:>9.2f}")
        small, large = sizes[0], sizes[-1]
        for name in ("newest", "deep"):
            a99, r99 = results[(large, name)][1], results[(large, name)][3]
            scaling = a99 / results[(small, name)][1]
            ok = a99 <= 20 and a99 <= 4 * r99 and (len(sizes) > 1 and scaling <= 1.3)
            emit_row(
                f"3 history {name} page at {large:,} msgs, {args.rate:g} req/s: API p99 <= 20 ms, <= 4x raw, "
                f"<= 1.3x p99 at {small:,}",
                f"raw {r99:.1f} ms",
                f"API {a99:.1f} ms",
                f"{a99 / r99:.2f} (x{scaling:.2f} vs {small:,})",
                ok,
                note="FerretDB: every query scans the collection" if not ok else "",
            )
        if args.rich:
            print(f"issue 17, channels of {sizes[-1]:,} messages (same run):")
            base99 = rich_results["plain newest (baseline)"][1]
            for name, (p50, p99) in rich_results.items():
                print(f"  {name:<26} p50 {p50:8.2f} ms  p99 {p99:8.2f} ms  ({p99 / base99:.2f}x the baseline p99)")
    finally:
        stop_processes([server])
        for extra in cleanup:
            repo.delete_conversation(conversation_id=str(extra.pk))
            MessageSequence.objects.filter(conversation_id=extra.pk).delete()
            extra.delete()
        if args.keep:
            print(f"kept: channel {channel.pk} (#{channel.name}), user {user.username}")
        else:
            repo.delete_conversation(conversation_id=conversation.id)
            MessageSequence.objects.filter(conversation_id=channel.pk).delete()
            channel.delete()
            user.delete()


if __name__ == "__main__":
    main()
