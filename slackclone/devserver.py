"""Starting and stopping local server processes (`python -m slackclone.serve`), for the
end-to-end tests and the benchmark scripts (never imported by the application itself)."""

import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def spawn_server(log_dir: Path, env: dict, *, port: int | None = None) -> tuple[int, subprocess.Popen, Path]:
    """One server process (slackclone.serve) on `port` (default: a free loopback port),
    its output in log_dir: (port, process, log)."""
    port = port or free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"server-{port}.log"
    with log.open("w") as out:
        process = subprocess.Popen(  # noqa: S603 (our own server, fixed arguments)
            [str(PYTHON), "-m", "slackclone.serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return port, process, log


def wait_healthy(url: str, process: subprocess.Popen | None, *, log: Path | None = None, timeout: float = 30) -> None:
    """Until GET {url}/api/v1/health answers 200; RuntimeError if the process exits or time runs out."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server {url} exited with {process.returncode}:\n{_tail(log)}")
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"server {url} did not become healthy within {timeout:.0f} s:\n{_tail(log)}")
        time.sleep(0.2)


def stop(process: subprocess.Popen | None, sig: int = signal.SIGTERM) -> None:
    """Signal the process, then kill it if it has not exited within 10 s."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@dataclass
class Server:
    """A server process started by `start`."""

    port: int
    process: subprocess.Popen
    log: Path

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/v1/"

    def wait_healthy(self, *, timeout: float = 30) -> None:
        wait_healthy(self.http, self.process, log=self.log, timeout=timeout)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        stop(self.process, sig)


def start(log_dir: Path, env: dict, *, timeout: float = 30, port: int | None = None) -> Server:
    """spawn_server, then wait until it is healthy (killing it if it never is)."""
    server = Server(*spawn_server(log_dir, env, port=port))
    try:
        server.wait_healthy(timeout=timeout)
    except BaseException:
        server.stop(signal.SIGKILL)
        raise
    return server


def _tail(log: Path | None) -> str:
    return log.read_text()[-3000:] if log is not None and log.exists() else ""


__all__ = ["PYTHON", "Server", "free_port", "spawn_server", "start", "stop", "wait_healthy"]
