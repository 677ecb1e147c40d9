#!/usr/bin/env python
"""Files (issue 20): upload and download throughput for 1 MiB and 25 MiB files, and the
server's peak memory during a 25 MiB upload.

A daphne process is started here (settings of DJANGO_SETTINGS_MODULE, default
slackclone.settings: the local filesystem storage under .data/files, or STORAGE_URL).
For each size, --rounds uploads (POST /api/v1/files, multipart) and as many downloads
(GET /files/{id}/content, streamed) over HTTP on 127.0.0.1, in MiB/s. Baseline, in the
same run: writing and reading the same bytes to/from a file in the storage directory
(the floor the server cannot beat). Memory: the server's RSS sampled every 5 ms during
one 25 MiB upload; reported as its peak minus its RSS just before.

    .venv/bin/python bench/files_bench.py                 # 1 MiB x 10 and 25 MiB x 3
    .venv/bin/python bench/files_bench.py --rounds 2
"""

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

# (Run as a script: its directory is sys.path[0]; common puts the project root first, so
# `files` is the app, not this file.)
from common import django_setup, emit_row, rss_kib, start_web_server, stop_processes, wait_http

MIB = 1024 * 1024


def _disk_baseline(directory: str, data: bytes) -> tuple[float, float]:
    """(write MiB/s, read MiB/s) of a plain file in `directory`."""
    os.makedirs(directory, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=directory, delete=False) as fh:
        started = time.perf_counter()
        fh.write(data)
        fh.flush()
        write = time.perf_counter() - started
    started = time.perf_counter()
    Path(fh.name).read_bytes()
    read = time.perf_counter() - started
    os.unlink(fh.name)
    size = len(data) / MIB
    return size / write, size / read


def _peak_rss_during(pid: int, action) -> tuple[int, int]:
    """(RSS KiB before, peak RSS KiB while `action()` runs)."""
    before = rss_kib(pid) or 0
    peak, done = before, threading.Event()

    def sample():
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_kib(pid) or 0)
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        action()
    finally:
        done.set()
        sampler.join()
    return before, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=0, help="Uploads per size (default: 10 of 1 MiB, 3 of 25 MiB).")
    args = parser.parse_args()
    django_setup()
    import httpx
    from django.conf import settings

    from accounts.models import User
    from accounts.services import token_create
    from files.models import File
    from tests.conftest import join_workspace

    tag = f"{os.getpid()}{int(time.time())}"
    user = User.objects.create_user(f"benchfiles{tag}", f"benchfiles{tag}@example.invalid", None)
    token = token_create(user=user, membership=join_workspace(user))
    log_dir = Path(settings.BASE_DIR) / ".data" / "bench-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    base_url, server = start_web_server(log_dir, os.environ["DJANGO_SETTINGS_MODULE"])
    try:
        wait_http(base_url, server)
        client = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=120)
        print(f"server {base_url} (pid {server.pid}), storage {settings.STORAGES['default']['BACKEND']}")
        print(
            f"{'size':>7} {'rounds':>6} {'upload MiB/s':>13} {'disk write':>11} "
            f"{'download MiB/s':>15} {'disk read':>10}"
        )
        for size_mib, default_rounds in ((1, 10), (25, 3)):
            rounds = args.rounds or default_rounds
            data = os.urandom(size_mib * MIB)
            ids, up, down = [], 0.0, 0.0
            for _ in range(rounds):
                started = time.perf_counter()
                response = client.post("/api/v1/files", files={"file": ("bench.bin", data)})
                up += time.perf_counter() - started
                assert response.status_code == 201, response.text
                ids.append(response.json()["id"])
            for fid in ids:
                started = time.perf_counter()
                with client.stream("GET", f"/api/v1/files/{fid}/content") as response:
                    received = sum(len(chunk) for chunk in response.iter_bytes())
                down += time.perf_counter() - started
                assert received == len(data)
            write_base, read_base = _disk_baseline(settings.FILES_ROOT, data)
            up_rate, down_rate = size_mib * rounds / up, size_mib * rounds / down
            print(
                f"{size_mib:>5}Mi {rounds:>6} {up_rate:>13.1f} {write_base:>11.1f} "
                f"{down_rate:>15.1f} {read_base:>10.1f}"
            )
            emit_row(f"upload {size_mib} MiB (MiB/s)", f"disk write {write_base:.0f}", f"{up_rate:.1f}", "", None)
            emit_row(f"download {size_mib} MiB (MiB/s)", f"disk read {read_base:.0f}", f"{down_rate:.1f}", "", None)

        data = os.urandom(25 * MIB)
        before, peak = _peak_rss_during(
            server.pid, lambda: client.post("/api/v1/files", files={"file": ("m.bin", data)})
        )
        growth = (peak - before) / 1024
        print(
            f"server RSS during a 25 MiB upload: {before / 1024:.1f} MiB before, peak {peak / 1024:.1f} MiB "
            f"(+{growth:.1f} MiB)"
        )
        emit_row(
            "server peak RSS growth, 25 MiB upload (MiB)", "25 MiB body", f"{growth:.1f}", f"{growth / 25:.2f}", None
        )
    finally:
        stop_processes([server])
        for file in File.objects.filter(uploader=user):
            file.delete()
        user.delete()


if __name__ == "__main__":
    main()
