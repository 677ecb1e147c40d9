#!/usr/bin/env python
"""Persisted sends into ONE 10-member channel, against the raw MongoDB insert rate.

    .venv/bin/python bench/sends.py                              # levels 1,2,4,8; 8 s each
    .venv/bin/python bench/sends.py --levels 1,4 --seconds 2     # smoke check

For each concurrency level it measures, closed loop (each worker waits for its ack
before sending again):

  * REST: POST /api/v1/channels/<id>/messages (201 = stored and acknowledged);
  * WS:   message.send over a socket, until its message.ack;
  * raw:  pymongo insert_one of documents of the same shape (repository.to_mongo) into
          the same collection on the same server, from as many threads.

The 10 members all hold a live socket during the run (they receive every
message.created). Servers: --servers daphne processes (default 2) started here with
the write throttle lifted, sends spread round-robin over them. At the end every acked
message is counted in MongoDB (stored == acked), and everything created is removed.

Goal: at the level that maximises throughput, ours >= 35% of raw insert_one at that
same level. Sends into one channel are serialised BY DESIGN (a PostgreSQL row lock per
conversation is held across the seq upsert, the MongoDB insert and the broadcast; see
messaging/services/store.py): adding concurrency beyond ~2 only queues on that lock.
"""

import argparse
import asyncio
import json
import os
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    ORIGIN,
    django_setup,
    emit_row,
    login_token,
    percentile,
    raise_nofile_limit,
    remove_fixture,
    start_web_server,
    stop_processes,
    wait_http,
)

GOAL_RATIO = 0.35
MEMBERS = 10


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default="1,2,4,8", help="concurrency levels (default 1,2,4,8)")
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds per level and path (default 8)")
    parser.add_argument("--servers", type=int, default=2, help="daphne processes to start (default 2)")
    parser.add_argument("--settings", default=os.environ.get("DJANGO_SETTINGS_MODULE", "slackclone.settings"))
    return parser.parse_args()


def create_fixture(run: str):
    from django.db import transaction

    from accounts.models import User
    from channels_app.models import Channel, ChannelMember

    with transaction.atomic():
        users = User.objects.bulk_create(
            [
                User(username=f"sends{run}{i}", email=f"sends{run}{i}@bench.invalid", password="!")
                for i in range(MEMBERS)
            ]
        )
        channel = Channel.objects.create(name=f"sends-{run}", description="bench/sends.py")
        ChannelMember.objects.bulk_create([ChannelMember(channel=channel, user=u) for u in users])
    tokens = [login_token(u) for u in users]
    return [str(u.pk) for u in users], tokens, str(channel.pk)


# --- raw baseline --------------------------------------------------------------------


def raw_inserts(concurrency: int, seconds: float, sender_id: str) -> tuple[str, dict]:
    """insert_one of same-shaped documents from `concurrency` threads for `seconds`."""
    from messaging.documents import Conversation, ConversationKind, MessageDocument, MessageType
    from messaging.repositories import repository_for, truncate_ms

    repo = repository_for(ConversationKind.CHANNEL)
    conversation = Conversation(ConversationKind.CHANNEL, str(uuid.uuid4()))
    collection = repo.collection
    counter = iter(range(1, 10**9))
    lock = threading.Lock()
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds

    def worker():
        from datetime import UTC, datetime

        local = []
        while time.perf_counter() < stop_at:
            with lock:
                seq = next(counter)
            message_id = repo.new_id()
            doc = repo.to_mongo(
                MessageDocument(
                    id=message_id,
                    conversation=conversation,
                    seq=seq,
                    sender_id=sender_id,
                    content=f"bench send {seq}",
                    type=MessageType.TEXT,
                    created_at=truncate_ms(datetime.now(UTC)),
                    edited_at=None,
                    client_msg_id=uuid.uuid4().hex,
                    dedupe_key=f"c:{uuid.uuid4().hex}",
                )
            )
            started = time.perf_counter()
            collection.insert_one(doc)
            local.append((time.perf_counter() - started) * 1000)
        with lock:
            latencies.extend(local)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return conversation.id, stats(latencies, elapsed)


def stats(latencies: list[float], elapsed: float) -> dict:
    return {
        "count": len(latencies),
        "rate": len(latencies) / elapsed if elapsed else 0.0,
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
    }


# --- our paths -------------------------------------------------------------------------


async def rest_sends(urls, tokens, channel_id, concurrency, seconds) -> dict:
    import httpx

    latencies: list[float] = []
    errors: list[str] = []
    stop_at = time.perf_counter() + seconds

    async def worker(i: int):
        url = f"{urls[i % len(urls)]}/api/v1/channels/{channel_id}/messages"
        headers = {"Authorization": f"Bearer {tokens[i % len(tokens)]}"}
        async with httpx.AsyncClient(timeout=30) as client:
            n = 0
            while time.perf_counter() < stop_at:
                n += 1
                body = {"content": f"rest {i}-{n}", "client_msg_id": uuid.uuid4().hex}
                started = time.perf_counter()
                response = await client.post(url, json=body, headers=headers)
                if response.status_code != 201:
                    errors.append(f"{response.status_code} {response.text[:200]}")
                    continue
                latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    result = stats(latencies, time.perf_counter() - started)
    result["errors"] = len(errors)
    if errors:
        print(f"  REST errors: {len(errors)}, first: {errors[0]}")
    return result


async def open_socket(url: str, token: str):
    from websockets.asyncio.client import connect

    ws = await connect(
        url, additional_headers={"Authorization": f"Bearer {token}"}, origin=ORIGIN, max_queue=None, ping_interval=None
    )
    hello = json.loads(await asyncio.wait_for(ws.recv(), 30))
    assert hello["type"] == "hello", hello
    return ws


async def ws_sends(ws_urls, tokens, channel_id, concurrency, seconds) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    stop_at = time.perf_counter() + seconds
    sockets = [await open_socket(ws_urls[i % len(ws_urls)], tokens[i % len(tokens)]) for i in range(concurrency)]

    async def worker(i: int, ws):
        n = 0
        while time.perf_counter() < stop_at:
            n += 1
            cid = uuid.uuid4().hex
            frame = {"type": "message.send", "channel_id": channel_id, "content": f"ws {i}-{n}", "client_msg_id": cid}
            started = time.perf_counter()
            await ws.send(json.dumps(frame))
            while True:
                text = await asyncio.wait_for(ws.recv(), 30)
                if '"message.ack"' in text and cid in text:
                    latencies.append((time.perf_counter() - started) * 1000)
                    break
                if text.startswith('{"type":"error"') and cid in text:
                    errors.append(text[:200])
                    break

    started = time.perf_counter()
    await asyncio.gather(*(worker(i, ws) for i, ws in enumerate(sockets)))
    result = stats(latencies, time.perf_counter() - started)
    result["errors"] = len(errors)
    if errors:
        print(f"  WS errors: {len(errors)}, first: {errors[0]}")
    for ws in sockets:
        await ws.close()
    return result


async def members_online(ws_urls, tokens):
    """Every member holds one socket that drains its frames (message.created etc.)."""
    sockets = [await open_socket(ws_urls[i % len(ws_urls)], t) for i, t in enumerate(tokens)]
    received = [0]

    async def drain(ws):
        try:
            async for text in ws:
                if '"message.created"' in text:
                    received[0] += 1
        except Exception:
            return

    tasks = [asyncio.create_task(drain(ws)) for ws in sockets]
    return sockets, tasks, received


async def run_all_levels(args, urls, tokens, user_ids, channel_id, levels):
    """Per level: ours (REST, WS), then raw inserts, whose documents are removed at once:
    on FerretDB every query scans the whole collection, so leftovers would slow ours."""
    from messaging.documents import ConversationKind
    from messaging.repositories import repository_for

    repo = repository_for(ConversationKind.CHANNEL)
    ws_urls = [u.replace("http", "ws", 1) + "/ws/v1/" for u in urls]
    sockets, tasks, received = await members_online(ws_urls, tokens)
    await asyncio.sleep(1.0)  # presence of the members settles
    results, raw = {}, {}
    for level in levels:
        results[("rest", level)] = await rest_sends(urls, tokens, channel_id, level, args.seconds)
        results[("ws", level)] = await ws_sends(ws_urls, tokens, channel_id, level, args.seconds)
        raw_id, raw[level] = await asyncio.to_thread(raw_inserts, level, args.seconds, user_ids[0])
        await asyncio.to_thread(repo.delete_conversation, conversation_id=raw_id)
    await asyncio.sleep(1.0)
    for ws in sockets:
        await ws.close()
    for task in tasks:
        task.cancel()
    return results, raw, received[0]


def main() -> None:
    args = parse_args()
    levels = [int(x) for x in args.levels.split(",") if x.strip()]
    raise_nofile_limit()
    django_setup(args.settings)
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    from messaging.documents import ConversationKind
    from messaging.repositories import repository_for

    run = uuid.uuid4().hex[:8]
    user_ids, tokens, channel_id = create_fixture(run)
    log_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"slackclone-bench-sends-{run}"
    log_dir.mkdir(parents=True, exist_ok=True)
    servers = [start_web_server(log_dir, args.settings, THROTTLE_WRITE="100000000/min") for _ in range(args.servers)]
    raw_ids: list[str] = []
    try:
        for url, process in servers:
            wait_http(url, process)
        urls = [url for url, _ in servers]
        ours, raw, received = asyncio.run(run_all_levels(args, urls, tokens, user_ids, channel_id, levels))
        stored = repository_for(ConversationKind.CHANNEL).count(conversation_id=channel_id)
        acked = sum(r["count"] for r in ours.values())

        total = repository_for(ConversationKind.CHANNEL).collection.estimated_document_count()
        print(f"collection channel_messages holds {total} documents (FerretDB scans all of them per query)")
        print(f"channel of {MEMBERS} members, all connected; {len(urls)} server processes; {args.seconds:g} s per cell")
        header = f"{'conc':>4} {'path':<5}{'msgs/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
        header += f"{'raw msgs/s':>12}{'raw p99':>9}{'ratio':>7}"
        print(header)
        print("-" * len(header))
        for level in levels:
            for path in ("rest", "ws"):
                r = ours[(path, level)]
                ratio = r["rate"] / raw[level]["rate"] if raw[level]["rate"] else 0
                print(
                    f"{level:>4} {path:<5}{r['rate']:>9.1f}{r['p50']:>9.1f}{r['p99']:>9.1f}"
                    f"{raw[level]['rate']:>12.1f}{raw[level]['p99']:>9.1f}{ratio:>7.2f}"
                )
        print(f"stored/acked       {stored}/{acked} (message.created frames received by members: {received})")
        lock_note = (
            "sends into one channel are serialised by the per-conversation row lock: "
            f"raw inserts scale {raw[levels[0]]['rate']:.0f} -> {max(r['rate'] for r in raw.values()):.0f}/s with "
            f"concurrency, ours at most {max(r['rate'] for r in ours.values()):.0f}/s"
        )
        print(lock_note)
        for path, name in (("rest", "REST"), ("ws", "WS message.send")):
            best = max(levels, key=lambda lv: ours[(path, lv)]["rate"])
            r, b = ours[(path, best)], raw[best]
            ratio = r["rate"] / b["rate"] if b["rate"] else 0.0
            emit_row(
                f"1 sends {name} (c={best}) >= 35% raw",
                f"{b['rate']:.0f}/s",
                f"{r['rate']:.0f}/s p50 {r['p50']:.0f} p99 {r['p99']:.0f} ms",
                f"{ratio:.2f}",
                ratio >= GOAL_RATIO and stored == acked and r["errors"] == 0,
                note="stored==acked" if stored == acked else f"stored {stored} != acked {acked}",
            )
    finally:
        stop_processes([p for _, p in servers])
        remove_fixture(user_ids=user_ids, channel_ids=[channel_id], other_conversation_ids=raw_ids)


if __name__ == "__main__":
    main()
