"""`make help` lists every target of the Makefile, each with a description."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_make_help_lists_every_target():
    makefile = (ROOT / "Makefile").read_text()
    targets = {m.group(1) for m in re.finditer(r"^([a-z][a-z_-]*):", makefile, re.MULTILINE)}
    phony = set(" ".join(re.findall(r"^\.PHONY:(.*)$", makefile.replace("\\\n", " "), re.MULTILINE)).split())

    listed = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    described = {line.split()[0] for line in listed.splitlines()[1:] if line.startswith("  ")}

    assert targets >= {"run", "test", "help", "status", "clean-data", "screenshots", "browser"}
    assert targets == described, targets ^ described
    assert targets <= phony
