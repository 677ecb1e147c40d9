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


async def _chunked(path: str, body: bytes, *, token: str, content_type: str) -> tuple[int, dict]:
    """POST `body` through the real ASGI application in 1 kB chunks, without
    Content-Length (as curl -H 'Transfer-Encoding: chunked' and HTTP/2 clients send)."""
    import json

    from slackclone.asgi import application
    from tests.helpers import http_scope

    headers = [
        (b"authorization", f"Bearer {token}".encode()),
        (b"content-type", content_type.encode()),
        (b"transfer-encoding", b"chunked"),
    ]
    scope = http_scope("POST", path, headers)
    pieces = [body[i : i + 1024] for i in range(0, len(body), 1024)]
    sent: list[dict] = []
    done = asyncio.Event()

    async def receive():
        if pieces:
            return {"type": "http.request", "body": pieces.pop(0), "more_body": bool(pieces)}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    await application(scope, receive, send)
    done.set()
    status = next(m for m in sent if m["type"] == "http.response.start")["status"]
    return status, json.loads(b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"))


@pytest.mark.django_db(transaction=True)
def test_a_chunked_upload_and_a_chunked_json_send_are_read_not_taken_for_empty(make_user):
    """Django's multipart parser and DRF's parsers read CONTENT_LENGTH: a body sent
    chunked (no Content-Length) was taken for an empty one. The upload answered 400
    "Give the file in a part named `file`" and a JSON send 400 "content: required"."""
    from channels_app.models import Channel, ChannelMember
    from tests.conftest import token_for

    alice = make_user("alice")
    token = token_for(alice)
    boundary = "b0undary"
    data = b"chunked bytes\n" * 500
    multipart = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="c.txt"\r\n'
            "Content-Type: text/plain\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    status, body = asyncio.run(
        _chunked("/api/v1/files", multipart, token=token, content_type=f"multipart/form-data; boundary={boundary}")
    )
    assert status == 201, body
    assert body["size"] == len(data) and body["name"] == "c.txt"

    channel = Channel.objects.create(name="chunked", created_by=alice)
    ChannelMember.objects.create(channel=channel, user=alice)
    status, body = asyncio.run(
        _chunked(
            f"/api/v1/channels/{channel.pk}/messages",
            b'{"content": "sent in chunks"}',
            token=token,
            content_type="application/json",
        )
    )
    assert status == 201, body
    assert body["content"] == "sent in chunks"
