#!/usr/bin/env python
"""Latency of message history pages in a big channel.

Seeds one fresh channel with N messages (bulk insert_many through the repository: the
fast path, seq 1..N, createdAt increasing by 1 ms), then measures p50/p99 of a
50-message history page at the newest, the middle and the oldest position:

  * through the API: over HTTP to a running server (--base-url), or in-process with
    Django's test Client when no URL is given;
  * through the repository alone (one MongoDB query per page).

    .venv/bin/python bench/history.py --messages 2000 --requests 20      # smoke check
    .venv/bin/python bench/history.py                                    # 1,000,000 messages
    .venv/bin/python bench/history.py --base-url http://127.0.0.1:8000   # a running server

The script uses the settings of DJANGO_SETTINGS_MODULE (default slackclone.settings),
so a server given with --base-url must share its DATABASE_URL, MONGO_URL, MONGO_DB and
SECRET_KEY (the middle page's cursor is signed here). The bench user, channel and
messages are removed at the end unless --keep is given.
"""

import argparse
import json
import math
import os
import statistics
import sys
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "slackclone.settings")

import django

django.setup()

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


def seed(repo: ChannelMessageRepository, conversation: Conversation, sender_id: str, count: int) -> datetime:
    """Insert `count` messages; return the last createdAt."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(milliseconds=count)
    last = start
    for first in range(1, count + 1, BATCH):
        batch = []
        for seq in range(first, min(first + BATCH, count + 1)):
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


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def measure(fn: Callable[[], int], requests: int, warmup: int = 2) -> tuple[float, float]:
    """(p50, p99) in milliseconds of `fn`, which returns the page size it got."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        size = fn()
        samples.append((time.perf_counter() - started) * 1000)
        if size != PAGE:
            raise SystemExit(f"expected a page of {PAGE} messages, got {size}")
    return statistics.median(samples), percentile(samples, 0.99)


def api_getter(base_url: str | None, token: str, url: str) -> Callable[[dict], int]:
    if base_url:

        def get(params: dict) -> int:
            query = urllib.parse.urlencode(params)
            request = urllib.request.Request(
                f"{base_url.rstrip('/')}{url}?{query}", headers={"Authorization": f"Bearer {token}"}
            )
            with urllib.request.urlopen(request, timeout=30) as response:
                return len(json.load(response)["results"])

        return get

    client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {token}")

    def get_in_process(params: dict) -> int:
        response = client.get(url, params)
        if response.status_code != 200:
            raise SystemExit(f"GET {url} answered {response.status_code}: {response.content[:300]!r}")
        return len(response.json()["results"])

    return get_in_process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000, help="messages to seed (default 1,000,000)")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per position (default 200)")
    parser.add_argument("--base-url", default=None, help="a running server, e.g. http://127.0.0.1:8000")
    parser.add_argument("--keep", action="store_true", help="keep the seeded channel and messages")
    args = parser.parse_args()
    if args.messages < 2 * PAGE + 1:
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

    try:
        started = time.perf_counter()
        last_created_at = seed(repo, conversation, str(user.pk), args.messages)
        seconds = time.perf_counter() - started
        # Later sends continue after the seeded messages.
        MessageSequence.objects.update_or_create(
            conversation_id=channel.pk,
            defaults={"kind": "channel", "last_seq": args.messages, "last_created_at": last_created_at},
        )
        print(
            f"seeded {args.messages:,} messages into #{channel.name} in {seconds:.1f} s "
            f"({args.messages / seconds:,.0f}/s)"
        )

        middle = args.messages // 2
        positions = {
            "newest": ({}, lambda: repo.newest_page(conversation_id=conversation.id, limit=PAGE + 1)),
            "middle": (
                {"before": encode_cursor(conversation, middle)},
                lambda: repo.page_before(conversation_id=conversation.id, seq=middle, limit=PAGE + 1),
            ),
            "oldest": (
                {"after": encode_cursor(conversation, 0)},
                lambda: repo.page_after(conversation_id=conversation.id, seq=0, limit=PAGE + 1),
            ),
        }
        api = api_getter(args.base_url, token, f"/api/v1/channels/{channel.pk}/messages")
        through = f"HTTP {args.base_url}" if args.base_url else "in-process test Client"

        rows = []
        for name, (params, repo_page) in positions.items():
            api_p50, api_p99 = measure(lambda params=params: api({**params, "limit": PAGE}), args.requests)
            repo_p50, repo_p99 = measure(lambda repo_page=repo_page: len(repo_page()[:PAGE]), args.requests)
            rows.append((name, api_p50, api_p99, repo_p50, repo_p99))

        print(f"{args.requests} timed requests per cell, {PAGE}-message pages; API through the {through}")
        header = f"{'position':<10}{'API p50 ms':>12}{'API p99 ms':>12}{'repo p50 ms':>13}{'repo p99 ms':>13}"
        print(header)
        print("-" * len(header))
        for name, api_p50, api_p99, repo_p50, repo_p99 in rows:
            print(f"{name:<10}{api_p50:>12.2f}{api_p99:>12.2f}{repo_p50:>13.2f}{repo_p99:>13.2f}")
    finally:
        if args.keep:
            print(f"kept: channel {channel.pk} (#{channel.name}), user {user.username}")
        else:
            repo.delete_conversation(conversation_id=conversation.id)
            MessageSequence.objects.filter(conversation_id=channel.pk).delete()
            channel.delete()
            user.delete()


if __name__ == "__main__":
    main()
