"""Image decoding under load (files.images): memory per decode, decodes at once."""

import io
import threading
import time
from pathlib import Path

import pytest

from files import images
from tests.files.conftest import image_bytes, upload
from tests.helpers import image_script_result

ROOT = Path(__file__).resolve().parents[2]

_PEAK_SCRIPT = """
import io, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "slackclone.settings")
import django
django.setup()
from files import images

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024

data = open(sys.argv[1], "rb").read()
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")  # VmHWM (peak RSS) := the RSS now
before = status("VmRSS")
info = images.inspect_image(io.BytesIO(data), mime_type="image/png")
assert info is not None and (info.width, info.height) == (4000, 4000), info
print(status("VmHWM") - before)
"""


def test_an_image_is_decoded_once_not_copied_three_more_times(tmp_path):
    """A 4000 x 4000 RGBA PNG of one colour is a 70 kB upload and 61 MiB decoded. Its
    thumbnail was made from a copy, "transposed" into another copy and converted into
    a third, which resize copied once more into premultiplied alpha: 248 MiB of peak
    RSS for one upload. Now the decoded image and the thumbnail's bands: 72-76 MiB."""
    decoded_mib = 4000 * 4000 * 4 / 2**20
    peak_mib = image_script_result(tmp_path, side=4000, script=_PEAK_SCRIPT, timeout=120)
    assert peak_mib < 1.5 * decoded_mib, f"{peak_mib:.0f} MiB of peak RSS for {decoded_mib:.0f} MiB of pixels"


def _slow_open(monkeypatch, *, gate: threading.Event | None = None, pause: float = 0.0):
    """Make every decode hold its turn: wait for `gate`, or `pause` seconds. Returns the
    list of how many decodes were running each time one started."""
    running, seen, lock = [0], [], threading.Lock()
    real_open = images._open

    def slow(fh):
        with lock:
            running[0] += 1
            seen.append(running[0])
        try:
            if gate is not None:
                gate.wait(10)
            time.sleep(pause)
            return real_open(fh)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(images, "_open", slow)
    return seen


def test_at_most_files_image_decodes_run_at_once(settings, monkeypatch):
    """20 parallel uploads of such an image asked for 20 decoded images at once (12 GB
    for 6300 x 6300): a process now decodes FILES_IMAGE_DECODES at a time."""
    settings.FILES_IMAGE_DECODES = 2
    seen = _slow_open(monkeypatch, pause=0.15)
    png = image_bytes("PNG", size=(50, 50))
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(images.inspect_image(io.BytesIO(png), mime_type="image/png")))
        for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 6 and all(info is not None for info in results)
    assert max(seen) == 2, seen


@pytest.mark.django_db(transaction=True)
def test_an_upload_that_waits_too_long_for_a_turn_is_429(settings, monkeypatch, client_for, alice):
    from django.db import connection

    from files.models import File

    settings.FILES_IMAGE_DECODES = 1
    settings.FILES_IMAGE_DECODE_WAIT_SECONDS = 0.2
    gate = threading.Event()
    seen = _slow_open(monkeypatch, gate=gate)
    png = image_bytes("PNG", size=(50, 50))
    first = []

    def hold():
        try:
            first.append(upload(client_for(alice), png, name="first.png"))
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        deadline = time.monotonic() + 10
        while not seen and time.monotonic() < deadline:  # until the first upload decodes (its turn taken)
            time.sleep(0.01)
        response = upload(client_for(alice), png, name="second.png")
    finally:
        gate.set()
        holder.join()
    assert response.status_code == 429, response.content
    assert response.json()["error"]["code"] == "images_busy" and response["Retry-After"] == "2"
    assert first[0].status_code == 201
    assert list(File.objects.values_list("name", flat=True)) == ["first.png"]
