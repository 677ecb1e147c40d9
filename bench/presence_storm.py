#!/usr/bin/env python
"""The presence connect storm, before and after issue 13's presence fan-out limit.

    .venv/bin/python bench/presence_storm.py                 # 300 users, one channel
    .venv/bin/python bench/presence_storm.py --users 50      # smoke

N users, all members of one channel (and of the default workspace), connect one
WebSocket each to one daphne process (--connect-concurrency at a time); every user
going online is announced. The script counts the presence.changed frames all sockets
receive until the presence traffic settles (no frame for --quiet seconds), the time to
connect everyone, and the server's CPU, twice in the same run with fresh users:

  * baseline: PRESENCE_FANOUT_MAX_MEMBERS above N, the behaviour before issue 13 (every
    member hears every member: about N^2/2 frames);
  * this code: the default limit (100): a channel of N > 100 members no longer fans
    out; each client then subscribes (`presence.subscribe`) to --subscribe users (the
    presence a sidebar shows) and hears those.

Removes its users and channel at the end.
"""

import argparse
import asyncio
import json
import os
import random
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from common import (  # noqa: E402
    cpu_seconds,
    django_setup,
    emit_row,
    login_token,
    raise_nofile_limit,
    start_web_server,
    stop_processes,
    wait_http,
)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=300, help="users in the channel, one socket each (default 300)")
    parser.add_argument("--connect-concurrency", type=int, default=50, help="sockets opening at once (default 50)")
    parser.add_argument("--subscribe", type=int, default=20, help="users each client subscribes to (default 20)")
    parser.add_argument("--quiet", type=float, default=8.0, help="settled after this long without a frame (s)")
    parser.add_argument("--timeout", type=float, default=120.0, help="give up settling after this long (s)")
    return parser.parse_args()


def create_fixture(count: int, run: str):
    from django.db import transaction

    from accounts.models import User, WorkspaceMember, default_workspace_id
    from channels_app.models import Channel, ChannelMember

    workspace_id = default_workspace_id()
    with transaction.atomic():
        users = User.objects.bulk_create(
            [User(username=f"storm{run}{i}", email=f"storm{run}{i}@bench.invalid", password="!") for i in range(count)]
        )
        WorkspaceMember.objects.bulk_create([WorkspaceMember(workspace_id=workspace_id, user=u) for u in users])
        channel = Channel.objects.create(name=f"storm-{run}", description="bench/presence_storm.py")
        ChannelMember.objects.bulk_create([ChannelMember(channel=channel, user=user) for user in users])
    tokens = [login_token(user) for user in users]
    return [str(u.pk) for u in users], tokens, str(channel.pk)


def remove_fixture(user_ids: list[str], channel_id: str) -> None:
    from accounts.models import User
    from channels_app.models import Channel

    Channel.objects.filter(pk=channel_id).delete()
    User.objects.filter(pk__in=user_ids).delete()


class Socket:
    def __init__(self, ws):
        self.ws = ws
        self.presence = 0
        self.acks = 0

    async def run(self, counter: dict) -> None:
        try:
            async for text in self.ws:
                if '"presence.changed"' in text:
                    self.presence += 1
                    counter["last"] = time.perf_counter()
                elif '"presence.subscribe"' in text:
                    self.acks += 1
        except Exception:  # closed
            return


async def storm(url: str, tokens: list[str], user_ids: list[str], args, subscribe: int) -> dict:
    from websockets.asyncio.client import connect

    ws_url = url.replace("http", "ws", 1) + "/ws/v1/"
    gate = asyncio.Semaphore(args.connect_concurrency)
    counter = {"last": time.perf_counter()}
    sockets: list[Socket] = []
    tasks = []
    rng = random.Random(13)

    async def open_one(token: str) -> None:
        async with gate:
            ws = await connect(
                ws_url,
                additional_headers={"Authorization": f"Bearer {token}"},
                origin="http://127.0.0.1",
                open_timeout=120,
                max_queue=None,
                ping_interval=None,
            )
            hello = json.loads(await asyncio.wait_for(ws.recv(), 60))
            assert hello["type"] == "hello", hello
            socket = Socket(ws)
            sockets.append(socket)
            tasks.append(asyncio.create_task(socket.run(counter)))
            if subscribe:
                ids = rng.sample(user_ids, min(subscribe, len(user_ids)))
                await ws.send(json.dumps({"type": "presence.subscribe", "user_ids": ids}))

    started = time.perf_counter()
    await asyncio.gather(*(open_one(token) for token in tokens))
    connected = time.perf_counter() - started
    deadline = time.perf_counter() + args.timeout
    while time.perf_counter() < deadline and time.perf_counter() - counter["last"] < args.quiet:  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    settled = counter["last"] - started
    frames = sum(s.presence for s in sockets)
    acks = sum(s.acks for s in sockets)
    for socket in sockets:
        await socket.ws.close()
    for task in tasks:
        task.cancel()
    return {"frames": frames, "connect_s": connected, "settle_s": settled, "acks": acks, "sockets": len(sockets)}


def run_mode(name: str, args, fanout_max: int | None, subscribe: int) -> dict:
    run = uuid.uuid4().hex[:8]
    user_ids, tokens, channel_id = create_fixture(args.users, run)
    log_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"slackclone-bench-storm-{run}"
    log_dir.mkdir(parents=True, exist_ok=True)
    extra = {} if fanout_max is None else {"PRESENCE_FANOUT_MAX_MEMBERS": str(fanout_max)}
    url, process = start_web_server(log_dir, os.environ.get("DJANGO_SETTINGS_MODULE", "slackclone.settings"), **extra)
    try:
        wait_http(url, process)
        cpu_before = cpu_seconds(process.pid)
        result = asyncio.run(storm(url, tokens, user_ids, args, subscribe))
        result["cpu_s"] = cpu_seconds(process.pid) - cpu_before
    finally:
        stop_processes([process])
        remove_fixture(user_ids, channel_id)
    print(
        f"  {name:<10} {result['sockets']} sockets: {result['frames']:,} presence.changed frames, "
        f"connected in {result['connect_s']:.1f} s, presence settled after {result['settle_s']:.1f} s, "
        f"server CPU {result['cpu_s']:.1f} s, subscribe acks {result['acks']}",
        flush=True,
    )
    return result


def main() -> None:
    args = parse_args()
    raise_nofile_limit(args.users * 4 + 1000)
    django_setup()
    load = os.getloadavg()[0]
    print(f"{args.users} users in one channel, one socket each, {args.connect_concurrency} connecting at once")
    before = run_mode("baseline", args, fanout_max=args.users + 1, subscribe=0)
    after = run_mode("this code", args, fanout_max=None, subscribe=args.subscribe)
    print(f"load average {load:.2f} before, {os.getloadavg()[0]:.2f} after (1 min)")
    ratio = after["frames"] / max(1, before["frames"])
    emit_row(
        f"3 presence connect storm, {args.users} users in one channel (each subscribing to {args.subscribe})",
        f"{before['frames']:,} frames, CPU {before['cpu_s']:.1f} s, settled {before['settle_s']:.1f} s",
        f"{after['frames']:,} frames, CPU {after['cpu_s']:.1f} s, settled {after['settle_s']:.1f} s",
        f"{ratio:.3f}",
        after["frames"] < before["frames"] / 5,
    )


if __name__ == "__main__":
    main()
