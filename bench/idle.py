#!/usr/bin/env python
"""Idle WebSockets held by ONE server process: memory per socket and idle CPU.

    .venv/bin/python bench/idle.py                       # 20,000 sockets
    .venv/bin/python bench/idle.py --sockets 500 --ping-interval 2 --window 3   # smoke check
    .venv/bin/python bench/idle.py --sockets 5000 --configs daphne,uvicorn     # + uvicorn, same run

1. creates --users users (default 200) and a knox token each (ORM, dev database);
2. starts one daphne process (keepalive pings every --ping-interval s, default 20) and
   reads its VmRSS once it is healthy and has served a few sockets (warm);
3. opens --sockets authenticated sockets from this one asyncio process, round-robin
   over the users, binding them to several loopback source addresses (127.0.0.2, ...)
   so the client ports do not run out; waits for every hello;
4. lets them idle, then measures the server's VmRSS (added KiB per socket) and its
   CPU over --window seconds (default: one ping interval + 2 s): the keepalive pings
   and the presence heartbeats are all it does;
   With --configs, steps 2-4 for each server in turn (daphne, uvicorn, uvicorn-sansio:
   bench/common.py start_server); the goal row reports the first;
5. does the same against bench/bare_broadcaster.py (a bare `websockets` server, the
   same ping interval): the baseline; then removes what it created.

Goal (issue 8): >= 20,000 sockets, added memory <= 48 KiB per socket and <= 3.5x the
bare server's, idle CPU < 5% of a core. RLIMIT_NOFILE is raised for this process and
the servers it starts.
"""

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    ORIGIN,
    ROOT,
    cpu_seconds,
    django_setup,
    emit_row,
    free_port,
    login_token,
    raise_nofile_limit,
    rss_kib,
    start_server,
    stop_processes,
    wait_http,
    wait_port,
)

GOAL_KIB, GOAL_RATIO, GOAL_CPU = 48, 3.5, 5.0


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=20_000, help="idle sockets (default 20,000)")
    parser.add_argument("--users", type=int, default=200, help="distinct users (default 200)")
    parser.add_argument("--ping-interval", type=float, default=20.0, help="server keepalive ping interval, s")
    parser.add_argument("--window", type=float, default=None, help="idle CPU window, s (default ping interval + 2)")
    parser.add_argument("--connect-concurrency", type=int, default=32)
    parser.add_argument("--sources", type=int, default=4, help="loopback source addresses 127.0.0.2.. (default 4)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the bare websockets server")
    parser.add_argument(
        "--configs", default=os.environ.get("SERVER", "serve"), help="servers measured in turn (default serve)"
    )
    parser.add_argument("--settings", default=os.environ.get("DJANGO_SETTINGS_MODULE", "slackclone.settings"))
    return parser.parse_args()


def create_users(count: int, run: str) -> tuple[list[str], list[str]]:

    from accounts.models import User

    users = User.objects.bulk_create(
        [User(username=f"idle{run}{i}", email=f"idle{run}{i}@bench.invalid", password="!") for i in range(count)]
    )
    return [str(u.pk) for u in users], [login_token(u) for u in users]


async def hold(url: str, tokens: list[str] | None, args, pid: int) -> dict:
    """Open the sockets, measure RSS and idle CPU of `pid`, close them."""
    from websockets.asyncio.client import connect

    limit = asyncio.Semaphore(args.connect_concurrency)
    failures = []

    async def open_one(i: int):
        headers = {"Authorization": f"Bearer {tokens[i % len(tokens)]}"} if tokens else None
        source = f"127.0.0.{2 + i % max(1, args.sources)}"
        async with limit:
            try:
                ws = await connect(
                    url,
                    additional_headers=headers,
                    origin=ORIGIN,
                    open_timeout=120,
                    ping_interval=None,  # the server pings; the client answers
                    max_queue=4,
                    local_addr=(source, 0),
                )
                await asyncio.wait_for(ws.recv(), 60)  # hello
                return ws
            except Exception as exc:
                failures.append(repr(exc))
                return None

    # Warm the server (imports, pools, first connections) before the RSS baseline.
    warm = [await open_one(i) for i in range(min(20, args.sockets))]
    for ws in warm:
        if ws is not None:
            await ws.close()
    await asyncio.sleep(2)
    rss_before = rss_kib(pid)
    started = time.perf_counter()
    sockets = await asyncio.gather(*(open_one(i) for i in range(args.sockets)))
    connect_seconds = time.perf_counter() - started
    sockets = [ws for ws in sockets if ws is not None]
    drains = [asyncio.create_task(ws.wait_closed()) for ws in sockets]
    await asyncio.sleep(3)
    rss_after = rss_kib(pid)
    window = args.window if args.window is not None else args.ping_interval + 2
    cpu_before = cpu_seconds(pid)
    await asyncio.sleep(window)
    cpu = cpu_seconds(pid) - cpu_before
    alive = sum(1 for ws in sockets if ws.close_code is None)
    closing = [ws.close() for ws in sockets]
    for chunk in range(0, len(closing), 1000):
        await asyncio.gather(*closing[chunk : chunk + 1000], return_exceptions=True)
    for task in drains:
        task.cancel()
    if failures:
        print(f"  {len(failures)} sockets failed to open; first: {failures[0]}")
    return {
        "opened": len(sockets),
        "alive": alive,
        "connect_seconds": connect_seconds,
        "rss_before": rss_before,
        "rss_after": rss_after,
        "per_socket": (rss_after - rss_before) / max(1, len(sockets)),
        "cpu_pct": 100 * cpu / window,
        "window": window,
    }


def report(name: str, r: dict) -> None:
    print(
        f"{name:<14} {r['opened']} sockets opened in {r['connect_seconds']:.1f} s "
        f"({r['alive']} still open after idling); "
        f"VmRSS {r['rss_before']} -> {r['rss_after']} KiB = {r['per_socket']:.1f} KiB per socket; "
        f"idle CPU {r['cpu_pct']:.2f}% of a core over {r['window']:g} s",
        flush=True,
    )


def main() -> None:
    args = parse_args()
    nofile = raise_nofile_limit()
    requested = args.sockets
    if args.sockets + 500 > nofile:
        # The server and this client each need one descriptor per socket (plus their
        # stores' connections): measure at the largest N that fits, and say so.
        args.sockets = nofile - 500
        print(
            f"RLIMIT_NOFILE hard limit is {nofile} (not raisable here): measuring {args.sockets:,} sockets instead "
            f"of {requested:,}; the per-socket figures extrapolate linearly",
            flush=True,
        )
    django_setup(args.settings)
    from accounts.models import User

    run = uuid.uuid4().hex[:8]
    log_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"slackclone-bench-idle-{run}"
    log_dir.mkdir(parents=True, exist_ok=True)
    user_ids, tokens = create_users(min(args.users, args.sockets), run)
    bare = None
    ours = None
    process = None
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    try:
        for kind in args.configs.split(","):
            url, process = start_server(kind, log_dir, args.settings, ping_interval=args.ping_interval)
            port = url.rsplit(":", 1)[1]
            wait_http(url, process)
            held = asyncio.run(hold(f"ws://127.0.0.1:{port}/ws/v1/", tokens, args, process.pid))
            report(kind, held)
            ours = ours or held
            stop_processes([process])
        if not args.no_baseline:
            bport = free_port()
            with (log_dir / f"bare-{bport}.log").open("w") as log:
                bare_process = subprocess.Popen(
                    [
                        sys.executable,
                        str(ROOT / "bench/bare_broadcaster.py"),
                        "--port",
                        str(bport),
                        "--ping-interval",
                        str(args.ping_interval),
                        "--channel",
                        f"idle-{run}",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            try:
                wait_port(bport, bare_process)
                bare = asyncio.run(hold(f"ws://127.0.0.1:{bport}/", None, args, bare_process.pid))
                report("bare", bare)
            finally:
                stop_processes([bare_process])
    finally:
        if process is not None:
            stop_processes([process])
        User.objects.filter(pk__in=user_ids).delete()
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    if ours is None:
        return
    ratio = ours["per_socket"] / bare["per_socket"] if bare and bare["per_socket"] > 0 else float("nan")
    all_open = ours["opened"] == args.sockets and ours["alive"] == ours["opened"]
    emit_row(
        f"4 idle {args.sockets:,} sockets/process: <= 48 KiB/socket, <= 3.5x bare, CPU < 5%"
        + (f" (goal: {requested:,}; RLIMIT_NOFILE)" if requested != args.sockets else ""),
        f"{bare['per_socket']:.1f} KiB" if bare else "n/a",
        f"{ours['per_socket']:.1f} KiB, CPU {ours['cpu_pct']:.1f}%",
        f"{ratio:.2f}",
        all_open and ours["per_socket"] <= GOAL_KIB and ratio <= GOAL_RATIO and ours["cpu_pct"] < GOAL_CPU,
        note=f"{ours['alive']}/{args.sockets} open; bare CPU {bare['cpu_pct']:.1f}%" if bare else "",
    )


if __name__ == "__main__":
    main()
