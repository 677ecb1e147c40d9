"""The benchmarks' private FerretDB (bench/store_handlers.py `ferretdb`, also used by
bench/embedded_store.py) runs with the garbage collector of scripts/services.sh
(session 13), or its numbers would not compare with the dev services'.

The bench modules run in a process of their own here: importing them sets a benchmark's
production defaults in os.environ (bench/common.py: DEBUG, SECURE_SSL_REDIRECT, ...),
which must not leak into the tests after this one."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
sys.path.insert(0, "bench")
import store_handlers

def environ(pid):
    items = open(f"/proc/{pid}/environ", "rb").read().split(b"\\0")
    return dict(item.decode().split("=", 1) for item in items if b"=" in item)

if not store_handlers.FERRETDB.exists():
    print(json.dumps({"skip": str(store_handlers.FERRETDB)}))
    sys.exit()
with store_handlers.ferretdb("sqlite") as (_url, _database, process):
    default = environ(process.pid)
with store_handlers.ferretdb("sqlite", env={"GOGC": "100"}) as (_url, _database, process):
    baseline = environ(process.pid)
print(json.dumps({"default": default, "baseline": baseline}))
"""


def test_the_benchmarks_ferretdb_has_the_garbage_collector_of_services_sh():
    env = {key: value for key, value in os.environ.items() if key not in ("FERRETDB_GOGC", "FERRETDB_GOMEMLIMIT")}
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    if "skip" in found:
        pytest.skip(f"no FerretDB binary at {found['skip']} (a real mongod here)")
    services_sh = (ROOT / "scripts" / "services.sh").read_text()
    expected = {
        "GOGC": re.search(r'FERRETDB_GOGC="\$\{FERRETDB_GOGC:-([^}]+)\}"', services_sh).group(1),
        "GOMEMLIMIT": re.search(r'FERRETDB_GOMEMLIMIT="\$\{FERRETDB_GOMEMLIMIT:-([^}]+)\}"', services_sh).group(1),
    }

    assert {key: found["default"].get(key) for key in expected} == expected
    assert found["baseline"]["GOGC"] == "100"  # bench/embedded_store.py's baseline


def test_this_test_left_the_environment_alone():
    """The guard of the module docstring: the tests after this file see no bench default."""
    assert "bench-only-secret-key" not in os.environ.get("SECRET_KEY", "")
