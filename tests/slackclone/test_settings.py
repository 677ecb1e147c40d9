import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_production_settings_pass_check_deploy_without_warnings():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "slackclone.settings",
        "DEBUG": "false",
        "SECRET_KEY": "x" * 64 + "-a-long-random-production-secret",
        "ALLOWED_HOSTS": "chat.example.com",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_production_refuses_to_start_without_a_secret_key():
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env.update(DJANGO_SETTINGS_MODULE="slackclone.settings", DEBUG="false", ALLOWED_HOSTS="chat.example.com")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )

    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_postgresql_connections_are_never_kept_by_a_thread():
    """Regression (soak): under ASGI each request runs in its own thread; a kept
    connection (CONN_MAX_AGE > 0) outlives its thread and idle connections piled up to
    PostgreSQL's max_connections ("too many clients", 503s). Connections are reused
    through the pool instead (tests/slackclone/test_db_pool.py)."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "slackclone.settings"}
    result = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings as s; print(s.DATABASES['default']['CONN_MAX_AGE'])"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )

    assert result.stdout.strip() == "0"
