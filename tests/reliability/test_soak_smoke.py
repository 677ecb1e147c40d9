"""A short `make soak` with MongoDB restarted mid-run, so the zero-loss check cannot rot.

It runs bench/soak.py (two server processes, real sockets) on the PRIVATE stack of
bench/private_stack.py (its own data directory and ports; the suite's services are not
touched) and stops that stack afterwards. Do not run `make chaos` or `make soak` at the
same time: they use the same private stack.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import private_stack  # noqa: E402


@pytest.fixture
def private_services():
    yield
    private_stack.services("stop")


@pytest.mark.timeout(300)
def test_a_short_soak_with_a_mongodb_restart_loses_nothing(private_services):
    env = {k: v for k, v in os.environ.items() if k not in ("MONGO_DB", "SLACKCLONE_TEST_WORKER")}
    args = ["--clients", "10", "--minutes", "0.4", "--interval", "2"]
    args += ["--restart-mongo-at", "8", "--mongo-down-seconds", "3", "--drain-seconds", "40"]
    result = subprocess.run(
        [sys.executable, "bench/soak.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=280
    )

    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    assert "RESULT: PASS" in output, output[-5000:]
    figures = dict(re.findall(r"(\w+)=(\d+)", output.split("\nsoak:", 1)[1]))
    assert int(figures["sent"]) >= 20, figures  # enough traffic to say something
    assert figures["acked"] == figures["sent"], figures
    assert figures["lost"] == figures["duplicated"] == figures["out_of_order"] == figures["5xx"] == "0", figures
