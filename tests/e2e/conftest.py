"""Real server processes (slackclone.serve) against this test run's databases.

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
    return tmp_path_factory.mktemp("servers")


@pytest.fixture(scope="session")
def servers(django_db_setup, django_db_blocker, e2e_logs):
    """Two server processes, A and B, for the whole session (killed at its end)."""
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
    """start(**env) -> one more server process, stopped (killed if need be) at the test's end."""
    started = []

    def start(**env):
        server = start_server(e2e_logs, **env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop(signal.SIGKILL)


def store_env() -> dict[str, str]:
    """The store settings of this test run, spelled as environment variables, for a
    server that runs with the production settings module (slackclone.settings)."""
    from django.conf import settings

    return {
        "DATABASE_URL": servers_database_url(),
        "MONGO_URL": settings.MONGO_URL,
        "MONGO_DB": settings.MONGO_DB,
        "REDIS_URL": settings.REDIS_URL,
    }


def production_env(static_root: Path) -> dict[str, str]:
    """A bare server process as a production deployment runs it (DEBUG=false, collected static
    files, no finders), but on plain HTTP on loopback and this run's stores."""
    return {
        **os.environ,
        **store_env(),
        "DJANGO_SETTINGS_MODULE": "slackclone.settings",
        "DEBUG": "false",
        "SECRET_KEY": "e2e-only-not-a-secret-0123456789abcdefghijklmnopqrstuvwxyz",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_HSTS_SECONDS": "0",
        "STATIC_ROOT": str(static_root),
        "LOG_LEVEL": "WARNING",
    }


@pytest.fixture(scope="session")
def collected_static(tmp_path_factory) -> Path:
    """`manage.py collectstatic` with the production storage (hashed, compressed) into a
    temporary STATIC_ROOT, as `make run` and the Docker build do."""
    import subprocess

    static_root = tmp_path_factory.mktemp("static")
    subprocess.run(
        [str(ROOT / ".venv/bin/python"), "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=production_env(static_root),
        check=True,
        timeout=300,
    )
    return static_root


@pytest.fixture(scope="session")
def production_server(django_db_setup, django_db_blocker, e2e_logs, collected_static):
    """One server process with the production settings (DEBUG=false) and collected static files."""
    with django_db_blocker.unblock():
        server = devserver.start(e2e_logs, production_env(collected_static))
    yield server
    server.stop()


CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BIN", "/usr/bin/chromedriver")


def chrome(*, window_size: str = "1280,860", logging_prefs: dict | None = None):
    """Debian's chromium, headless, driven by Selenium through Debian's chromedriver (the
    caller quits it). logging_prefs: Chrome's goog:loggingPrefs, e.g. {"performance": "ALL"}."""
    import shutil

    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.fail(f"{CHROMIUM} or {CHROMEDRIVER} is missing: run scripts/services.sh browser (make test does)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={window_size}"):
        options.add_argument(argument)
    options.add_argument("--force-device-scale-factor=1")
    if logging_prefs:
        options.set_capability("goog:loggingPrefs", logging_prefs)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    return driver


@pytest.fixture
def shots(tmp_path) -> Path:
    """Where a browser test saves its screenshots: SLACKCLONE_SCREENSHOTS, else a
    temporary directory."""
    directory = Path(os.environ.get("SLACKCLONE_SCREENSHOTS") or tmp_path)
    directory.mkdir(parents=True, exist_ok=True)
    return directory
