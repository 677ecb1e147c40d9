#!/usr/bin/env python
"""Run every benchmark of issue 8 and print ONE table: goal, baseline, ours, ratio, pass.

    .venv/bin/python bench/run_all.py            # the sizes of `make bench` (< 15 minutes)
    .venv/bin/python bench/run_all.py --quick    # small sizes, a smoke check (< 1 minute)

Each script (bench/sends.py, fanout.py, history.py, idle.py, hot_channel.py, capacity.py) runs as its own process
and prints its own figures (echoed here) and `BENCH-ROW {json}` lines, which become
the table's rows. A script that fails yields a FAILED row and the exit status 1; goals
that are missed do not change the exit status (`--strict` makes them).
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ROW_PREFIX = "BENCH-ROW "

FULL = {
    "sends": ["--levels", "1,2,4,8", "--seconds", "6"],
    "fanout": ["--sockets", "1000", "--servers", "2", "--rate", "2", "--messages", "60"],
    "history": ["--messages", "10000,100000", "--requests", "50"],  # issue 13: 10k and 100k stored
    "idle": ["--sockets", "10000", "--ping-interval", "20"],  # 20,000: see docs/performance.md
    # Issue 13: the rate sweep 20..400/s into one 51-member channel, 1 and 2 processes;
    # BENCH_BASELINE_CODE=<a checkout of main> adds the concurrency-16 baseline.
    "hot_channel": [],
    # Issue 13, section 4: simulated people ramped 100..1500 against two processes (<= ~12 minutes).
    "capacity": [],
}
QUICK = {
    "sends": ["--levels", "1,2", "--seconds", "1", "--servers", "1"],
    "fanout": ["--sockets", "30", "--servers", "2", "--rate", "10", "--messages", "10", "--timeout", "10"],
    "history": ["--messages", "200,1000", "--requests", "5", "--small-size", "60"],
    "idle": ["--sockets", "200", "--users", "20", "--ping-interval", "1", "--window", "2"],
    "hot_channel": ["--rates", "10,20", "--seconds", "1", "--servers", "1", "--c16-seconds", "1", "--drain", "1"],
    "capacity": ["--quick"],
}


def machine() -> str:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    mem = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1048576:.1f} GiB"
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs, {mem} RAM, load average {load}"


def run_script(name: str, args: list[str], timeout: float) -> tuple[list[dict], float, int]:
    started = time.perf_counter()
    cmd = [sys.executable, str(HERE / f"{name}.py"), *args]
    print(f"\n=== {name}: {' '.join(cmd[1:])}", flush=True)
    rows: list[dict] = []
    process = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith(ROW_PREFIX):
                rows.append(json.loads(line[len(ROW_PREFIX) :]))
            else:
                print("  " + line.rstrip(), flush=True)
        status = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        status = -9
    return rows, time.perf_counter() - started, status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke check")
    parser.add_argument("--only", default=None, help="comma-separated subset: " + ",".join(FULL))
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    names = [n for n in plan if args.only is None or n in args.only.split(",")]
    print(f"machine: {machine()}", flush=True)
    table: list[dict] = []
    crashed = False
    for name in names:
        script_args = list(plan[name])
        if name == "hot_channel" and not args.quick and os.environ.get("BENCH_BASELINE_CODE"):
            script_args += ["--baseline-code", os.environ["BENCH_BASELINE_CODE"]]
        rows, seconds, status = run_script(name, script_args, timeout=120 if args.quick else 1200)
        if status != 0 or not rows:
            crashed = True
            rows = rows or [{"goal": name, "baseline": "-", "ours": "-", "ratio": "-", "pass": None}]
            for row in rows:
                row["note"] = f"script exited {status}"
        for row in rows:
            row["seconds"] = seconds
        table.extend(rows)

    headers = ["goal", "baseline", "ours", "ratio", "pass"]
    cells = [
        [
            row["goal"],
            row["baseline"],
            row["ours"],
            row["ratio"],
            ("PASS" if row["pass"] else "FAIL" if row["pass"] is False else "ERROR")
            + (f" ({row['note']})" if row.get("note") else ""),
        ]
        for row in table
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    print(f"\nBENCHMARK TABLE ({'quick' if args.quick else 'full'}; {machine()})")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for c in cells:
        print("| " + " | ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)) + " |")
    missed = sum(1 for row in table if row["pass"] is False)
    print(f"\n{len(table) - missed}/{len(table)} goals met" + ("; a script FAILED" if crashed else ""), flush=True)
    if crashed:
        return 1
    return 1 if (args.strict and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
