#!/usr/bin/env python
"""A hot conversation: a rate sweep of REST sends into ONE 51-member channel.

    .venv/bin/python bench/hot_channel.py                                  # the issue's sweep
    .venv/bin/python bench/hot_channel.py --rates 20,50 --seconds 3 --servers 1   # smoke
    .venv/bin/python bench/hot_channel.py --baseline-code /tmp/base        # + main's code, same run
    .venv/bin/python bench/hot_channel.py --baseline-code /tmp/base --this-first   # the other order

Fixture: 51 members in one channel, 50 of them hold a WebSocket (spread over the
daphne processes) and record when each message.created arrives; member 0 posts over
REST at a fixed offered rate (open loop: each send starts on schedule whatever the
earlier ones do), each with its own client_msg_id. Meanwhile a probe posts into ANOTHER
(two-member) channel at --probe-rate; its latency is compared with the same probe on
the idle servers, measured first in the same run.

For each number of processes (--servers, default 1,2) and each offered rate: accepted
sends/s (2xx), shed (429), 5xx, other failures (timeouts), lost (accepted messages x
50 receivers not delivered within --drain s), delivery p99 (send start to receipt,
over every (message, receiver)), the probe's p99, and server CPU per accepted send.
Then the closed-loop throughput of ONE conversation at concurrency 16 (16 members
posting back to back), with this code and, with --baseline-code, with the code of
another checkout (e.g. main) on the same database and services.

Goals (issue 13, section 2): zero 5xx and zero lost at every rate; accepted rate never
falling as the offered rate rises (5% noise allowed); delivery p99 <= 1 s up to 200
sends/s with two processes; the probe's p99 within 2x its idle p99 while the channel is
saturated; concurrency-16 throughput >= 5x the baseline code's.
"""

import argparse
import asyncio
import json
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
    Http,
    cpu_seconds,
    django_setup,
    emit_row,
    login_token,
    percentile,
    raise_nofile_limit,
    remove_fixture,
    start_server,
    start_web_server,
    stop_processes,
    wait_http,
)

MEMBERS = 51
RECEIVERS = 50
RECEIVER_PROCESSES = 2
NOISE = 0.05  # "never falling": each accepted rate >= 95% of the best one before it


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="20,50,100,200,400", help="offered sends/s (default 20,50,100,200,400)")
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds per offered rate (default 8)")
    parser.add_argument("--servers", default="1,2", help="daphne process counts to run the sweep with (default 1,2)")
    parser.add_argument("--probe-rate", type=float, default=4.0, help="sends/s into the other channel (default 4)")
    parser.add_argument("--drain", type=float, default=4.0, help="seconds to wait for late frames (default 4)")
    parser.add_argument("--timeout", type=float, default=15.0, help="client timeout per request, s (default 15)")
    parser.add_argument("--c16-seconds", type=float, default=8.0, help="seconds of the concurrency-16 run (0: skip)")
    parser.add_argument("--baseline-code", default=None, help="a checkout (e.g. of main) to measure as the baseline")
    parser.add_argument("--baseline-sweep", action="store_true", help="run the rate sweep with the baseline too")
    parser.add_argument(
        "--baseline-server",
        default="daphne",
        choices=["daphne", "serve"],
        help="the server of --baseline-code: daphne (default: code from before session 7) or serve (code since)",
    )
    parser.add_argument(
        "--baseline-env",
        default="",
        help="NAME=VALUE,... set for the baseline's servers only, e.g. --baseline-code . --baseline-env "
        "SEND_CONCURRENCY_MAX=0: this code with a setting switched off, as the same-run baseline",
    )
    parser.add_argument(
        "--this-first",
        action="store_true",
        help="measure this code before the baseline at each process count (the server measured first tends to "
        "be the slower: run an A/B in both orders)",
    )
    parser.add_argument(
        "--profile",
        type=float,
        default=0,
        help="py-spy (--gil -r 200, raw) the first server for this many s from the start of each rate step and of "
        "the concurrency-16 run; the files go to the log directory (default 0: off)",
    )
    parser.add_argument("--settings", default=os.environ.get("DJANGO_SETTINGS_MODULE", "slackclone.settings"))
    return parser.parse_args()


# --- fixture ---------------------------------------------------------------------------


def create_fixture(run: str):
    from django.db import transaction

    from accounts.models import User
    from channels_app.models import Channel, ChannelMember

    with transaction.atomic():
        users = User.objects.bulk_create(
            [User(username=f"hot{run}{i}", email=f"hot{run}{i}@bench.invalid", password="!") for i in range(MEMBERS)]
        )
        hot = Channel.objects.create(name=f"hot-{run}", description="bench/hot_channel.py")
        quiet = Channel.objects.create(name=f"quiet-{run}", description="bench/hot_channel.py probe")
        ChannelMember.objects.bulk_create([ChannelMember(channel=hot, user=u) for u in users])
        ChannelMember.objects.bulk_create([ChannelMember(channel=quiet, user=u) for u in users[:2]])
    tokens = [login_token(u) for u in users]
    return [str(u.pk) for u in users], tokens, str(hot.pk), str(quiet.pk)


# --- servers ---------------------------------------------------------------------------

SERVER_ENV = {"THROTTLE_WRITE": "100000000/min", "THROTTLE_AUTH": "100000000/min"}


def start_servers(
    count: int, log_dir: Path, settings: str, code: str | None, extra_env: dict | None = None, kind: str = "daphne"
):
    """`count` server processes of this checkout, or `kind` processes of `code` (another
    checkout, same venv; daphne for code from before session 7; with `extra_env` set for them)."""
    if code is None:
        return [start_web_server(log_dir, settings, **SERVER_ENV) for _ in range(count)]
    return [start_server(kind, log_dir, settings, code=code, **SERVER_ENV, **(extra_env or {})) for _ in range(count)]


# --- clients ---------------------------------------------------------------------------


async def _receive(ws_urls, tokens, conn) -> None:
    """In a child process: hold the sockets; record when each message.created of the
    hot channel arrives; on "dump" send {message id: [monotonic times]} and forget them."""
    from websockets.asyncio.client import connect

    received: dict[str, list[float]] = {}
    marker = '"message.created","message":{"id":"'

    async def drain(ws):
        try:
            async for text in ws:
                at = text.find(marker)
                if at >= 0:
                    start = at + len(marker)
                    received.setdefault(text[start : start + 24], []).append(time.monotonic())
        except Exception:
            return

    sockets, tasks = [], []
    for i, token in enumerate(tokens):
        ws = await connect(
            ws_urls[i % len(ws_urls)],
            additional_headers={"Authorization": f"Bearer {token}"},
            origin=ORIGIN,
            max_queue=None,
            ping_interval=None,
        )
        hello = json.loads(await asyncio.wait_for(ws.recv(), 30))
        assert hello["type"] == "hello", hello
        sockets.append(ws)
        tasks.append(asyncio.create_task(drain(ws)))
    conn.send("ready")
    loop = asyncio.get_running_loop()
    while (command := await loop.run_in_executor(None, conn.recv)) != "stop":
        if command == "dump":
            conn.send(received)
            received = {}
    for ws in sockets:
        await ws.close()
    for task in tasks:
        task.cancel()


def _receiver_child(ws_urls, tokens, conn) -> None:
    asyncio.run(_receive(ws_urls, tokens, conn))


async def _probe(urls, token, channel_id, conn) -> None:
    """In a child process: on ("run", rate, seconds, timeout), post into the quiet
    channel at that rate and send back the records."""
    loop = asyncio.get_running_loop()
    client = Http()
    while (command := await loop.run_in_executor(None, conn.recv)) != "stop":
        _run, rate, seconds, request_timeout = command
        conn.send(await open_loop(client, urls, token, channel_id, rate, seconds, request_timeout, "probe"))
    await client.close()


def _probe_child(urls, token, channel_id, conn) -> None:
    asyncio.run(_probe(urls, token, channel_id, conn))


class Children:
    """The receivers (RECEIVER_PROCESSES processes) and the probe (one), so that neither
    shares an event loop or a core's time slice with the hot sender of this process."""

    def __init__(self, urls, tokens, probe_token, quiet_id):
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        ws_urls = [u.replace("http", "ws", 1) + "/ws/v1/" for u in urls]
        self.receivers = []
        for n in range(RECEIVER_PROCESSES):
            mine, theirs = ctx.Pipe()
            share = tokens[n::RECEIVER_PROCESSES]
            # Each child spreads its sockets over the servers starting at a different one.
            process = ctx.Process(target=_receiver_child, args=(ws_urls[n:] + ws_urls[:n], share, theirs))
            process.start()
            self.receivers.append((process, mine))
        mine, theirs = ctx.Pipe()
        self.probe = (ctx.Process(target=_probe_child, args=(urls, probe_token, quiet_id, theirs)), mine)
        self.probe[0].start()
        for _process, conn in self.receivers:
            if not conn.poll(120):
                raise SystemExit("the receivers did not connect within 120 s")
            assert conn.recv() == "ready"
        self.received: dict[str, list[float]] = {}

    async def run_probe(self, rate, seconds, request_timeout) -> list[dict]:
        conn = self.probe[1]
        conn.send(("run", rate, seconds, request_timeout))
        return await asyncio.get_running_loop().run_in_executor(None, conn.recv)

    def collect(self) -> None:
        for _process, conn in self.receivers:
            conn.send("dump")
            for message_id, times in conn.recv().items():
                self.received.setdefault(message_id, []).extend(times)

    def close(self) -> None:
        for process, conn in [*self.receivers, self.probe]:
            conn.send("stop")
            process.join(30)
            if process.is_alive():
                process.kill()


async def post(client: Http, url, token, content, request_timeout) -> dict:
    started = time.monotonic()
    record = {"start": started, "status": None, "id": None, "latency": None}
    try:
        status, data = await client.post_json(
            url, token, {"content": content, "client_msg_id": uuid.uuid4().hex}, request_timeout
        )
        record["status"] = status
        if status in (200, 201):
            record["id"] = json.loads(data)["id"]
    except Exception as exc:
        record["status"] = type(exc).__name__
    record["latency"] = time.monotonic() - started
    return record


async def open_loop(client, urls, token, channel_id, rate, seconds, request_timeout, label) -> list[dict]:
    """Start int(rate * seconds) sends on schedule, round-robin over the servers."""
    count = max(1, int(rate * seconds))
    t0 = time.monotonic() + 0.05
    tasks = []
    for i in range(count):
        delay = t0 + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        url = f"{urls[i % len(urls)]}/api/v1/channels/{channel_id}/messages"
        tasks.append(asyncio.create_task(post(client, url, token, f"{label} {i}", request_timeout)))
    return list(await asyncio.gather(*tasks))


def summarise(records: list[dict], seconds: float) -> dict:
    """`rate`: accepted sends per second, over the offered window or, if answers came
    later than its end, until the last accepted answer (so late answers do not count as
    throughput)."""
    ok = [r for r in records if r["status"] in (200, 201)]
    if ok:
        window = max(r["start"] + r["latency"] for r in ok) - min(r["start"] for r in records)
        seconds = max(seconds, window)
    return {
        "offered": len(records),
        "accepted": len(ok),
        "rate": len(ok) / seconds,
        "shed": sum(1 for r in records if r["status"] == 429),
        "5xx": sum(1 for r in records if isinstance(r["status"], int) and r["status"] >= 500),
        "failed": sum(1 for r in records if not isinstance(r["status"], int)),
        "other": sum(1 for r in records if isinstance(r["status"], int) and r["status"] not in (200, 201, 429)),
        "p99": percentile([r["latency"] * 1000 for r in ok], 99),
        "ids": [(r["id"], r["start"]) for r in ok],
    }


def delivery(children: Children, ids) -> tuple[int, float]:
    """(lost (message, receiver) pairs, delivery p99 ms) of these accepted messages."""
    children.collect()
    lost, latencies = 0, []
    for message_id, started in ids:
        times = children.received.get(message_id, [])
        lost += max(0, RECEIVERS - len(times))
        latencies += [(t - started) * 1000 for t in times]
    return lost, percentile(latencies, 99)


async def closed_loop(client, urls, tokens, channel_id, concurrency, seconds, request_timeout) -> dict:
    stop_at = time.monotonic() + seconds
    records: list[dict] = []

    async def worker(i):
        url = f"{urls[i % len(urls)]}/api/v1/channels/{channel_id}/messages"
        n = 0
        while time.monotonic() < stop_at:
            n += 1
            records.append(await post(client, url, tokens[i % len(tokens)], f"c{concurrency} {i}-{n}", request_timeout))

    started = time.monotonic()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return summarise(records, time.monotonic() - started)


# --- one configuration --------------------------------------------------------------


def batch_totals(urls) -> tuple[float, float, float]:
    """(batches, sends in them, seconds holding the lock) so far, over every server:
    the group commit's histograms on /metrics (slackclone.metrics)."""
    import urllib.request

    totals = {"slackclone_send_batch_size_count": 0.0, "slackclone_send_batch_size_sum": 0.0}
    totals["slackclone_send_batch_seconds_sum"] = 0.0
    for url in urls:
        try:
            with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
                text = response.read().decode()
        except OSError:  # a baseline without these metrics
            continue
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name in totals:
                totals[name] += float(value)
    return tuple(totals.values())


def batch_note(before, after) -> str:
    batches, sends, seconds = (b - a for a, b in zip(before, after, strict=True))
    if not batches:
        return "no batches"
    held = seconds * 1000 / batches
    return f"{batches:.0f} batches of {sends / batches:.1f} sends, {held:.1f} ms under the lock each"


def start_profile(args, pids, label: str):
    """py-spy the first server for --profile s (None when off); the file is printed."""
    if not args.profile or not pids:
        return None
    out = Path(args.log_dir) / f"profile-{label}-{pids[0]}.txt"
    py_spy = [str(ROOT / ".venv/bin/py-spy"), "record", "-p", str(pids[0]), "--gil", "-r", "200", "-f", "raw"]
    print(f"  profiling pid {pids[0]} for {args.profile:g} s -> {out}", flush=True)
    return subprocess.Popen(
        [*py_spy, "-d", str(int(args.profile)), "-o", str(out), "--nonblocking"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def end_profile(args, profiler) -> None:
    if profiler is not None:
        profiler.wait(timeout=args.profile + 30)


async def run_config(args, urls, pids, tokens, hot_id, quiet_id, rates, *, sweep: bool) -> dict:
    out: dict = {"rates": {}}
    loop = asyncio.get_running_loop()
    children = await loop.run_in_executor(None, Children, urls, tokens[1 : 1 + RECEIVERS], tokens[1], quiet_id)
    await asyncio.sleep(1.0)  # presence settles
    client = Http()
    try:
        probe_seconds = max(3.0, args.seconds)
        idle = await children.run_probe(args.probe_rate, probe_seconds, args.timeout)
        out["idle_probe"] = summarise(idle, probe_seconds)
        for rate in rates if sweep else []:
            cpu0 = sum(cpu_seconds(pid) for pid in pids)
            probe_task = asyncio.create_task(children.run_probe(args.probe_rate, args.seconds, args.timeout))
            profiler = start_profile(args, pids, f"{args.label}-{len(urls)}proc-{rate}")
            hot = await open_loop(client, urls, tokens[0], hot_id, rate, args.seconds, args.timeout, f"hot@{rate}")
            probe = await probe_task
            cpu = sum(cpu_seconds(pid) for pid in pids) - cpu0
            await loop.run_in_executor(None, end_profile, args, profiler)
            await asyncio.sleep(args.drain)
            result = summarise(hot, args.seconds)
            result["lost"], result["delivery_p99"] = await loop.run_in_executor(None, delivery, children, result["ids"])
            result["probe"] = summarise(probe, args.seconds)
            result["cpu_ms_per_send"] = cpu * 1000 / max(1, result["accepted"])
            out["rates"][rate] = result
            print(
                f"  {len(urls)} proc {rate:>4}/s offered: accepted {result['rate']:.1f}/s, shed {result['shed']}, "
                f"5xx {result['5xx']}, failed {result['failed']}, lost {result['lost']}, ack p99 "
                f"{result['p99']:.0f} ms, delivery p99 {result['delivery_p99']:.0f} ms, probe p99 "
                f"{result['probe']['p99']:.0f} ms",
                flush=True,
            )
        if args.c16_seconds > 0:
            cpu0 = sum(cpu_seconds(pid) for pid in pids)
            batches0 = await loop.run_in_executor(None, batch_totals, urls)
            profiler = start_profile(args, pids, f"{args.label}-{len(urls)}proc-c16")
            c16 = await closed_loop(client, urls, tokens[:16], hot_id, 16, args.c16_seconds, args.timeout)
            c16["cpu_ms_per_send"] = (sum(cpu_seconds(pid) for pid in pids) - cpu0) * 1000 / max(1, c16["accepted"])
            c16["batches"] = batch_note(batches0, await loop.run_in_executor(None, batch_totals, urls))
            await loop.run_in_executor(None, end_profile, args, profiler)
            await asyncio.sleep(args.drain)
            c16["lost"], c16["delivery_p99"] = await loop.run_in_executor(None, delivery, children, c16["ids"])
            out["c16"] = c16
    finally:
        await client.close()
        await loop.run_in_executor(None, children.close)
    return out


def with_servers(args, count, code, log_dir, tokens, hot_id, quiet_id, rates, *, sweep):
    args.log_dir, args.label = log_dir, "baseline" if code else "this"
    extra_env = dict(pair.split("=", 1) for pair in args.baseline_env.split(",") if pair.strip()) if code else None
    servers = start_servers(count, log_dir, args.settings, code, extra_env, args.baseline_server)
    try:
        for url, process in servers:
            wait_http(url, process, timeout=60)
        urls = [url for url, _ in servers]
        pids = [process.pid for _, process in servers]
        return asyncio.run(run_config(args, urls, pids, tokens, hot_id, quiet_id, rates, sweep=sweep))
    finally:
        stop_processes([p for _, p in servers])


# --- report -----------------------------------------------------------------------------


def print_sweep(title: str, out: dict) -> None:
    idle = out["idle_probe"]
    print(f"\n{title}: idle probe p99 {idle['p99']:.0f} ms ({idle['accepted']}/{idle['offered']} ok)")
    header = (
        f"{'offered/s':>9}{'accepted/s':>11}{'shed':>6}{'5xx':>5}{'fail':>5}{'lost':>6}"
        f"{'ack p99':>9}{'deliv p99':>10}{'probe p99':>10}{'cpu ms/send':>12}"
    )
    print(header)
    print("-" * len(header))
    for rate, r in out["rates"].items():
        print(
            f"{rate:>9}{r['rate']:>11.1f}{r['shed']:>6}{r['5xx']:>5}{r['failed'] + r['other']:>5}{r['lost']:>6}"
            f"{r['p99']:>9.0f}{r['delivery_p99']:>10.0f}{r['probe']['p99']:>10.0f}{r['cpu_ms_per_send']:>12.1f}"
        )


def never_falls(rates: list[float]) -> bool:
    best = 0.0
    for rate in rates:
        if rate < (1 - NOISE) * best:
            return False
        best = max(best, rate)
    return True


def report_sweep(count: int, out: dict) -> None:
    rows = out["rates"]
    accepted = [r["rate"] for r in rows.values()]
    errors5xx = sum(r["5xx"] for r in rows.values())
    failed = sum(r["failed"] + r["other"] for r in rows.values())
    lost = sum(r["lost"] for r in rows.values())
    shed = sum(r["shed"] for r in rows.values())
    offered = ",".join(str(rate) for rate in rows)
    emit_row(
        f"2 hot channel, {count} proc, offered {offered}/s: 0 5xx, 0 lost, accepted never falls",
        "-",
        "accepted " + "/".join(f"{a:.0f}" for a in accepted) + f"/s; 5xx {errors5xx}, lost {lost}",
        "-",
        errors5xx == 0 and lost == 0 and failed == 0 and never_falls(accepted),
        note=f"shed (429) {shed}, client timeouts/other {failed}",
    )
    idle_p99 = out["idle_probe"]["p99"]
    top = max(rows)
    probe_p99 = rows[top]["probe"]["p99"]
    emit_row(
        f"2 other conversation p99 <= 2x idle, {count} proc, hot channel at {top}/s",
        f"idle {idle_p99:.0f} ms",
        f"{probe_p99:.0f} ms",
        f"{probe_p99 / idle_p99:.2f}",
        probe_p99 <= 2 * idle_p99 and rows[top]["probe"]["5xx"] == 0,
        note=f"probe 5xx {rows[top]['probe']['5xx']}",
    )
    if count >= 2:
        upto = [r for rate, r in rows.items() if rate <= 200]
        worst = max((r["delivery_p99"] for r in upto), default=float("nan"))
        emit_row(
            f"2 delivery p99 <= 1 s up to 200/s, {count} proc",
            "1000 ms",
            f"{worst:.0f} ms",
            f"{worst / 1000:.2f}",
            worst <= 1000,
        )


def main() -> None:
    args = parse_args()
    rates = [int(x) for x in args.rates.split(",") if x.strip()]
    counts = [int(x) for x in args.servers.split(",") if x.strip()]
    raise_nofile_limit()
    django_setup(args.settings)
    run = uuid.uuid4().hex[:8]
    user_ids, tokens, hot_id, quiet_id = create_fixture(run)
    log_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"slackclone-bench-hot-{run}"
    log_dir.mkdir(parents=True, exist_ok=True)
    results: dict = {}
    try:
        for count in counts:

            def baseline(count=count):
                env_note = f" with {args.baseline_env}" if args.baseline_env else ""
                print(f"baseline: the code of {args.baseline_code}{env_note}, {count} process(es)", flush=True)
                results[("baseline", count)] = with_servers(
                    args, count, args.baseline_code, log_dir, tokens, hot_id, quiet_id, rates, sweep=args.baseline_sweep
                )

            def this(count=count):
                print(f"this code, {count} process(es)", flush=True)
                results[count] = with_servers(args, count, None, log_dir, tokens, hot_id, quiet_id, rates, sweep=True)

            order = [baseline, this] if args.baseline_code else [this]
            for measure in reversed(order) if args.this_first else order:
                measure()
    finally:
        remove_fixture(user_ids=user_ids, channel_ids=[hot_id, quiet_id])

    print(f"\none channel of {MEMBERS} members, {RECEIVERS} connected; {args.seconds:g} s per rate; probe")
    print(f"{args.probe_rate:g}/s into another channel; throttle lifted")
    for count in counts:
        base = results.get(("baseline", count))
        if base is not None and base["rates"]:
            print_sweep(f"baseline code, {count} process(es)", base)
        print_sweep(f"this code, {count} process(es)", results[count])
    print()
    for count in counts:
        for name, r in (
            ("baseline", results.get(("baseline", count), {}).get("c16")),
            ("this code", results[count].get("c16")),
        ):
            if r:
                print(
                    f"concurrency 16, one conversation, {count} proc, {name}: {r['rate']:.1f} sends/s, "
                    f"ack p99 {r['p99']:.0f} ms, 5xx {r['5xx']}, shed {r['shed']}, failed {r['failed']}, "
                    f"lost {r['lost']}, {r['cpu_ms_per_send']:.1f} ms server CPU per send; {r.get('batches', '-')}"
                )
    for count in counts:
        report_sweep(count, results[count])
    for count in counts:
        ours, base = results[count].get("c16"), results.get(("baseline", count), {}).get("c16")
        if ours and base:
            ratio = ours["rate"] / base["rate"] if base["rate"] else float("inf")
            emit_row(
                f"2 one conversation at concurrency 16, {count} proc: >= 5x main's",
                f"{base['rate']:.1f}/s (5xx {base['5xx']})",
                f"{ours['rate']:.1f}/s (5xx {ours['5xx']}, lost {ours['lost']})",
                f"{ratio:.2f}",
                ratio >= 5 and ours["5xx"] == 0 and ours["lost"] == 0,
            )


if __name__ == "__main__":
    main()
