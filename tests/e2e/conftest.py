"""Real daphne server processes against this test run's databases.

The servers use the pytest-django TEST database (DATABASE_URL), and the same
SLACKCLONE_TEST_WORKER (so the same MongoDB database and Redis database index), so
they see what a `transaction=True` test commits, and the test sees what they store.
"""

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
DAPHNE = ROOT / ".venv" / "bin" / "daphne"
ORIGIN = "http://127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    port: int
    process: subprocess.Popen
    log: Path

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/v1/"

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def servers_database_url() -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


def wait_healthy(server: Server, *, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"daphne on {server.port} exited:\n{server.log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{server.http}/api/v1/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"daphne on {server.port} did not become healthy:\n{server.log.read_text()[-3000:]}")


def start_server(log_dir: Path, **env_extra: str) -> Server:
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "slackclone.settings_test",
        "SLACKCLONE_TEST_WORKER": os.environ.get("SLACKCLONE_TEST_WORKER", "0"),
        "DATABASE_URL": servers_database_url(),
        "LOG_LEVEL": "WARNING",
        **env_extra,
    }
    log = log_dir / f"daphne-{port}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(DAPHNE), "-b", "127.0.0.1", "-p", str(port), "slackclone.asgi:application"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(port=port, process=process, log=log)
    try:
        wait_healthy(server)
    except BaseException:
        server.stop(signal.SIGKILL)
        raise
    return server


@pytest.fixture(scope="session")
def e2e_logs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("daphne")


@pytest.fixture(scope="session")
def servers(django_db_setup, django_db_blocker, e2e_logs):
    """Two daphne processes, A and B, for the whole session (killed at its end)."""
    with django_db_blocker.unblock():
        started = []
        try:
            for _ in range(2):
                started.append(start_server(e2e_logs))
            yield started
        finally:
            for server in started:
                server.stop()


@pytest.fixture
def extra_server(django_db_setup, e2e_logs):
    """start(**env) -> one more daphne process, stopped (killed if need be) at the test's end."""
    started = []

    def start(**env):
        server = start_server(e2e_logs, **env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop(signal.SIGKILL)
