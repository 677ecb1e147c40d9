"""The production settings keep the files' storage (FILES_ROOT or STORAGE_URL) beside the
static files' storage: a later STORAGES assignment once replaced it, so uploads went to
the server's working directory and STORAGE_URL was ignored (the test settings, which set
the location again, hid it)."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHOW = "import django, json; django.setup(); from django.conf import settings; print(json.dumps(settings.STORAGES))"


def production_storages(**env) -> dict:
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "slackclone.settings", **env}
    for name in ("STORAGE_URL", "FILES_ROOT"):
        if name not in env:
            environment.pop(name, None)
    out = subprocess.run([sys.executable, "-c", SHOW], cwd=ROOT, env=environment, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_uploads_go_under_files_root_and_static_files_are_hashed(tmp_path):
    storages = production_storages(FILES_ROOT=str(tmp_path))

    assert storages["default"]["OPTIONS"]["location"] == str(tmp_path)
    assert storages["staticfiles"]["BACKEND"] == "webclient.storage.StaticFilesStorage"


def test_storage_url_selects_s3():
    storages = production_storages(STORAGE_URL="s3://key:secret@127.0.0.1:9/bucket")

    assert storages["default"]["BACKEND"] == "storages.backends.s3.S3Storage"
