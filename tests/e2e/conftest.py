"""Real daphne server processes against this test run's databases.

The servers use the pytest-django TEST database (DATABASE_URL), and the same
SLACKCLONE_TEST_WORKER (so the same MongoDB database and Redis database index), so
they see what a `transaction=True` test commits, and the test sees what they store.
"""

import os
import signal
from pathlib import Path

import pytest
from django.db import connection

from slackclone import devserver

ROOT = Path(__file__).resolve().parents[2]
ORIGIN = "http://127.0.0.1"


def servers_database_url() -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


def start_server(log_dir: Path, **env_extra: str) -> devserver.Server:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "slackclone.settings_test",
        "SLACKCLONE_TEST_WORKER": os.environ.get("SLACKCLONE_TEST_WORKER", "0"),
        "DATABASE_URL": servers_database_url(),
        "LOG_LEVEL": "WARNING",
        **env_extra,
    }
    return devserver.start(log_dir, env)


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
