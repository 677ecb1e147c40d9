#!/usr/bin/env python
"""Soak test with a zero-loss check, on the PRIVATE services (bench/private_stack.py).

    .venv/bin/python bench/soak.py --clients 10 --minutes 0.3          # smoke
    .venv/bin/python bench/soak.py --clients 200 --minutes 2
    .venv/bin/python bench/soak.py --clients 50 --minutes 1 --restart-mongo-at 20

Each run uses a fresh MongoDB database (soak_<run>, dropped at the end: FerretDB scans
whole collections, so old runs would slow history down) and its own users and
conversations in the private PostgreSQL. C clients (users) are spread over two
daphne processes and over channels (about 20 members each) and DMs (clients paired).
Each client keeps one WebSocket open, sends messages every few seconds with a
client_msg_id (half over REST, half with message.send) and retries a failed send (5xx,
timeout, error frame, lost socket) with the SAME client_msg_id until it is
acknowledged (or --drain-seconds after the run). Now and then it drops its socket,
reconnects and catches up through history with its after_cursor.

At the end it checks, per conversation: every acknowledged message is in history
exactly once, history is in strictly increasing seq, no client_msg_id is stored twice;
per client: every message stored after it started was received over its socket or
recovered through catch-up, over each socket a conversation's message.created frames
came in increasing seq, and nothing was delivered that is not in history. A 5xx
fails the run too, except a 503 answered while MongoDB is being restarted
(--restart-mongo-at: from the stop until OUTAGE_SETTLE_SECONDS after the restart),
which is what the contract asks for then; those are counted as 503_during_outage.
"""

import argparse
import asyncio
import itertools
import json
import random
import sys
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import httpx
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
import private_stack

SEND_TIMEOUT = 15.0
OUTAGE_SETTLE_SECONDS = 5.0


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=200)
    p.add_argument("--minutes", type=float, default=5.0)
    p.add_argument("--interval", type=float, default=10.0, help="mean seconds between a client's sends (default 10)")
    p.add_argument("--disconnect-prob", type=float, default=0.03, help="chance per send to drop the socket")
    p.add_argument("--restart-mongo-at", type=float, default=None, help="seconds into the run: restart MongoDB")
    p.add_argument("--mongo-down-seconds", type=float, default=3.0)
    p.add_argument("--drain-seconds", type=float, default=60, help="after the run, how long sends may still retry")
    p.add_argument("--no-prepare", action="store_true", help="private services already started")
    p.add_argument("--keep-services", action="store_true", help="do not stop the private services at the end")
    return p.parse_args()


class Stats(Counter):
    pass


STATS = Stats()
OUTAGES: list[list[float]] = []  # [stopped at, settled at] (monotonic) of each injected outage


def count_5xx(status: int) -> None:
    now = time.monotonic()
    if status == 503 and any(start <= now <= end for start, end in OUTAGES):
        STATS["503_during_outage"] += 1
    else:
        STATS["5xx"] += 1


def make_world(n: int, run: str):
    """Users, tokens, channels (about 20 members each) and DMs (pairs), through the ORM."""
    from common import login_token
    from django.contrib.auth.hashers import make_password

    from accounts.models import User, WorkspaceMember, default_workspace_id
    from channels_app.services import channel_create, channel_join
    from dms.services import dm_open

    password = make_password(None)
    users = User.objects.bulk_create(
        [
            User(username=f"soak{run}u{i}", email=f"soak{run}u{i}@example.com", display_name=f"S{i}", password=password)
            for i in range(n)
        ]
    )
    # members of the default workspace (where the services put everything by default)
    WorkspaceMember.objects.bulk_create([WorkspaceMember(workspace_id=default_workspace_id(), user=u) for u in users])
    tokens = [login_token(u) for u in users]
    n_channels = max(1, n // 20)
    channels = [channel_create(user=users[c], name=f"soak-{run}-{c}") for c in range(n_channels)]
    convs = [[] for _ in range(n)]
    for i, user in enumerate(users):
        channel = channels[i % n_channels]
        if channel.created_by_id != user.id:
            channel_join(user=user, channel_id=channel.id)
        convs[i].append(("channels", str(channel.id)))
    for i in range(0, n - 1, 2):
        dm, _ = dm_open(user=users[i], other_user_id=users[i + 1].id)
        convs[i].append(("dms", str(dm.id)))
        convs[i + 1].append(("dms", str(dm.id)))
    return users, tokens, convs


class Client:
    def __init__(self, index, token, convs, server, args):
        self.i = index
        self.token = token
        self.convs = convs  # [(kind, id)]
        self.server = server
        self.args = args
        self.headers = {"Authorization": f"Bearer {token}"}
        self.http = httpx.AsyncClient(base_url=server.http, headers=self.headers, timeout=SEND_TIMEOUT)
        self.ws = None
        self.reader = None
        self.pending: dict[str, asyncio.Future] = {}
        self.cursor: dict[str, str | None] = {}
        self.baseline_seq: dict[str, int] = {}
        self.got: dict[str, dict[str, int]] = defaultdict(dict)  # conv -> {message id: seq}
        self.ws_ids: Counter = Counter()
        self.acked: list[tuple[str, str, str]] = []  # (conv, message id, client_msg_id)
        self.connection_no = 0

    # --- socket -------------------------------------------------------------------

    async def connect(self):
        while True:
            try:
                self.ws = await websockets.connect(
                    self.server.ws, additional_headers=self.headers, open_timeout=10, max_queue=None
                )
                hello = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
                assert hello["type"] == "hello", hello
                self.connection_no += 1
                self.reader = asyncio.create_task(self.read(self.ws, self.connection_no))
                return
            except Exception:
                STATS["ws_connect_failures"] += 1
                await asyncio.sleep(1 + random.random())

    async def read(self, ws, connection_no):
        last_seq: dict[str, int] = {}
        try:
            async for raw in ws:
                frame = json.loads(raw)
                kind = frame.get("type")
                if kind == "message.created":
                    m = frame["message"]
                    conv = m.get("channel_id") or m.get("conversation_id")
                    STATS["delivered"] += 1
                    self.ws_ids[m["id"]] += 1
                    if self.ws_ids[m["id"]] > 1:
                        STATS["duplicated"] += 1
                    if m["seq"] <= last_seq.get(conv, 0):
                        STATS["out_of_order"] += 1
                    last_seq[conv] = m["seq"]
                    self.got[conv][m["id"]] = m["seq"]
                elif kind in ("message.ack", "error"):
                    future = self.pending.pop(frame.get("client_msg_id") or "", None)
                    if future and not future.done():
                        future.set_result(frame)
        except websockets.ConnectionClosed:
            pass
        finally:
            for future in list(self.pending.values()):
                if not future.done():
                    future.set_result({"type": "closed"})

    async def drop_and_catch_up(self):
        STATS["disconnects"] += 1
        await self.ws.close()
        await asyncio.sleep(random.random() * 2)
        await self.connect()
        await self.catch_up()

    # --- history ------------------------------------------------------------------

    async def history(self, kind, conv, params):
        for _ in range(60):
            try:
                r = await self.http.get(f"/api/v1/{kind}/{conv}/messages", params=params)
            except httpx.HTTPError:
                STATS["history_errors"] += 1
                await asyncio.sleep(1)
                continue
            if r.status_code == 200:
                return r.json()
            if r.status_code >= 500:
                count_5xx(r.status_code)
            STATS["history_errors"] += 1
            await asyncio.sleep(1)
        raise RuntimeError(f"history of {conv} unavailable")

    async def start_point(self):
        for kind, conv in self.convs:
            page = await self.history(kind, conv, {"limit": 1})
            self.cursor[conv] = page["after_cursor"]
            self.baseline_seq[conv] = page["results"][-1]["seq"] if page["results"] else 0

    async def catch_up(self):
        for kind, conv in self.convs:
            while True:
                params = {"limit": 200}
                if self.cursor.get(conv):
                    params["after"] = self.cursor[conv]
                page = await self.history(kind, conv, params)
                for m in page["results"]:
                    if m["id"] not in self.got[conv]:
                        STATS["recovered"] += 1
                        self.got[conv][m["id"]] = m["seq"]
                if page["after_cursor"]:
                    self.cursor[conv] = page["after_cursor"]
                if not page["has_more"]:
                    break

    # --- sending ------------------------------------------------------------------

    async def send_one(self, kind, conv):
        client_msg_id = uuid.uuid4().hex
        content = f"soak {self.i} {client_msg_id}"
        STATS["sent"] += 1
        field = "channel_id" if kind == "channels" else "conversation_id"
        use_ws = random.random() < 0.5
        for attempt in range(10_000):
            if attempt and time.monotonic() > self.give_up_at:
                break
            if attempt:
                STATS["retried"] += 1
                await asyncio.sleep(min(5, 0.3 * attempt) + random.random() * 0.3)
            message = None
            if use_ws and self.ws is not None and attempt % 2 == 0:
                future = asyncio.get_running_loop().create_future()
                self.pending[client_msg_id] = future
                try:
                    await self.ws.send(
                        json.dumps(
                            {"type": "message.send", field: conv, "content": content, "client_msg_id": client_msg_id}
                        )
                    )
                    frame = await asyncio.wait_for(future, SEND_TIMEOUT)
                except (TimeoutError, websockets.ConnectionClosed):
                    frame = {"type": "closed"}
                self.pending.pop(client_msg_id, None)
                if frame["type"] == "message.ack":
                    message = frame["message"]
                elif frame["type"] == "error":
                    STATS[f"ws_error_{frame['error']['code']}"] += 1
                else:
                    STATS["ws_send_lost"] += 1
                    if self.ws.state.name != "OPEN":
                        await self.connect()
            else:
                try:
                    r = await self.http.post(
                        f"/api/v1/{kind}/{conv}/messages", json={"content": content, "client_msg_id": client_msg_id}
                    )
                    if r.status_code in (200, 201):
                        message = r.json()
                        if r.status_code == 200:
                            STATS["dedup_200"] += 1
                    else:
                        STATS[f"http_{r.status_code}"] += 1
                        if r.status_code >= 500:
                            count_5xx(r.status_code)
                except httpx.HTTPError:
                    STATS["http_timeouts"] += 1
            if message is not None:
                STATS["acked"] += 1
                self.acked.append((conv, message["id"], client_msg_id))
                return
        STATS["gave_up"] += 1

    async def run(self, until):
        self.give_up_at = until + self.args.drain_seconds
        while time.monotonic() < until:
            await asyncio.sleep(min(random.expovariate(1 / self.args.interval), max(0.0, until - time.monotonic())))
            if time.monotonic() >= until:
                break
            kind, conv = random.choice(self.convs)
            await self.send_one(kind, conv)
            if random.random() < self.args.disconnect_prob:
                await self.drop_and_catch_up()


async def fetch_all(http: httpx.AsyncClient, kind: str, conv: str) -> list[dict]:
    pages, params = [], {"limit": 200}
    while True:
        r = await http.get(f"/api/v1/{kind}/{conv}/messages", params=params)
        r.raise_for_status()
        page = r.json()
        pages.append(page["results"])
        if not page["has_more"]:
            break
        params = {"limit": 200, "before": page["before_cursor"]}
    return [m for page in reversed(pages) for m in page]


async def restart_mongo(at: float, down: float):
    await asyncio.sleep(at)
    print(f"[soak] stopping MongoDB at {at:.0f} s for {down:.0f} s", flush=True)
    outage = [time.monotonic(), float("inf")]
    OUTAGES.append(outage)
    await asyncio.to_thread(private_stack.services, "stop-one", "mongo")
    await asyncio.sleep(down)
    await asyncio.to_thread(private_stack.services, "start-one", "mongo")
    outage[1] = time.monotonic() + OUTAGE_SETTLE_SECONDS
    print("[soak] MongoDB restarted", flush=True)


async def main_async(args, tokens, convs, servers):
    clients = [Client(i, tokens[i], convs[i], servers[i % len(servers)], args) for i in range(len(tokens))]
    sem = asyncio.Semaphore(50)

    async def start(c):
        async with sem:
            await c.connect()
            await c.start_point()

    await asyncio.gather(*(start(c) for c in clients))
    await asyncio.sleep(2)  # presence traffic of the connects settles
    print(f"[soak] {len(clients)} clients connected; sending for {args.minutes} min", flush=True)
    started = time.monotonic()
    until = started + args.minutes * 60
    extra = []
    if args.restart_mongo_at is not None:
        extra.append(asyncio.create_task(restart_mongo(args.restart_mongo_at, args.mongo_down_seconds)))

    async def progress():
        while True:
            await asyncio.sleep(15)
            print(
                f"[soak] {time.monotonic() - started:4.0f} s: sent={STATS['sent']} acked={STATS['acked']} "
                f"retried={STATS['retried']} delivered={STATS['delivered']} 5xx={STATS['5xx']}",
                flush=True,
            )

    reporter = asyncio.create_task(progress())
    await asyncio.gather(*(c.run(until) for c in clients), *extra)
    reporter.cancel()
    elapsed = time.monotonic() - started
    await asyncio.sleep(3)  # in-flight broadcasts arrive
    sem_catch_up = asyncio.Semaphore(10)

    async def final_catch_up(c):
        async with sem_catch_up:
            await c.catch_up()

    await asyncio.gather(*(final_catch_up(c) for c in clients))
    for c in clients:
        await c.ws.close()

    # --- checks ----------------------------------------------------------------
    kinds = {conv: kind for c in clients for kind, conv in c.convs}
    http = clients[0].http
    history: dict[str, list[dict]] = {}
    for conv, kind in kinds.items():
        owner = next(c for c in clients if any(cv == conv for _, cv in c.convs))
        history[conv] = await fetch_all(owner.http, kind, conv)
    ids_in_history = {conv: Counter(m["id"] for m in msgs) for conv, msgs in history.items()}
    for conv, msgs in history.items():
        seqs = [m["seq"] for m in msgs]
        STATS["history_out_of_order"] += sum(1 for a, b in itertools.pairwise(seqs) if b <= a)
        STATS["history_duplicated"] += sum(n - 1 for n in ids_in_history[conv].values() if n > 1)
        cmids = Counter(m["client_msg_id"] for m in msgs if m["client_msg_id"])
        STATS["client_msg_id_stored_twice"] += sum(n - 1 for n in cmids.values() if n > 1)
    for c in clients:
        for conv, mid, _cmid in c.acked:
            if ids_in_history[conv][mid] != 1:
                STATS["acked_missing_from_history"] += 1
        for conv in c.got:
            for mid in c.got[conv]:
                if mid not in ids_in_history[conv]:
                    STATS["delivered_not_in_history"] += 1
        for _, conv in c.convs:
            expected = {m["id"] for m in history[conv] if m["seq"] > c.baseline_seq[conv]}
            STATS["lost"] += len(expected - set(c.got[conv]))
    await asyncio.gather(*(c.http.aclose() for c in clients))
    del http
    STATS["history_messages"] = sum(len(v) for v in history.values())
    return elapsed, len(kinds)


def main():
    args = parse_args()
    run = uuid.uuid4().hex[:6]
    # a fresh MongoDB database per run: history queries see only this run's messages
    private_stack.SERVER_ENV["MONGO_DB"] = f"soak_{run}"
    private_stack.prepare(start=not args.no_prepare)
    private_stack.setup_django()
    _users, tokens, convs = make_world(args.clients, run)
    log_dir = Path("/tmp/slackclone-soak-logs")
    servers = [private_stack.start_server(log_dir) for _ in range(2)]
    try:
        elapsed, n_convs = asyncio.run(main_async(args, tokens, convs, servers))
    finally:
        for server in servers:
            server.stop()
        from messaging.mongo import get_client

        try:
            get_client().drop_database(f"soak_{run}")
        finally:
            if not args.keep_services:
                private_stack.services("stop")
    keys = ["sent", "acked", "retried", "delivered", "recovered", "lost", "duplicated", "out_of_order", "5xx"]
    if args.restart_mongo_at is not None:
        keys.append("503_during_outage")
    checks = [
        "acked_missing_from_history",
        "delivered_not_in_history",
        "history_duplicated",
        "history_out_of_order",
        "client_msg_id_stored_twice",
        "gave_up",
    ]
    print(
        f"\nsoak: {args.clients} clients, 2 servers, {n_convs} conversations, {elapsed:.0f} s"
        + (f", MongoDB restarted at {args.restart_mongo_at:.0f} s" if args.restart_mongo_at is not None else "")
    )
    print("  " + "  ".join(f"{k}={STATS[k]}" for k in keys))
    print("  " + "  ".join(f"{k}={STATS[k]}" for k in checks))
    other = {k: v for k, v in STATS.items() if k not in keys + checks}
    print("  other: " + ", ".join(f"{k}={v}" for k, v in sorted(other.items())))
    must_be_zero = ["lost", "duplicated", "out_of_order", "5xx", *checks]
    bad = sum(STATS[k] for k in must_be_zero) + (STATS["acked"] != STATS["sent"])
    print("RESULT: " + ("PASS (zero loss, zero 5xx)" if not bad else "FAIL"))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
