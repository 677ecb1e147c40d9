#!/usr/bin/env python
"""Server CPU per ordinary REST request (issue 13, sections 2 and 4: the shared request path).

    .venv/bin/python bench/request_cpu.py                                   # this code alone
    .venv/bin/python bench/request_cpu.py --baseline-code /tmp/base         # + another checkout, same run
    .venv/bin/python bench/request_cpu.py --only me,history --seconds 8 --profile /tmp/prof
    .venv/bin/python bench/request_cpu.py --quick                           # a smoke run, seconds

One daphne process serves this checkout (and, with --baseline-code, a second one serves
the code of another checkout, e.g. `git worktree add /tmp/base main`, with this venv, on
the same database and services; both are up for the whole run and take turns). A small
workspace is seeded through the ORM: --users members (one token each) of one channel
with --messages messages (posted through the API before measuring). For each endpoint a
closed loop of --concurrency clients (one member each, kept-alive connections, the
minimal client of bench/common.py) runs --seconds after a short warm-up, --rounds times
alternating the two servers, and the script prints requests/s, p50/p99 latency and the
**server CPU per request**: the daphne process's user + system CPU from /proc over the
loop, divided by the requests answered.

Endpoints (--only picks some): `me` GET /users/me (the cheapest authenticated request),
`history` GET a channel's newest page of 50, `sidebar` GET /conversations, `read` PUT
.../read, `send` POST .../messages with a client_msg_id, `unauth` GET /users/me with a
wrong token (401, the cost of the request path without a view).

--profile DIR: py-spy (`--gil -r 200 -f raw`) records this code's daphne during each
endpoint's loop of the first round (DIR/<endpoint>-ours.txt, and -base.txt for the
baseline), and the script prints where the samples fall, by layer.

The write throttle is lifted (THROTTLE_WRITE) so that sends are not refused; it is still
checked on every write. The fixture is removed at the end.
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    SERVERS,
    Http,
    cpu_seconds,
    django_setup,
    emit_row,
    percentile,
    remove_fixture,
    start_server,
    stop_processes,
    wait_http,
)

ENDPOINTS = ("me", "history", "sidebar", "read", "send", "unauth")
SERVER_ENV = {"THROTTLE_WRITE": "100000000/min", "THROTTLE_AUTH": "100000000/min"}
# py-spy frames by layer: the first pattern found in a stack (from the leaf up) names it.
LAYERS = (
    ("json render", ("renderers.py", "orjson", "json/encoder")),
    ("authentication (knox, token lookup)", ("accounts/auth.py", "knox/")),
    ("throttle (Redis)", ("throttling.py",)),
    ("view + serializers + services", ("/apis.py", "/apis_ext.py", "sidebar_apis.py", "/services", "/selectors")),
    ("psycopg / Django ORM", ("psycopg", "django/db/")),
    ("pymongo", ("pymongo", "bson")),
    ("redis-py", ("redis/",)),
    ("DRF dispatch (negotiation, parsing, permissions)", ("rest_framework/",)),
    ("middleware", ("middleware", "metrics.py", "corsheaders", "whitenoise", "csp/", "request_id")),
    ("Django request/response, URL resolving", ("django/core/handlers", "django/http", "django/urls")),
    ("asgiref thread hops", ("asgiref/", "concurrent/futures", "threading.py")),
    ("logging", ("logging/",)),
    ("daphne / twisted HTTP", ("daphne/", "twisted/", "autobahn/")),
    ("asyncio event loop", ("asyncio/",)),
)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per endpoint per round (default 5)")
    parser.add_argument("--rounds", type=int, default=2, help="alternations of the two servers (default 2)")
    parser.add_argument("--concurrency", type=int, default=4, help="clients in the closed loop (default 4)")
    parser.add_argument("--only", default=",".join(ENDPOINTS), help=f"endpoints (default {','.join(ENDPOINTS)})")
    parser.add_argument("--users", type=int, default=8, help="channel members (default 8)")
    parser.add_argument("--messages", type=int, default=120, help="messages in the channel first (default 120)")
    parser.add_argument("--baseline-code", default=None, help="a checkout (e.g. of main) measured beside this code")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for this code's server only")
    parser.add_argument("--server", default="serve", choices=SERVERS, help="the ASGI server of both (default serve)")
    parser.add_argument("--profile", default=None, help="directory for py-spy profiles (first round)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 0.5 s per endpoint, one round")
    parser.add_argument("--timeout", type=float, default=15.0, help="client timeout per request, s (default 15)")
    parser.add_argument("--settings", default=os.environ.get("DJANGO_SETTINGS_MODULE", "slackclone.settings"))
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.rounds, args.messages = 0.5, 1, 20
    return args


def create_fixture(run: str, users: int):
    """`users` members of the default workspace with a token each, all in one channel."""
    from django.db import transaction

    from accounts.models import User, WorkspaceMember, default_workspace_id
    from accounts.services import token_create
    from channels_app.models import Channel, ChannelMember

    with transaction.atomic():
        people = User.objects.bulk_create(
            [User(username=f"rcpu{run}{i}", email=f"rcpu{run}{i}@bench.invalid", password="!") for i in range(users)]
        )
        members = WorkspaceMember.objects.bulk_create(
            [WorkspaceMember(workspace_id=default_workspace_id(), user=u) for u in people]
        )
        channel = Channel.objects.create(name=f"rcpu-{run}", description="bench/request_cpu.py")
        ChannelMember.objects.bulk_create([ChannelMember(channel=channel, user=u) for u in people])
    tokens = [
        token_create(user=u, membership=m, device_name="bench/request_cpu.py")
        for u, m in zip(people, members, strict=True)
    ]
    return [str(u.pk) for u in people], tokens, str(channel.pk)


def requests_for(name: str, base: str, channel_id: str, seq: int):
    """(method, url, body factory or None, wrong token?) of one endpoint."""
    api = f"{base}/api/v1"
    if name == "me":
        return "GET", f"{api}/users/me", None, False
    if name == "unauth":
        return "GET", f"{api}/users/me", None, True
    if name == "history":
        return "GET", f"{api}/channels/{channel_id}/messages?limit=50", None, False
    if name == "sidebar":
        return "GET", f"{api}/conversations", None, False
    if name == "read":
        return "PUT", f"{api}/channels/{channel_id}/read", lambda: {"seq": seq}, False
    if name == "send":
        body = lambda: {"content": "request_cpu", "client_msg_id": uuid.uuid4().hex}  # noqa: E731
        return "POST", f"{api}/channels/{channel_id}/messages", body, False
    raise ValueError(name)


async def closed_loop(client: Http, spec, tokens, concurrency: int, seconds: float, request_timeout: float):
    """(latencies in s, statuses Counter) of `concurrency` clients sending back to back."""
    method, url, body, wrong = spec
    stop_at = time.monotonic() + seconds
    latencies: list[float] = []
    statuses: Counter = Counter()

    async def worker(i: int):
        token = "0" * 64 if wrong else tokens[i % len(tokens)]
        while time.monotonic() < stop_at:
            started = time.monotonic()
            try:
                status, _ = await client.request(method, url, token, body() if body else None, request_timeout)
            except Exception as exc:
                status = type(exc).__name__
            latencies.append(time.monotonic() - started)
            statuses[status] += 1

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return latencies, statuses


def py_spy(pid: int, seconds: float, out: Path) -> subprocess.Popen:
    spy = Path(sys.executable).parent / "py-spy"
    command = [str(spy), "record", "--pid", str(pid), "--duration", str(max(1, int(seconds))), "--rate", "200"]
    command += ["--format", "raw", "--gil", "--nonblocking", "--output", str(out)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def layers(path: Path) -> str:
    """Share of py-spy's samples per layer (LAYERS: the first layer found from the leaf up)."""
    if not path.exists():
        return "(no profile)"
    shares, total = Counter(), 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        total += int(count)
        frames = stack.split(";")
        name = "other"
        for frame in reversed(frames):
            hit = next((layer for layer, pats in LAYERS if any(p in frame for p in pats)), None)
            if hit:
                name = hit
                break
        shares[name] += int(count)
    if not total:
        return "(no samples)"
    return f"{total} samples: " + ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in shares.most_common())


async def measure(args, servers, tokens, channel_id, seq, names) -> dict:
    """{(endpoint, label): {"n", "rps", "p50", "p99", "cpu_ms", "statuses"}} summed over the rounds."""
    client = Http()
    out: dict = {}
    try:
        for name in names:
            for rnd in range(args.rounds):
                for label, url, process in servers:
                    spec = requests_for(name, url, channel_id, seq)
                    await closed_loop(client, spec, tokens, args.concurrency, min(0.5, args.seconds), args.timeout)
                    spy = None
                    if args.profile and rnd == 0:
                        spy = py_spy(process.pid, args.seconds, Path(args.profile) / f"{name}-{label}.txt")
                        await asyncio.sleep(0.3)
                    cpu0, t0 = cpu_seconds(process.pid), time.monotonic()
                    lat, statuses = await closed_loop(
                        client, spec, tokens, args.concurrency, args.seconds, args.timeout
                    )
                    cpu, wall = cpu_seconds(process.pid) - cpu0, time.monotonic() - t0
                    if spy is not None:
                        await asyncio.get_running_loop().run_in_executor(None, spy.wait)
                    acc = out.setdefault((name, label), {"lat": [], "cpu": 0.0, "wall": 0.0, "statuses": Counter()})
                    acc["lat"] += lat
                    acc["cpu"] += cpu
                    acc["wall"] += wall
                    acc["statuses"] += statuses
                    print(
                        f"  {name:>8} {label:>4} round {rnd + 1}: {len(lat) / wall:7.1f} req/s, "
                        f"{cpu * 1000 / max(1, len(lat)):5.2f} ms CPU/req, statuses {dict(statuses)}",
                        flush=True,
                    )
    finally:
        await client.close()
    for acc in out.values():
        n = len(acc["lat"])
        acc.update(
            n=n,
            rps=n / max(acc["wall"], 1e-9),
            p50=percentile(acc["lat"], 50) * 1000,
            p99=percentile(acc["lat"], 99) * 1000,
            cpu_ms=acc["cpu"] * 1000 / max(1, n),
        )
    return out


def seed_messages(url: str, token: str, channel_id: str, count: int) -> int:
    """Post `count` messages through the API; the newest seq."""

    async def post_all():
        client = Http()
        seq = 0
        try:
            for i in range(count):
                body = {"content": f"seed {i}", "client_msg_id": uuid.uuid4().hex}
                status, data = await client.post_json(f"{url}/api/v1/channels/{channel_id}/messages", token, body, 15)
                if status in (200, 201):
                    seq = max(seq, json.loads(data).get("seq", 0))
        finally:
            await client.close()
        return seq

    return asyncio.run(post_all())


def main() -> None:
    args = parse_args()
    names = [n for n in args.only.split(",") if n]
    unknown = set(names) - set(ENDPOINTS)
    if unknown:
        raise SystemExit(f"unknown endpoints {sorted(unknown)} (known: {', '.join(ENDPOINTS)})")
    django_setup(args.settings)
    run = uuid.uuid4().hex[:8]
    log_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"slackclone-bench-rcpu-{run}"
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    user_ids, tokens, channel_id = create_fixture(run, args.users)
    extra = dict(kv.split("=", 1) for kv in args.env)
    servers = []
    try:
        url, process = start_server(args.server, log_dir, args.settings, **SERVER_ENV, **extra)
        servers.append(("ours", url, process))
        if args.baseline_code:
            url, process = start_server(args.server, log_dir, args.settings, code=args.baseline_code, **SERVER_ENV)
            servers.append(("base", url, process))
        for _label, url, process in servers:
            wait_http(url, process, timeout=60)
        seq = seed_messages(servers[0][1], tokens[0], channel_id, args.messages)
        started = time.monotonic()
        out = asyncio.run(measure(args, servers, tokens[: args.concurrency], channel_id, seq, names))
        seconds = time.monotonic() - started
    finally:
        stop_processes([p for _, _, p in servers])
        remove_fixture(user_ids=user_ids, channel_ids=[channel_id])
    load_after = os.getloadavg()

    has_base = args.baseline_code is not None
    print(
        f"\none {args.server} process each; concurrency {args.concurrency}, {args.seconds:g} s x {args.rounds} "
        f"round(s) per endpoint; {seconds:.0f} s; load average {load_before[0]:.2f} -> {load_after[0]:.2f}"
        + (f"; baseline: the code of {args.baseline_code}" if has_base else "")
        + (f"; this code's server env {extra}" if extra else "")
    )
    header = "| endpoint | this code: req/s, p50 / p99 ms, CPU ms/req |"
    header += " baseline: req/s, p50 / p99 ms, CPU ms/req | CPU ratio | statuses (this code) |" if has_base else ""
    print(header)
    print("|---|---|" + ("---|---|---|" if has_base else ""))
    ratios, authenticated = [], []
    for name in names:
        ours = out[(name, "ours")]
        cell = f"{ours['rps']:.0f}, {ours['p50']:.1f} / {ours['p99']:.1f}, **{ours['cpu_ms']:.2f}**"
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(ours["statuses"].items(), key=str))
        if name != "unauth":
            authenticated.append(ours["cpu_ms"])
        if has_base:
            base = out[(name, "base")]
            ratio = ours["cpu_ms"] / base["cpu_ms"] if base["cpu_ms"] else float("nan")
            bcell = f"{base['rps']:.0f}, {base['p50']:.1f} / {base['p99']:.1f}, {base['cpu_ms']:.2f}"
            print(f"| {name} | {cell} | {bcell} | {ratio:.2f} | {statuses} |")
            if name != "unauth":  # the 401 is printed for reference only
                ratios.append(ratio)
                base_ms, ours_ms = f"{base['cpu_ms']:.2f} ms", f"{ours['cpu_ms']:.2f} ms"
                emit_row(f"4 CPU per request, {name}: <= 0.5x baseline", base_ms, ours_ms, f"{ratio:.2f}", ratio <= 0.5)
        else:
            print(f"| {name} | {cell} | {statuses} |")
    if ratios:
        mean = sum(ratios) / len(ratios)
        emit_row(
            f"4 CPU per request, mean ratio of {len(ratios)} endpoints: <= 0.5",
            "1.00",
            f"{mean:.2f}",
            f"{mean:.2f}",
            mean <= 0.5,
        )
    elif authenticated:
        # No baseline: the figure, ~20 ms of daphne CPU per request (bench/capacity.py), halved.
        mean = sum(authenticated) / len(authenticated)
        emit_row(
            f"4 CPU per request, mean of {len(authenticated)} endpoints: <= 10 ms",
            "20 ms (capacity.py, session 4)",
            f"{mean:.2f} ms",
            f"{mean / 20:.2f}",
            mean <= 10,
            note=", ".join(f"{n} {out[(n, 'ours')]['cpu_ms']:.1f}" for n in names),
        )
    if args.profile:
        print("\nwhere the sampled CPU goes (py-spy --gil, first round):")
        for name in names:
            for label, _url, _process in servers:
                print(f"  {name} {label}: {layers(Path(args.profile) / f'{name}-{label}.txt')}")


if __name__ == "__main__":
    main()
