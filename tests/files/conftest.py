"""Fixtures of the files tests: uploads through the API and images made with Pillow
(tests/conftest.py empties the storage directory before each test)."""

import io

import pytest
from PIL import Image


def upload(client, data: bytes, name: str = "notes.txt", content_type: str = "application/octet-stream"):
    """POST /files with one `file` part; returns the response."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(
        "/api/v1/files", {"file": SimpleUploadedFile(name, data, content_type=content_type)}, format="multipart"
    )


def image_bytes(fmt: str = "PNG", size=(64, 48), mode: str = "RGB", **save) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color="red" if mode in ("RGB", "RGBA") else None).save(out, fmt, **save)
    return out.getvalue()


def exif_with_gps() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "Camera Maker"  # Make
    exif[0x0112] = 1  # Orientation
    gps = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}
    exif[0x8825] = gps  # GPSInfo
    return exif


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.fixture
def make_channel(make_user):
    from channels_app.models import Channel, ChannelMember

    counter = iter(range(1, 1_000_000))

    def make(*members, name: str | None = None):
        channel = Channel.objects.create(name=name or f"files-{next(counter)}", created_by=members[0])
        for user in members:
            ChannelMember.objects.create(channel=channel, user=user)
        return channel

    return make
