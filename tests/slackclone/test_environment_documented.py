"""Every variable the settings read is in docs/deployment.md's environment table."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_read_from_the_environment_is_documented():
    settings = (ROOT / "slackclone/settings.py").read_text()
    read = set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]*)"', settings))
    table = (ROOT / "docs/deployment.md").read_text().split("## Environment", 1)[1]
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]*)`", table))

    assert read, "no variables found: the pattern is stale"
    assert read - documented == set()
