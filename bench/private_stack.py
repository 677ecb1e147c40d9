"""A private set of services and daphne processes for bench/chaos.py and bench/soak.py.

The services (PostgreSQL, Redis, the MongoDB-compatible server) run under their own
DATA_DIR and ports, so stopping and restarting them disturbs nobody else:

    DATA_DIR=/tmp/slackclone-chaos PG_PORT=23664 REDIS_PORT=23711 MONGO_PORT=24349 scripts/services.sh start

Those are the ports of a checkout on the default ports: PG_PORT + 1000, REDIS_PORT + 100 and
MONGO_PORT + 100, modulo 32768 (below Linux's ephemeral port range). A checkout whose own
services run on other ports gets its private stack shifted the same way, with a data dir of
its own, so two checkouts on one machine never share a private stack.
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from slackclone import devserver  # noqa: E402

_PG_PORT = int(os.environ.get("PG_PORT", "55432"))
_REDIS_PORT = int(os.environ.get("REDIS_PORT", "56379"))
_MONGO_PORT = int(os.environ.get("MONGO_PORT", "57017"))
_SUFFIX = "" if _PG_PORT == 55432 else f"-{_PG_PORT}"
DATA_DIR = os.environ.get("CHAOS_DATA_DIR", f"/tmp/slackclone-chaos{_SUFFIX}")
# Below 32768, outside Linux's ephemeral range (32768-60999), where the default ports are:
# a private service starts in the middle of the test suite, when hundreds of outgoing
# connections hold ephemeral ports, and PostgreSQL failed to bind 56432 once because one of
# them held it ("Address already in use").
_EPHEMERAL_START = 32768


def _private_port(port: int, offset: int) -> int:
    return (port + offset) % _EPHEMERAL_START


PORTS = {
    "PG_PORT": str(_private_port(_PG_PORT, 1000)),
    "REDIS_PORT": str(_private_port(_REDIS_PORT, 100)),
    "MONGO_PORT": str(_private_port(_MONGO_PORT, 100)),
}
STORE_ENV = {
    "DATABASE_URL": f"postgres://slackclone@127.0.0.1:{PORTS['PG_PORT']}/slackclone",
    "MONGO_URL": f"mongodb://127.0.0.1:{PORTS['MONGO_PORT']}/",
    "REDIS_URL": f"redis://127.0.0.1:{PORTS['REDIS_PORT']}/0",
}
SERVER_ENV = {
    "DJANGO_SETTINGS_MODULE": "slackclone.settings",
    "LOG_LEVEL": "WARNING",
    "THROTTLE_AUTH": "100000/min",
    "THROTTLE_WRITE": "100000/min",
    "PRESENCE_GRACE_SECONDS": "1",
    **STORE_ENV,
}


def services(*args: str) -> None:
    """scripts/services.sh on the PRIVATE data dir and ports (never the shared ones)."""
    env = {k: v for k, v in os.environ.items() if k not in STORE_ENV}
    env.update(DATA_DIR=DATA_DIR, **PORTS)
    subprocess.run([str(ROOT / "scripts" / "services.sh"), *args], env=env, check=True, cwd=ROOT)


def prepare(*, start: bool = True) -> None:
    """Start the private services, migrate, create the MongoDB indexes."""
    if start:
        services("start")
    env = {**os.environ, **SERVER_ENV}
    py = str(ROOT / ".venv" / "bin" / "python")
    subprocess.run([py, "manage.py", "migrate", "--noinput", "-v0"], env=env, check=True, cwd=ROOT)
    subprocess.run([py, "manage.py", "ensure_mongo_indexes"], env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


def setup_django() -> None:
    """Use the ORM of the private stack in this process (fixtures: users, tokens)."""
    os.environ.update(SERVER_ENV)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def start_server(log_dir: Path, **env_extra: str) -> devserver.Server:
    return devserver.start(log_dir, {**os.environ, **SERVER_ENV, **env_extra}, timeout=40)
