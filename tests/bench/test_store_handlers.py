"""The benchmarks' private FerretDB (bench/store_handlers.py `ferretdb`, also used by
bench/embedded_store.py) runs with the garbage collector of scripts/services.sh
(session 13), or its numbers would not compare with the dev services'."""

import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_bench():
    sys.path.insert(0, str(ROOT / "bench"))
    spec = importlib.util.spec_from_file_location("bench_store_handlers", ROOT / "bench" / "store_handlers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _environ(pid: int) -> dict[str, str]:
    items = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in items if b"=" in item)


def test_the_benchmarks_ferretdb_has_the_garbage_collector_of_services_sh(monkeypatch):
    monkeypatch.delenv("FERRETDB_GOGC", raising=False)
    monkeypatch.delenv("FERRETDB_GOMEMLIMIT", raising=False)
    bench = _load_bench()
    if not bench.FERRETDB.exists():
        pytest.skip(f"no FerretDB binary at {bench.FERRETDB} (a real mongod here)")
    services_sh = (ROOT / "scripts" / "services.sh").read_text()
    expected = {
        "GOGC": re.search(r'FERRETDB_GOGC="\$\{FERRETDB_GOGC:-([^}]+)\}"', services_sh).group(1),
        "GOMEMLIMIT": re.search(r'FERRETDB_GOMEMLIMIT="\$\{FERRETDB_GOMEMLIMIT:-([^}]+)\}"', services_sh).group(1),
    }

    with bench.ferretdb("sqlite") as (_url, _database, process):
        environ = _environ(process.pid)
    with bench.ferretdb("sqlite", env={"GOGC": "100"}) as (_url, _database, process):
        baseline = _environ(process.pid)

    assert {key: environ.get(key) for key in expected} == expected
    assert baseline["GOGC"] == "100"  # bench/embedded_store.py's baseline
