"""A server process gives the memory of decoded images back (slackclone.malloc_tuning)."""

import sys
from pathlib import Path

import pytest

from tests.helpers import image_script_result

ROOT = Path(__file__).resolve().parents[2]

_SCRIPT = """
import io, os, sys, threading
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "slackclone.settings")
import slackclone.asgi  # what a server process imports first
from files import images

def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

data = open(sys.argv[1], "rb").read()
before = rss()
for _ in range(2):  # 12 thumbnails, made by 6 request threads at once
    threads = [
        threading.Thread(target=images.inspect_image, args=(io.BytesIO(data),), kwargs={"mime_type": "image/png"})
        for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
print(rss() - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc, /proc")
def test_a_server_process_gives_freed_images_memory_back(tmp_path):
    """Pillow's 16 MB blocks came from glibc's arenas once its mmap threshold had risen,
    and stayed in the process: 133 MiB more RSS for good after 12 thumbnails of a 6300 x
    6300 PNG (416 MB in a server). Now the RSS comes back to within a few MiB."""
    retained = image_script_result(tmp_path, side=6300, script=_SCRIPT, timeout=300)
    assert retained < 40, f"{retained:.0f} MiB of RSS kept after the thumbnails"
