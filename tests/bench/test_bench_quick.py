"""`make bench-quick` once, so that the benchmark scripts cannot rot.

It runs bench/run_all.py --quick (every script at small sizes) against the DEVELOPMENT
database and services, as `make bench` does, never this run's test databases, and
asserts that every script ran and the table was printed: not that the goals were met
(small sizes on a shared machine say nothing about them).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ("sends", "fanout", "history", "idle", "hot_channel", "capacity", "request_cpu")


@pytest.mark.timeout(340)
def test_bench_quick_runs_every_script_and_prints_the_table():
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "MONGO_DB", "SLACKCLONE_TEST_WORKER")}
    env["DJANGO_SETTINGS_MODULE"] = "slackclone.settings"
    # The scripts use the dev database: make sure it has the schema (as `make bench` does).
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=120
    )
    result = subprocess.run(
        [sys.executable, "bench/run_all.py", "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    assert "BENCHMARK TABLE (quick" in output, output[-5000:]
    table = output.split("BENCHMARK TABLE", 1)[1]
    goals = (
        "1 sends REST",
        "1 sends WS",
        "2 fan-out",
        "3 history newest",
        "3 history deep",
        "4 idle",
        "2 hot channel",
        "5 capacity",
        "4 CPU per request, mean",
    )
    for goal in goals:
        assert goal in table, table
    assert "ERROR" not in table, table
    for script in SCRIPTS:
        assert f"=== {script}:" in output
