#!/usr/bin/env python
"""Fault injection against REAL services: stops and restarts MongoDB, Redis and
PostgreSQL of a PRIVATE stack (bench/private_stack.py: DATA_DIR=/tmp/slackclone-chaos,
ports 23664/23711/24349), never the shared development services.

    .venv/bin/python bench/chaos.py            # or: make chaos

Two daphne processes (A and B) run against the private stack. Cases:
  (a) MongoDB stopped: every send answers 503 with Retry-After within the bound
      (MONGO_TIMEOUT_MS, default 2000 ms), nothing is broadcast to a connected socket;
      after the restart sends succeed without restarting the app.
  (b) Redis stopped: sends persist (201); realtime degrades; after the restart sockets
      reconnect, receive again and presence is back; a member who left the channel while
      Redis was down (their unsubscribe lost) hears nothing of it once the live sockets'
      audit ran (realtime.audit; REALTIME_AUDIT_SECONDS=AUDIT_SECONDS here).
  (c) PostgreSQL stopped: clear 503s with Retry-After; recovery after the restart.
Prints one table; exits non-zero if a check failed. Stops the private services at the end.
"""

import argparse
import asyncio
import json
import sys
import time
import uuid
from pathlib import Path

import httpx
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
import private_stack

ROWS: list[tuple[str, str, bool, str]] = []
AUDIT_SECONDS = 2.0  # the servers' REALTIME_AUDIT_SECONDS (default 30)


def check(case: str, what: str, ok: bool, figure: str = "") -> None:
    ROWS.append((case, what, bool(ok), figure))
    print(f"  [{'ok' if ok else 'FAIL'}] {case}: {what} {figure}", flush=True)


def world():
    from common import login_token

    from accounts.models import User
    from channels_app.services import channel_create, channel_join

    run = uuid.uuid4().hex[:6]
    sender = User.objects.create_user(f"chaos{run}s", f"chaos{run}s@example.com", None)
    receiver = User.objects.create_user(f"chaos{run}r", f"chaos{run}r@example.com", None)
    leaver = User.objects.create_user(f"chaos{run}l", f"chaos{run}l@example.com", None)
    channel = channel_create(user=sender, name=f"chaos-{run}")
    channel_join(user=receiver, channel_id=channel.id)
    channel_join(user=leaver, channel_id=channel.id)
    tokens = (login_token(sender), login_token(receiver), login_token(leaver))
    return tokens, str(channel.id), str(receiver.id)


class Socket:
    """A receiving socket that reconnects by itself and records message.created ids."""

    def __init__(self, url: str, token: str):
        self.url, self.token = url, token
        self.created: list[str] = []
        self.connects = 0
        self.connected = asyncio.Event()
        self.task = asyncio.create_task(self.run())

    async def run(self):
        while True:
            try:
                async with websockets.connect(
                    self.url, additional_headers={"Authorization": f"Bearer {self.token}"}, open_timeout=5
                ) as ws:
                    hello = json.loads(await asyncio.wait_for(ws.recv(), 5))
                    if hello.get("type") != "hello":
                        raise RuntimeError(hello)
                    self.connects += 1
                    self.connected.set()
                    async for raw in ws:
                        frame = json.loads(raw)
                        if frame.get("type") == "message.created":
                            self.created.append(frame["message"]["id"])
            except asyncio.CancelledError:
                raise
            except Exception:
                pass
            self.connected.clear()
            await asyncio.sleep(0.5)

    async def wait_for(self, message_id: str, within: float) -> bool:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if message_id in self.created:
                return True
            await asyncio.sleep(0.05)
        return False


async def send(
    http: httpx.AsyncClient, channel: str, content: str = "chaos"
) -> tuple[int, float, httpx.Response | None]:
    started = time.monotonic()
    try:
        r = await http.post(
            f"/api/v1/channels/{channel}/messages", json={"content": content, "client_msg_id": uuid.uuid4().hex}
        )
        return r.status_code, (time.monotonic() - started) * 1000, r
    except httpx.HTTPError:
        return 0, (time.monotonic() - started) * 1000, None


async def send_until_ok(http, channel, within: float = 30) -> tuple[httpx.Response | None, float]:
    started = time.monotonic()
    while time.monotonic() - started < within:
        status, _, r = await send(http, channel, "after restart")
        if status == 201:
            return r, time.monotonic() - started
        await asyncio.sleep(0.5)
    return None, time.monotonic() - started


async def sends_while_down(http, channel, n: int):
    results = [await send(http, channel, f"down {i}") for i in range(n)]
    statuses = sorted({s for s, _, _ in results})
    latencies = [ms for _, ms, _ in results]
    retry_after = all(r is not None and r.headers.get("Retry-After") for _, _, r in results)
    return statuses, max(latencies), retry_after, results


async def case_mongo(servers, tokens, channel, n):
    sender, receiver_token, _ = tokens
    a, b = servers
    sock = Socket(b.ws, receiver_token)
    await asyncio.wait_for(sock.connected.wait(), 10)
    async with httpx.AsyncClient(base_url=a.http, headers={"Authorization": f"Bearer {sender}"}, timeout=30) as http:
        status, _, _ = await send(http, channel, "before")
        check("mongo", "send before the fault", status == 201, f"({status})")
        await asyncio.sleep(0.5)
        before = len(sock.created)
        private_stack.services("stop-one", "mongo")
        statuses, worst, retry_after, results = await sends_while_down(http, channel, n)
        check("mongo", f"{n} sends while down answer 503", statuses == [503], f"(statuses {statuses})")
        check("mongo", "  ... each with Retry-After", retry_after)
        each = " ".join(f"{ms:.0f}" for _, ms, _ in results)
        check(
            "mongo",
            "  ... within 1.5 x MONGO_TIMEOUT_MS (3000 ms)",
            worst <= 3000,
            f"(max {worst:.0f} ms; each: {each})",
        )
        async with websockets.connect(a.ws, additional_headers={"Authorization": f"Bearer {sender}"}) as ws:
            await ws.recv()
            t = time.monotonic()
            await ws.send(
                json.dumps({"type": "message.send", "channel_id": channel, "content": "x", "client_msg_id": "w1"})
            )
            frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
            while frame.get("type") == "presence.changed":
                frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
            code = frame.get("error", {}).get("code")
            check(
                "mongo",
                "message.send over a socket gets an error frame",
                code == "store_unavailable",
                f"({code}, {(time.monotonic() - t) * 1000:.0f} ms)",
            )
        await asyncio.sleep(1)
        check(
            "mongo",
            "nothing broadcast while down",
            len(sock.created) == before,
            f"({len(sock.created) - before} events)",
        )
        health = (await http.get("/api/v1/health")).json()
        check("mongo", "health says mongo down", health.get("mongo") == "down", f"({health})")
        private_stack.services("start-one", "mongo")
        r, took = await send_until_ok(http, channel)
        check("mongo", "sends succeed after restart (same app processes)", r is not None, f"(after {took:.1f} s)")
        if r is not None:
            check("mongo", "  ... and are broadcast again", await sock.wait_for(r.json()["id"], 5))
    sock.task.cancel()


async def case_redis(servers, tokens, channel, receiver_id, n):
    sender, receiver_token, leaver_token = tokens
    a, b = servers
    sock = Socket(b.ws, receiver_token)
    leaver = Socket(b.ws, leaver_token)
    await asyncio.wait_for(sock.connected.wait(), 10)
    await asyncio.wait_for(leaver.connected.wait(), 10)
    async with httpx.AsyncClient(base_url=a.http, headers={"Authorization": f"Bearer {sender}"}, timeout=30) as http:
        presence = (await http.get("/api/v1/presence", params={"user_ids": receiver_id})).json()
        check("redis", "receiver online before the fault", presence["results"][0]["status"] == "online")
        private_stack.services("stop-one", "redis")
        results = [await send(http, channel, f"redis down {i}") for i in range(n)]
        statuses = sorted({s for s, _, _ in results})
        worst = max(ms for _, ms, _ in results)
        check(
            "redis",
            f"{n} sends while down persist (201)",
            statuses == [201],
            f"(statuses {statuses}, max {worst:.0f} ms)",
        )
        ids = [r.json()["id"] for s, _, r in results if s == 201]
        page = (await http.get(f"/api/v1/channels/{channel}/messages", params={"limit": 200})).json()
        stored = {m["id"] for m in page["results"]}
        check("redis", "  ... and are in history", set(ids) <= stored, f"({len(set(ids) & stored)}/{len(ids)})")
        p = await http.get("/api/v1/presence", params={"user_ids": receiver_id})
        check("redis", "presence while down: answered (no 500)", p.status_code in (200, 503), f"({p.status_code})")
        left = await http.post(f"/api/v1/channels/{channel}/leave", headers={"Authorization": f"Bearer {leaver_token}"})
        check("redis", "a member leaves while down", left.status_code in (200, 204), f"({left.status_code})")
        private_stack.services("start-one", "redis")
        t = time.monotonic()
        # a socket that lost its groups with Redis' data must be replaced: wait for a send to arrive
        delivered, took = False, 0.0
        while time.monotonic() - t < 30 and not delivered:
            status, _, r = await send(http, channel, "after redis restart")
            if status == 201:
                delivered = await sock.wait_for(r.json()["id"], 2)
            took = time.monotonic() - t
        check(
            "redis",
            "after restart a socket receives again",
            delivered,
            f"(after {took:.1f} s, socket connects: {sock.connects})",
        )
        online, t = False, time.monotonic()
        while time.monotonic() - t < 30 and not online:
            p = await http.get("/api/v1/presence", params={"user_ids": receiver_id})
            online = p.status_code == 200 and p.json()["results"][0]["status"] == "online"
            if not online:
                await asyncio.sleep(0.5)
        check("redis", "presence recovers (receiver online)", online, f"(after {time.monotonic() - t:.1f} s more)")
        await asyncio.sleep(AUDIT_SECONDS * 1.2 + 1)  # one audit period at most, and its reads
        heard_before = len(leaver.created)
        status, _, r = await send(http, channel, "after the audit")
        delivered = status == 201 and await sock.wait_for(r.json()["id"], 5)
        await asyncio.sleep(1)
        check(
            "redis",
            "the leaver's live socket hears nothing after the audit",
            delivered and len(leaver.created) == heard_before,
            f"(receiver got it: {delivered}; leaver heard {len(leaver.created) - heard_before}, "
            f"socket connects: {leaver.connects})",
        )
    sock.task.cancel()
    leaver.task.cancel()


async def case_postgres(servers, tokens, channel, n):
    sender, _, _ = tokens
    a, _ = servers
    async with httpx.AsyncClient(base_url=a.http, headers={"Authorization": f"Bearer {sender}"}, timeout=30) as http:
        private_stack.services("stop-one", "postgres")
        statuses, worst, retry_after, _ = await sends_while_down(http, channel, n)
        check("postgres", f"{n} sends while down answer 503", statuses == [503], f"(statuses {statuses})")
        check("postgres", "  ... each with Retry-After", retry_after)
        check("postgres", "  ... quickly (DB_CONNECT_TIMEOUT 3 s + 500)", worst <= 3500, f"(max {worst:.0f} ms)")
        r = await http.get("/api/v1/channels")
        check("postgres", "a read answers 503 too", r.status_code == 503, f"({r.status_code})")
        private_stack.services("start-one", "postgres")
        r, took = await send_until_ok(http, channel)
        check("postgres", "sends succeed after restart (same app processes)", r is not None, f"(after {took:.1f} s)")


async def main_async(servers, tokens, channel, receiver_id, n):
    await case_mongo(servers, tokens, channel, n)
    await case_redis(servers, tokens, channel, receiver_id, n)
    await case_postgres(servers, tokens, channel, n)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sends", type=int, default=10, help="sends per fault (default 10)")
    parser.add_argument("--keep-services", action="store_true", help="do not stop the private services at the end")
    args = parser.parse_args()
    private_stack.prepare()
    private_stack.setup_django()
    tokens, channel, receiver_id = world()
    from django.db import connections

    connections.close_all()
    logs = Path("/tmp/slackclone-chaos-logs")
    servers = [private_stack.start_server(logs, REALTIME_AUDIT_SECONDS=str(AUDIT_SECONDS)) for _ in range(2)]
    try:
        asyncio.run(main_async(servers, tokens, channel, receiver_id, args.sends))
    finally:
        for server in servers:
            server.stop()
        if not args.keep_services:
            private_stack.services("stop")
    width = max(len(w) for _, w, _, _ in ROWS)
    print(f"\n{'case':<9} {'check':<{width}}  result  figure")
    for case, what, ok, figure in ROWS:
        print(f"{case:<9} {what:<{width}}  {'ok' if ok else 'FAIL':<6}  {figure}")
    failed = sum(not ok for _, _, ok, _ in ROWS)
    print(f"\nchaos: {len(ROWS) - failed}/{len(ROWS)} checks ok")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
