#!/usr/bin/env python
"""Fan-out benchmark: N WebSocket clients in one channel, spread over server processes.

    .venv/bin/python bench/fanout.py                       # 1000 sockets, 100 messages at 10/s
    .venv/bin/python bench/fanout.py --sockets 20 --messages 10 --rate 20   # smoke check
    .venv/bin/python bench/fanout.py --rate 2 --messages 40 \
        --configs daphne,daphne+queue,uvicorn,uvicorn+queue,daphne@/tmp/base   # issue 13's comparison

What it does, against the development services and database (settings
`slackclone.settings` unless --settings says otherwise; `make services` and
`manage.py migrate` first):

1. creates its own users (one per socket, plus a sender), tokens and a channel with
   all of them as members, directly through the ORM;
2. starts --servers daphne processes (default 2) on free ports, unless --url is given;
3. opens --sockets sockets round-robin over the servers and waits for their hello
   frames; every user connecting announces presence to the channel, so it then waits
   for that presence traffic to settle (reported as "presence settle");
4. reads the RSS (VmRSS) of the first server before and after the sockets are open
   and idle: the difference per socket is the memory an idle connection costs;
5. sends --messages messages at --rate per second through the sender's socket
   (message.send: validation, PostgreSQL seq, MongoDB insert, broadcast), and times
   each until its message.created reached every socket;
6. prints p50/p95/p99 of send-to-receive latency, p50/p99 of send-to-LAST-receipt (per
   message, when the last socket got it) and delivered/expected, then removes
   everything it created;
7. with --configs, steps 2-6 again for each configuration, on the same users and
   channel, one after the other: SERVER[+queue][@CHECKOUT], SERVER serve (default),
   daphne or uvicorn-sansio (bench/common.py start_server), "+queue" with REALTIME_LOCAL_FANOUT=false
   (channels_redis' per-socket queues instead of realtime.layers' local fan-out),
   "@CHECKOUT" serving another checkout (e.g. of main); the first is the one the goal
   row reports; a table of all of them follows;
8. unless --no-baseline: starts as many bench/bare_broadcaster.py processes (a bare
   `websockets` server fed by Redis pub/sub), opens the same number of sockets, and
   PUBLISHes the same payload at the same rate: its send-to-last-receipt p99 is the
   baseline of the goal "p99 <= 3x bare, <= 100 ms, zero lost".

Latency is measured in this process (one clock), so it includes this client's own
scheduling: with many sockets on few cores the client itself is part of the cost.
"""

import argparse
import asyncio
import json
import logging
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from common import (  # noqa: E402
    SERVERS,
    cpu_seconds,
    emit_row,
    login_token,
    percentile,
    raise_nofile_limit,
    rss_kib,
    start_server,
    stop_processes,
)

from slackclone import devserver  # noqa: E402

ORIGIN = "http://127.0.0.1"
APP = "slackclone.asgi:application"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=1000, help="receiving sockets (default 1000)")
    parser.add_argument("--users", type=int, default=None, help="distinct receiving users (default: one per socket)")
    parser.add_argument("--messages", type=int, default=100, help="messages to send (default 100)")
    parser.add_argument("--rate", type=float, default=10.0, help="messages per second (default 10)")
    parser.add_argument("--servers", type=int, default=2, help="server processes to start (default 2)")
    parser.add_argument(
        "--configs",
        default=os.environ.get("SERVER", "serve"),
        help="comma-separated SERVER[+queue][@CHECKOUT] measured one after the other (default: $SERVER or serve)",
    )
    parser.add_argument("--profile", type=float, default=0, help="py-spy the first server for this many s of sends")
    parser.add_argument("--url", action="append", default=[], help="use a running server (http://host:port)")
    parser.add_argument("--settings", default=os.environ.get("DJANGO_SETTINGS_MODULE", "slackclone.settings"))
    parser.add_argument("--connect-concurrency", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for deliveries")
    parser.add_argument("--keep", action="store_true", help="keep the created users and channel")
    parser.add_argument("--verbose", action="store_true", help="print progress while presence settles")
    parser.add_argument("--no-baseline", action="store_true", help="skip the bare broadcaster baseline")
    return parser.parse_args()


# --- setup through the ORM ------------------------------------------------------------


def create_fixture(sockets: int, run: str):
    from django.db import transaction

    from accounts.models import User
    from channels_app.models import Channel, ChannelMember

    with transaction.atomic():
        users = User.objects.bulk_create(
            [
                User(username=f"bench{run}{i}", email=f"bench{run}{i}@bench.invalid", password="!")
                for i in range(sockets + 1)
            ]
        )
        channel = Channel.objects.create(name=f"bench-{run}", description="bench/fanout.py")
        ChannelMember.objects.bulk_create([ChannelMember(channel=channel, user=user) for user in users])
    tokens = [login_token(user) for user in users]
    return [str(u.pk) for u in users], tokens, str(channel.pk)


def remove_fixture(user_ids: list[str], channel_id: str) -> None:
    from accounts.models import User
    from channels_app.models import Channel
    from messaging.models import MessageSequence

    try:
        from messaging.documents import ConversationKind
        from messaging.repositories import repository_for

        repository_for(ConversationKind.CHANNEL).delete_conversation(conversation_id=channel_id)
    except Exception as exc:  # cleanup is best-effort
        print(f"warning: messages of the bench channel were not removed: {exc!r}")
    MessageSequence.objects.filter(conversation_id=channel_id).delete()
    Channel.objects.filter(pk=channel_id).delete()
    User.objects.filter(pk__in=user_ids).delete()


# --- servers ------------------------------------------------------------------------------


class Server:
    def __init__(self, url: str, process: subprocess.Popen | None = None):
        self.url = url.rstrip("/")
        self.process = process

    @property
    def ws(self) -> str:
        return self.url.replace("http", "ws", 1) + "/ws/v1/"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None


def parse_config(spec: str) -> dict:
    """SERVER[+queue][@CHECKOUT] -> {label, server, env, code}."""
    spec = spec.strip()
    rest, _, code = spec.partition("@")
    server, _, flag = rest.partition("+")
    if server not in SERVERS or flag not in ("", "queue"):
        raise SystemExit(f"--configs: bad configuration {spec!r} (SERVER[+queue][@CHECKOUT], SERVER in {SERVERS})")
    env = {"REALTIME_LOCAL_FANOUT": "false"} if flag == "queue" else {}
    return {"label": spec, "server": server, "env": env, "code": code or None}


def start_servers(count: int, settings_module: str, log_dir: Path, config: dict) -> list[Server]:
    servers = []
    for _ in range(count):
        url, process = start_server(config["server"], log_dir, settings_module, code=config["code"], **config["env"])
        servers.append(Server(url, process))
    return servers


def wait_healthy(servers: list[Server], timeout: float = 30) -> None:
    for server in servers:
        try:
            devserver.wait_healthy(server.url, server.process, timeout=timeout)
        except RuntimeError as exc:
            raise SystemExit(str(exc)) from exc


def stop_servers(servers: list[Server]) -> None:
    stop_processes([server.process for server in servers])


# --- the run --------------------------------------------------------------------------------


class Receiver:
    """One socket: records when each bench message's message.created arrives."""

    def __init__(self, ws):
        self.ws = ws
        self.arrivals: dict[str, float] = {}
        self.presence = 0
        self.last_frame = time.perf_counter()

    async def run(self) -> None:
        try:
            async for text in self.ws:
                now = time.perf_counter()
                self.last_frame = now
                # Cheap filtering: this process is the bottleneck with many sockets.
                if '"message.created"' in text:
                    start = text.find('"client_msg_id":"')
                    if start != -1:
                        start += len('"client_msg_id":"')
                        self.arrivals[text[start : text.index('"', start)]] = now
                elif '"presence.changed"' in text:
                    self.presence += 1
        except Exception:  # closed
            return


async def open_socket(url: str, token: str):
    from websockets.asyncio.client import connect

    ws = await connect(
        url,
        additional_headers={"Authorization": f"Bearer {token}"},
        origin=ORIGIN,
        open_timeout=60,
        max_queue=None,
        ping_interval=None,
    )
    hello = json.loads(await asyncio.wait_for(ws.recv(), 30))
    assert hello["type"] == "hello", hello
    return ws


async def run(args, servers: list[Server], tokens: list[str], channel_id: str) -> dict:
    sender_token, receiver_tokens = tokens[0], tokens[1:]
    first = servers[0]
    rss_before = rss_kib(first.pid) if first.pid else None

    limit = asyncio.Semaphore(args.connect_concurrency)

    async def connect_one(i: int, token: str):
        async with limit:
            server = servers[i % len(servers)]
            return server, await open_socket(server.ws, token)

    started = time.perf_counter()
    opened = await asyncio.gather(*(connect_one(i, t) for i, t in enumerate(receiver_tokens)))
    connect_seconds = time.perf_counter() - started
    receivers = [Receiver(ws) for _server, ws in opened]
    tasks = [asyncio.create_task(r.run()) for r in receivers]
    on_first = sum(1 for server, _ws in opened if server is first)

    # Every user that connected announced itself to everyone in the channel (N * N
    # presence.changed frames): wait until the servers are idle and the frames stopped.
    settle_started = time.perf_counter()
    pids = [s.pid for s in servers if s.pid]
    while time.perf_counter() - settle_started < 300:
        before = sum(cpu_seconds(pid) for pid in pids)
        await asyncio.sleep(1)
        busy = (sum(cpu_seconds(pid) for pid in pids) - before) / max(1, len(pids))
        if args.verbose:
            frames = sum(r.presence for r in receivers)
            print(f"  settling: server cpu {busy:.2f}, presence frames {frames}", flush=True)
        if busy < 0.05 and time.perf_counter() - max(r.last_frame for r in receivers) > 1.5:
            break
    settle_seconds = time.perf_counter() - settle_started
    await asyncio.sleep(1)
    rss_after = rss_kib(first.pid) if first.pid else None

    sender = await open_socket(first.ws, sender_token)
    acks: dict[str, float] = {}

    async def read_acks():
        try:
            async for text in sender:
                frame = json.loads(text)
                if frame["type"] == "message.ack":
                    acks[frame["client_msg_id"]] = time.perf_counter()
                elif frame["type"] == "error":
                    print("send error:", frame)
        except Exception:
            return

    ack_task = asyncio.create_task(read_acks())
    profiler = None
    if args.profile and first.pid:
        out = args.log_dir / f"profile-{args.label.replace('/', '_')}-{first.pid}.txt"
        py_spy = [str(ROOT / ".venv/bin/py-spy"), "record", "-p", str(first.pid), "-r", "200", "-f", "raw"]
        profiler = subprocess.Popen(  # noqa: ASYNC220
            [*py_spy, "-d", str(int(args.profile)), "-o", str(out), "--nonblocking"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        print(f"profiling {first.url} (pid {first.pid}) for {args.profile:g} s -> {out}", flush=True)
    cpu_before = sum(cpu_seconds(pid) for pid in pids)
    sent: dict[str, float] = {}
    interval = 1.0 / args.rate
    next_at = time.perf_counter()
    for i in range(args.messages):
        client_msg_id = f"b{i}-{uuid.uuid4().hex[:8]}"
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        sent[client_msg_id] = time.perf_counter()
        await sender.send(
            json.dumps(
                {
                    "type": "message.send",
                    "channel_id": channel_id,
                    "content": f"bench {i}",
                    "client_msg_id": client_msg_id,
                }
            )
        )
        next_at += interval

    expected = len(sent) * len(receivers)
    deadline = time.perf_counter() + args.timeout
    while time.perf_counter() < deadline:
        if sum(len(r.arrivals) for r in receivers) >= expected:
            break
        await asyncio.sleep(0.1)

    server_cpu = sum(cpu_seconds(pid) for pid in pids) - cpu_before
    if profiler is not None:
        profiler.wait(timeout=args.profile + 30)
    last_receipts = last_receipt_latencies(sent, receivers)
    latencies = [(arrived - sent[cid]) * 1000 for r in receivers for cid, arrived in r.arrivals.items() if cid in sent]
    ack_latencies = [(acks[cid] - sent[cid]) * 1000 for cid in sent if cid in acks]
    for ws in [sender] + [ws for _server, ws in opened]:
        await ws.close()
    for task in [*tasks, ack_task]:
        task.cancel()
    return {
        "sockets": len(receivers),
        "on_first": on_first,
        "connect_seconds": connect_seconds,
        "settle_seconds": settle_seconds,
        "presence_frames": sum(r.presence for r in receivers),
        "rss_before": rss_before,
        "rss_after": rss_after,
        "latencies": latencies,
        "ack_latencies": ack_latencies,
        "delivered": len(latencies),
        "expected": expected,
        "acked": len(ack_latencies),
        "sent": len(sent),
        "server_cpu": server_cpu if pids else None,
        "last_receipts": last_receipts,
        "after_ack": after_ack(sent, acks, receivers),
    }


def last_receipt_latencies(sent: dict[str, float], receivers) -> list[float]:
    """Per message delivered to every socket: ms from send to the last socket's receipt."""
    out = []
    for cid, at in sent.items():
        arrivals = [r.arrivals.get(cid) for r in receivers]
        if all(a is not None for a in arrivals):
            out.append((max(arrivals) - at) * 1000)
    return out


def after_ack(sent: dict[str, float], acks: dict[str, float], receivers) -> list[float]:
    """Per message delivered to every socket: ms from the sender's ack (the message is
    stored and published) to the last socket's receipt: the fan-out without the send."""
    out = []
    for cid in sent:
        arrivals = [r.arrivals.get(cid) for r in receivers]
        if cid in acks and all(a is not None for a in arrivals):
            out.append((max(arrivals) - acks[cid]) * 1000)
    return out


# --- the baseline: bare websockets servers fed by Redis pub/sub ------------------------------


def sample_frame(channel_id: str, i: int, client_msg_id: str) -> str:
    """A message.created frame of the same shape and size as the server's."""
    message = {
        "id": uuid.uuid4().hex[:24],
        "channel_id": channel_id,
        "seq": i + 1,
        "sender_id": str(uuid.uuid4()),
        "content": f"bench {i}",
        "type": "TEXT",
        "created_at": "2026-01-01T00:00:00.000Z",
        "edited_at": None,
        "client_msg_id": client_msg_id,
    }
    return json.dumps({"type": "message.created", "message": message}, separators=(",", ":"))


async def run_bare(args, log_dir: Path) -> dict:
    import redis.asyncio as aioredis
    from django.conf import settings
    from websockets.asyncio.client import connect

    channel = f"slackclone-bench-bare-{uuid.uuid4().hex[:8]}"
    processes, urls = [], []
    for _ in range(args.servers):
        port = devserver.free_port()
        with (log_dir / f"bare-{port}.log").open("w") as log:
            processes.append(
                subprocess.Popen(  # noqa: ASYNC220
                    [
                        sys.executable,
                        str(ROOT / "bench/bare_broadcaster.py"),
                        "--port",
                        str(port),
                        "--redis",
                        settings.REDIS_URL,
                        "--channel",
                        channel,
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        urls.append(f"ws://127.0.0.1:{port}/")
    redis = aioredis.from_url(settings.REDIS_URL)
    try:
        for url in urls:  # wait until listening
            for _ in range(100):
                try:
                    ws = await connect(url, ping_interval=None)
                    await ws.close()
                    break
                except OSError:
                    await asyncio.sleep(0.1)
        limit = asyncio.Semaphore(args.connect_concurrency)

        async def connect_one(i: int):
            async with limit:
                ws = await connect(urls[i % len(urls)], open_timeout=60, max_queue=None, ping_interval=None)
                await asyncio.wait_for(ws.recv(), 30)  # hello
                return ws

        sockets = await asyncio.gather(*(connect_one(i) for i in range(args.sockets)))
        receivers = [Receiver(ws) for ws in sockets]
        tasks = [asyncio.create_task(r.run()) for r in receivers]
        await asyncio.sleep(1)
        pids = [p.pid for p in processes]
        cpu_before = sum(cpu_seconds(pid) for pid in pids)
        sent: dict[str, float] = {}
        interval, next_at = 1.0 / args.rate, time.perf_counter()
        fake_channel = str(uuid.uuid4())
        for i in range(args.messages):
            cid = f"b{i}-{uuid.uuid4().hex[:8]}"
            payload = sample_frame(fake_channel, i, cid)
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            sent[cid] = time.perf_counter()
            await redis.publish(channel, payload)
            next_at += interval
        expected = len(sent) * len(receivers)
        deadline = time.perf_counter() + args.timeout
        while time.perf_counter() < deadline and sum(len(r.arrivals) for r in receivers) < expected:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        cpu = sum(cpu_seconds(pid) for pid in pids) - cpu_before
        latencies = [(at - sent[cid]) * 1000 for r in receivers for cid, at in r.arrivals.items() if cid in sent]
        result = {
            "latencies": latencies,
            "last_receipts": last_receipt_latencies(sent, receivers),
            "delivered": len(latencies),
            "expected": expected,
            "server_cpu": cpu,
        }
        for ws in sockets:
            await ws.close()
        for task in tasks:
            task.cancel()
        return result
    finally:
        await redis.aclose()
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def report(args, result: dict, servers: list[Server]) -> None:
    lat = result["latencies"]
    print(f"--- {args.label}")
    print(f"servers            {len(servers)} ({', '.join(s.url for s in servers)})")
    print(
        f"sockets            {result['sockets']} receiving ({args.users or result['sockets']} users) + 1 sending; "
        f"{result['on_first']} on {servers[0].url}; opened in {result['connect_seconds']:.1f} s"
    )
    print(
        f"presence settle    {result['settle_seconds']:.1f} s until the servers were idle "
        f"({result['presence_frames']} presence.changed frames received by the sockets)"
    )
    print(f"messages           {result['sent']} sent at {args.rate:g}/s, {result['acked']} acked")
    print(
        f"delivered          {result['delivered']}/{result['expected']} message.created "
        f"({100 * result['delivered'] / max(1, result['expected']):.1f}%)"
    )
    print(
        f"latency (ms)       p50 {percentile(lat, 50):.1f}  p95 {percentile(lat, 95):.1f}  "
        f"p99 {percentile(lat, 99):.1f}  max {max(lat) if lat else float('nan'):.1f}"
        + (f"  mean {statistics.fmean(lat):.1f}" if lat else "")
    )
    if result["server_cpu"] is not None and result["delivered"]:
        print(
            f"server cpu         {result['server_cpu']:.2f} s for the send phase: "
            f"{1e6 * result['server_cpu'] / result['delivered']:.0f} us per delivered message.created"
        )
    last = result["last_receipts"]
    print(
        f"last receipt (ms)  p50 {percentile(last, 50):.1f}  p99 {percentile(last, 99):.1f}  "
        f"(send to the last socket's receipt, {len(last)} messages reached every socket)"
    )
    acks = result["ack_latencies"]
    print(f"ack latency (ms)   p50 {percentile(acks, 50):.1f}  p99 {percentile(acks, 99):.1f}")
    fan = result["after_ack"]
    print(
        f"ack to last (ms)   p50 {percentile(fan, 50):.1f}  p99 {percentile(fan, 99):.1f}  (the fan-out after the send)"
    )
    if result["rss_before"] and result["rss_after"] and result["on_first"]:
        delta = result["rss_after"] - result["rss_before"]
        print(
            f"memory             {servers[0].url} (pid {servers[0].pid}) VmRSS {result['rss_before']} -> "
            f"{result['rss_after']} KiB with {result['on_first']} idle sockets: "
            f"{delta / result['on_first']:.1f} KiB per socket"
        )
    else:
        print("memory             not measured (servers not started by this script)")


def report_goal(args, result: dict, bare: dict | None) -> None:
    ours_p99 = percentile(result["last_receipts"], 99)
    lost = result["expected"] - result["delivered"]
    if bare is not None:
        bare_p99 = percentile(bare["last_receipts"], 99)
        bare_lost = bare["expected"] - bare["delivered"]
        print(
            f"bare broadcaster   {args.servers} x bench/bare_broadcaster.py, {args.sockets} sockets: delivered "
            f"{bare['delivered']}/{bare['expected']}; latency p50 {percentile(bare['latencies'], 50):.1f} "
            f"p99 {percentile(bare['latencies'], 99):.1f}; "
            f"last receipt p50 {percentile(bare['last_receipts'], 50):.1f} "
            f"p99 {bare_p99:.1f} ms; server cpu {bare['server_cpu']:.2f} s"
            f" ({1e6 * bare['server_cpu'] / max(1, bare['delivered']):.0f} us per delivered frame)"
        )
        ratio = ours_p99 / bare_p99 if bare_p99 > 0 else float("inf")
        note = f"lost {lost}; bare lost {bare_lost}"
    else:
        bare_p99, ratio, note = float("nan"), float("nan"), f"lost {lost}; no baseline"
    emit_row(
        f"2 fan-out {args.sockets} sockets {args.rate:g} msg/s: last-receipt p99 <= 100 ms, <= 3x bare, 0 lost",
        f"{bare_p99:.0f} ms",
        f"{ours_p99:.0f} ms",
        f"{ratio:.2f}",
        ours_p99 <= 100 and ratio <= 3 and lost == 0,
        note=note,
    )


def summary(args, results: list[tuple[str, dict]], bare: dict | None) -> None:
    """One line per configuration of this run (and the bare broadcaster)."""
    print(f"--- same run: {args.sockets} sockets over {args.servers} processes, {args.rate:g} msg/s")
    print(
        "configuration             delivered      last-receipt p50/p99 ms   per-socket p99 ms   "
        "ack p50 ms   ack-to-last p99   server us/frame   KiB/socket"
    )
    rows = list(results) + ([("bare broadcaster", bare)] if bare is not None else [])
    for label, r in rows:
        last, lat = r["last_receipts"], r["latencies"]
        acks = r.get("ack_latencies") or []
        fan = r.get("after_ack") or []
        per_frame = 1e6 * r["server_cpu"] / max(1, r["delivered"]) if r.get("server_cpu") is not None else None
        kib = None
        if r.get("rss_before") and r.get("rss_after") and r.get("on_first"):
            kib = (r["rss_after"] - r["rss_before"]) / r["on_first"]
        print(
            f"{label:<25} {r['delivered']:>6}/{r['expected']:<7} "
            f"{percentile(last, 50):>8.1f} / {percentile(last, 99):<8.1f}      "
            f"{percentile(lat, 99):>8.1f}       "
            f"{(f'{percentile(acks, 50):.1f}' if acks else '-'):>10}   "
            f"{(f'{percentile(fan, 99):.1f}' if fan else '-'):>15}   "
            f"{(f'{per_frame:.0f}' if per_frame is not None else '-'):>15}   "
            f"{(f'{kib:.1f}' if kib is not None else '-'):>10}"
        )


def main() -> None:
    args = parse_args()
    configs = [parse_config(spec) for spec in args.configs.split(",") if spec.strip()]
    nofile = raise_nofile_limit()
    if args.sockets + 50 > nofile:
        raise SystemExit(f"RLIMIT_NOFILE is {nofile}: too low for {args.sockets} sockets")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", args.settings)
    os.environ["DJANGO_SETTINGS_MODULE"] = args.settings
    import django

    django.setup()
    logging.getLogger("httpx").setLevel(logging.WARNING)

    run_id = uuid.uuid4().hex[:8]
    print(f"bench {run_id}: creating users and a channel ...", flush=True)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    users = min(args.users or args.sockets, args.sockets)
    user_ids, tokens, channel_id = create_fixture(users, run_id)
    # the sender, then one token per socket (round-robin over the receiving users)
    tokens = [tokens[0]] + [tokens[1 + i % users] for i in range(args.sockets)]
    log_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"slackclone-bench-{run_id}"
    log_dir.mkdir(parents=True, exist_ok=True)
    args.log_dir = log_dir
    results: list[tuple[str, dict]] = []
    servers: list[Server] = []
    try:
        goal_label = None
        for config in configs if not args.url else configs[:1]:
            args.label = config["label"] if not args.url else ",".join(args.url)
            goal_label = goal_label or args.label
            servers = [Server(url) for url in args.url] or start_servers(args.servers, args.settings, log_dir, config)
            wait_healthy(servers)
            try:
                result = asyncio.run(run(args, servers, tokens, channel_id))
            except Exception as exc:  # e.g. connects refused on an overloaded machine: go on with the others
                if not results and len(configs) == 1:
                    raise
                print(f"--- {args.label}: FAILED: {exc!r}", flush=True)
                stop_servers(servers)
                continue
            report(args, result, servers)
            stop_servers(servers)
            results.append((args.label, result))
            if len(configs) > 1:
                time.sleep(3)  # let the users' presence grace end between configurations
        bare = None if args.no_baseline else asyncio.run(run_bare(args, log_dir))
        if len(results) > 1 or bare is not None:
            summary(args, results, bare)
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
        if results and results[0][0] == goal_label:
            report_goal(args, results[0][1], bare)
    finally:
        stop_servers(servers)
        if not args.keep:
            remove_fixture(user_ids, channel_id)
        print(f"server logs        {log_dir}")


if __name__ == "__main__":
    main()
