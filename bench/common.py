"""Shared helpers of the bench scripts: Django setup, servers, percentiles, result rows.

Every script prints its own figures, then one `BENCH-ROW {json}` line per goal, which
bench/run_all.py collects into the one table (goal, baseline, ours, ratio, pass).
"""

import asyncio
import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from slackclone import devserver  # noqa: E402

ORIGIN = "http://127.0.0.1"
APP = "slackclone.asgi:application"
ROW_PREFIX = "BENCH-ROW "


def django_setup(settings_module: str | None = None) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module or os.environ.get(
        "DJANGO_SETTINGS_MODULE", "slackclone.settings"
    )
    import django

    django.setup()


def raise_nofile_limit(wanted: int = 200_000) -> int:
    """Raise RLIMIT_NOFILE (inherited by the servers started here): the soft limit to the
    hard one, and the hard one too where allowed (root), up to `wanted`."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < wanted:
        try:
            nr_open = int(Path("/proc/sys/fs/nr_open").read_text())
        except (OSError, ValueError):
            nr_open = wanted
        with contextlib.suppress(ValueError, OSError):  # not privileged: keep the hard limit
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, nr_open), min(wanted, nr_open)))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, wanted)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def percentile(values, q: float) -> float:
    """Nearest-rank percentile, q in 0..100; nan when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


free_port = devserver.free_port


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_seconds(pid: int, *, reaped_children: bool = False) -> float:
    """User + system CPU time of a process; with `reaped_children`, that of its exited
    children it has waited for instead (cutime + cstime: e.g. PostgreSQL's backends)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    first = 13 if reaped_children else 11
    return (int(fields[first]) + int(fields[first + 1])) / os.sysconf("SC_CLK_TCK")


def login_token(user) -> str:
    """An API token for `user`, minted as a login mints it (accounts.services.token_create:
    bound to the user's membership of the default workspace, with its session; the
    membership is made if missing), so that a benchmark's requests pay what a logged-in
    client's pay: one query to authenticate. (A bare knox token, unbound, as the benches
    used before session 8, is the legacy path: it costs every request one more query,
    for its membership.) Needs django_setup()."""
    from accounts.models import WorkspaceMember, default_workspace_id
    from accounts.services import token_create

    membership, _ = WorkspaceMember.objects.get_or_create(workspace_id=default_workspace_id(), user=user)
    return token_create(user=user, membership=membership, device_name="bench")


# A benchmark's servers, and its own process, run as production does
# (docs/deployment.md), with DEBUG off; what a benchmark needs on a loopback address is
# allowed explicitly. Until session 10 they ran with the development default, DEBUG on:
# Django then logs every query (CursorDebugWrapper), which costs CPU on every
# statement. Set as defaults of this process's environment when this module is
# imported (before a bench script sets Django up: what the bench signs itself, history
# cursors, must verify on the servers, which needs the same SECRET_KEY), and inherited
# by the servers. The environment still wins (DEBUG=true bench/... measures the old way).
PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "bench-only-secret-key-not-for-production-0123456789abcdef",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "SECURE_SSL_REDIRECT": "false",  # plain http on loopback
    "METRICS_ALLOWED_IPS": "127.0.0.1,::1",  # the benches read /metrics
}

for _name, _value in PRODUCTION_ENV.items():
    os.environ.setdefault(_name, _value)


def server_env(settings_module: str, **env_extra: str) -> dict[str, str]:
    """The environment of a benchmark's server process."""
    return {**os.environ, "DJANGO_SETTINGS_MODULE": settings_module, "LOG_LEVEL": "WARNING", **env_extra}


def start_web_server(log_dir: Path, settings_module: str, **env_extra: str) -> tuple[str, subprocess.Popen]:
    """One server process (slackclone.serve) of this checkout on a free port: (http base url, process)."""
    env = server_env(settings_module, **env_extra)
    port, process, _log = devserver.spawn_server(log_dir, env)
    return f"http://127.0.0.1:{port}", process


SERVERS = ("serve", "daphne", "uvicorn-sansio")


def start_server(
    kind: str,
    log_dir: Path,
    settings_module: str,
    *,
    ping_interval: float | None = None,
    code: str | None = None,
    **env_extra: str,
) -> tuple[str, subprocess.Popen]:
    """One ASGI server process on a free port: (http base url, process).

    `kind` is "serve" (this project's server since session 7: `python -m
    slackclone.serve`, uvicorn with httptools, uvloop and our options), "daphne" (the
    server before session 7, to serve older checkouts: `daphne@/tmp/base`) or
    "uvicorn-sansio" (uvicorn's command line as session 4-6 measured it: the asyncio
    loop, h11, websockets-sansio, frames up to 1 MiB, no permessage-deflate). `code`:
    serve another checkout (e.g. of main) with this venv. `ping_interval`: keepalive
    pings, seconds (default 20)."""
    env = server_env(settings_module, **env_extra)
    if code is not None:
        env["PYTHONPATH"] = code
    port = devserver.free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    if kind == "serve":
        command = [str(devserver.PYTHON), "-m", "slackclone.serve", "--host", "127.0.0.1", "--port", str(port)]
        command += ["--ws-ping-interval", str(ping_interval or 20)]
    elif kind == "daphne":
        command = [str(ROOT / ".venv" / "bin" / "daphne"), "-b", "127.0.0.1", "-p", str(port)]
        command += ["--access-log", os.devnull]
        if ping_interval is not None:
            command += ["--ping-interval", str(int(max(1, ping_interval))), "--ping-timeout", "60"]
        command.append(APP)
    elif kind == "uvicorn-sansio":
        command = [str(ROOT / ".venv" / "bin" / "uvicorn"), APP, "--host", "127.0.0.1", "--port", str(port)]
        command += ["--ws", "websockets-sansio", "--loop", "asyncio", "--http", "h11", "--lifespan", "off"]
        command += ["--no-access-log", "--log-level", "warning", "--ws-max-size", str(1024 * 1024)]
        command += ["--ws-ping-interval", str(ping_interval or 20), "--ws-ping-timeout", "60"]
        command += ["--ws-per-message-deflate", "false"]
    else:
        raise ValueError(f"unknown server {kind!r} (one of {', '.join(SERVERS)})")
    with (log_dir / f"{kind}-{port}.log").open("w") as out:
        process = subprocess.Popen(
            command,
            cwd=code or ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return f"http://127.0.0.1:{port}", process


def wait_http(url: str, process: subprocess.Popen | None = None, timeout: float = 30, path="/api/v1/health") -> None:
    import logging

    import httpx

    logging.getLogger("httpx").setLevel(logging.WARNING)
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise SystemExit(f"server {url} exited with {process.returncode}")
        try:
            if httpx.get(url + path, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{url} did not answer within {timeout:.0f} s")
        time.sleep(0.2)


def wait_port(port: int, process: subprocess.Popen | None = None, timeout: float = 30) -> None:
    """Wait until 127.0.0.1:`port` accepts a TCP connection (a server without an HTTP
    health path, like bench/bare_broadcaster.py); SystemExit if `process` exits first
    or `timeout` seconds pass."""
    import socket

    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise SystemExit(f"server on port {port} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"port {port} did not open within {timeout:.0f} s")
        time.sleep(0.1)


def stop_processes(processes) -> None:
    for process in processes:
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        devserver.stop(process)


def remove_fixture(*, user_ids, channel_ids, other_conversation_ids=()) -> None:
    """Best effort: the messages of these channels (and of other conversation ids, e.g.
    raw inserts), their seq counters, the channels and the users. Needs django_setup()."""
    from accounts.models import User
    from channels_app.models import Channel
    from messaging.documents import ConversationKind
    from messaging.models import MessageSequence
    from messaging.repositories import repository_for

    repo = repository_for(ConversationKind.CHANNEL)
    for cid in [*channel_ids, *other_conversation_ids]:
        try:
            repo.delete_conversation(conversation_id=cid)
        except Exception as exc:  # best effort
            print(f"warning: messages of {cid} not removed: {exc!r}")
    MessageSequence.objects.filter(conversation_id__in=list(channel_ids)).delete()
    Channel.objects.filter(pk__in=list(channel_ids)).delete()
    User.objects.filter(pk__in=list(user_ids)).delete()


class Http:
    """A minimal HTTP/1.1 client for JSON requests over kept-alive connections: about a
    tenth of httpx's CPU per request, so that the client, which shares the machine's
    two cores with the servers, does not become what is measured."""

    def __init__(self):
        self.idle: dict[tuple[str, int], list] = {}

    async def _connection(self, host: str, port: int, *, fresh: bool = False):
        """(reader, writer, reused): a kept-alive connection of the pool, or a new one."""
        pool = self.idle.setdefault((host, port), [])
        if pool and not fresh:
            return (*pool.pop(), True)
        return (*await asyncio.open_connection(host, port), False)

    async def post_json(self, url: str, token: str, payload: dict, request_timeout: float) -> tuple[int, bytes]:
        return await self.request("POST", url, token, payload, request_timeout)

    async def request(
        self, method: str, url: str, token: str, payload: dict | None, request_timeout: float
    ) -> tuple[int, bytes]:
        """`method` `url` (absolute, with its query string) with a JSON body (None: no
        body); (status, body bytes). Raises TimeoutError / OSError / ConnectionError."""
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        body = b"" if payload is None else json.dumps(payload).encode()
        content = f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n" if payload is not None else ""
        head = (
            f"{method} {target} HTTP/1.1\r\nHost: {parts.hostname}\r\nAuthorization: Bearer {token}\r\n{content}\r\n"
        ).encode()
        reader, writer, reused = await self._connection(parts.hostname, parts.port)
        try:
            async with asyncio.timeout(request_timeout):
                try:
                    writer.write(head + body)
                    status_line = await reader.readline()
                    if not status_line:
                        raise ConnectionError("closed")
                except (ConnectionError, OSError):
                    if not reused:
                        raise
                    # The server closed this idle kept-alive connection before it read the
                    # request: send it again on a new one, as browsers and httpx do.
                    writer.close()
                    reader, writer, _ = await self._connection(parts.hostname, parts.port, fresh=True)
                    writer.write(head + body)
                    status_line = await reader.readline()
                    if not status_line:
                        raise ConnectionError("closed") from None
                length, keep = 0, True
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    name = name.strip().lower()
                    if name == "content-length":
                        length = int(value)
                    elif name == "connection" and "close" in value.lower():
                        keep = False
                data = await reader.readexactly(length) if length else b""
        except BaseException:
            writer.close()
            raise
        if keep:
            self.idle[(parts.hostname, parts.port)].append((reader, writer))
        else:
            writer.close()
        return int(status_line.split()[1]), data

    async def close(self) -> None:
        for pool in self.idle.values():
            for _reader, writer in pool:
                writer.close()
        self.idle.clear()


def emit_row(goal: str, baseline: str, ours: str, ratio: str, passed: bool | None, note: str = "") -> None:
    """One line of the run_all table; passed None = not measurable here."""
    row = {"goal": goal, "baseline": baseline, "ours": ours, "ratio": ratio, "pass": passed, "note": note}
    print(ROW_PREFIX + json.dumps(row), flush=True)
