"""Uploads stream: a 25 MiB upload through the ASGI application (Django's handler, our
middleware, the multipart parser with files.uploads, storage) allocates a few MiB of
Python memory at its peak, not the file's size (docs/files.md, "Memory")."""

import asyncio
import os
import tracemalloc

import pytest

from files.models import File
from tests.conftest import token_for
from tests.helpers import http_scope

pytestmark = pytest.mark.django_db(transaction=True)

MIB = 1024 * 1024


def test_a_25_mib_upload_never_holds_the_file_in_memory(alice):
    from slackclone.asgi import application

    head = b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n\r\n'
    tail = b"\r\n--XyZ--\r\n"
    block = os.urandom(64 * 1024)
    blocks = 25 * MIB // len(block)
    length = len(head) + blocks * len(block) + len(tail)
    token = token_for(alice)

    def chunks():
        yield head
        for _ in range(blocks):
            yield block
        yield tail

    async def run():
        source, ended, sent = chunks(), asyncio.Event(), []

        async def receive():
            if ended.is_set():
                await asyncio.Event().wait()  # the client stays connected
            try:
                return {"type": "http.request", "body": next(source), "more_body": True}
            except StopIteration:
                ended.set()
                return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            sent.append(message)

        headers = [
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-type", b"multipart/form-data; boundary=XyZ"),
            (b"content-length", str(length).encode()),
        ]
        scope = http_scope("POST", "/api/v1/files", headers)
        await application(scope, receive, send)
        return sent

    tracemalloc.start()
    try:
        sent = asyncio.run(run())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sent[0]["status"] == 201, sent
    assert File.objects.get().size == blocks * len(block)
    assert peak < 12 * MIB, f"peak {peak / MIB:.1f} MiB"
