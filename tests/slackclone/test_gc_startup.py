"""The served process's garbage collector (slackclone.gc_startup, issue 13 section 3):
what the process loads once is frozen out of full collections before it serves, and the
young generation is larger. Checked in a fresh interpreter that imports the ASGI module
as daphne does (the test process itself imported it long ago, among other things)."""

import json
import os
import subprocess
import sys
from pathlib import Path

from slackclone import gc_startup

ROOT = Path(__file__).resolve().parents[2]

_PROBE = """
import gc, json
import slackclone.asgi
print(json.dumps({
    "frozen": gc.get_freeze_count(),
    "tracked": len(gc.get_objects()),
    "threshold": gc.get_threshold(),
    "views_loaded": "messaging.apis" in __import__("sys").modules,
}))
"""


def test_serving_the_asgi_module_freezes_what_it_loaded_and_raises_the_young_threshold():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "slackclone.settings"}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True
    )
    state = json.loads(out.stdout.strip().splitlines()[-1])
    # Everything Django, DRF, Channels and the project loaded (~160,000 objects) is out
    # of the collector's sight: a full collection walks only what the process creates
    # from now on, a small fraction.
    assert state["frozen"] > 50_000
    assert state["tracked"] < state["frozen"] / 10
    assert state["views_loaded"]  # the URLconf was loaded before freezing, not on the first request
    assert tuple(state["threshold"]) == (
        gc_startup.YOUNG_GENERATION_THRESHOLD,
        gc_startup.OLDER_GENERATIONS_THRESHOLD,
        gc_startup.OLDER_GENERATIONS_THRESHOLD,
    )
