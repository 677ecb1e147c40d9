"""MAX_UPLOAD_BYTES is enforced before the body is read past it, also for a body
without Content-Length (chunked): the ASGI layer (slackclone.http_limits) stops reading
at the first chunk past the limit (uvicorn hands the body over as it arrives)."""

import asyncio

import pytest

from slackclone.http_limits import MULTIPART_OVERHEAD_BYTES, RequestLimitsMiddleware

CHUNK = 64 * 1024


def _run(path: str, *, chunks: int, headers=()) -> tuple[list[dict], int]:
    """Drive the middleware with an endless chunked body; return (what was sent, chunks read)."""
    read = 0
    sent: list[dict] = []

    async def receive():
        nonlocal read
        read += 1
        return {"type": "http.request", "body": b"x" * CHUNK, "more_body": read < chunks}

    async def send(message):
        sent.append(message)

    async def app(scope, receive, send):  # reads like Django's ASGIHandler.read_body
        while True:
            message = await receive()
            if message["type"] == "http.disconnect" or not message.get("more_body"):
                break
        if message["type"] != "http.disconnect":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})

    scope = {"type": "http", "method": "POST", "path": path, "raw_path": path.encode(), "headers": list(headers)}
    asyncio.run(RequestLimitsMiddleware(app)(scope, receive, send))
    return sent, read


def test_a_chunked_upload_stops_being_read_past_max_upload_bytes(settings):
    settings.MAX_UPLOAD_BYTES = 1024 * 1024
    sent, read = _run("/api/v1/files", chunks=10_000)
    assert sent[0]["status"] == 413
    assert b"payload_too_large" in sent[1]["body"]
    limit = settings.MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD_BYTES
    assert read == limit // CHUNK + 1  # the first chunk past the limit, not one more


def test_a_chunked_json_body_stops_at_64_kib(settings):
    sent, read = _run("/api/v1/channels", chunks=10_000)
    assert sent[0]["status"] == 413
    assert read == settings.MAX_REQUEST_BODY_BYTES // CHUNK + 1


def test_an_upload_under_the_limit_passes(settings):
    settings.MAX_UPLOAD_BYTES = 1024 * 1024
    sent, read = _run("/api/v1/files", chunks=8)
    assert sent[0]["status"] == 200 and read == 8


@pytest.mark.parametrize(
    ("path", "length", "status"),
    [("/api/v1/files", 2_000_000, 413), ("/api/v1/files", 900_000, 200), ("/api/v1/channels", 70_000, 413)],
)
def test_a_declared_length_is_refused_before_reading(settings, path, length, status):
    settings.MAX_UPLOAD_BYTES = 1024 * 1024
    sent, read = _run(path, chunks=1, headers=[(b"content-length", str(length).encode())])
    assert sent[0]["status"] == status
    assert read == (0 if status == 413 else 1)
