"""The HTTP handler (slackclone.handlers, issue 13): the middleware chain runs in sync
mode with one thread hop per request, and requests reuse their threads, while every
middleware still answers as before (request id, metrics, envelope, security headers)."""

import asyncio
import json
import threading

import pytest
from asgiref.sync import SyncToAsync
from django.core.signals import request_started

from slackclone.asgi import application
from slackclone.handlers import SyncChainASGIHandler
from tests.helpers import http_scope


async def _request(path: str, headers=()) -> tuple[int, dict, bytes]:
    scope = http_scope("GET", path, headers)
    sent: list[dict] = []
    requested = False
    disconnected = asyncio.Event()

    async def receive():
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await disconnected.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    await application(scope, receive, send)
    disconnected.set()
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], {k.decode().lower(): v.decode() for k, v in start["headers"]}, body


def _http_handler():
    # asgi.application: ProtocolTypeRouter -> RequestLimitsMiddleware -> send_admission -> handler.
    return application.application_mapping["http"]


def test_the_http_application_is_the_sync_chain_handler():
    closure = _http_handler().app
    cells = [c.cell_contents for c in closure.__closure__ or ()]
    assert any(isinstance(c, SyncChainASGIHandler) for c in cells)


def test_a_request_crosses_to_a_thread_at_most_four_times(monkeypatch):
    """request_started, the middleware chain with the view, Django's 4xx log line and
    response.close(): 4 hops for this 401. Django's async chain made ~20 (one per
    MiddlewareMixin hook)."""
    calls = []
    original = SyncToAsync.__call__

    async def counting(self, *args, **kwargs):
        calls.append(getattr(self.func, "__qualname__", repr(self.func)))
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(SyncToAsync, "__call__", counting)
    status, _headers, body = asyncio.run(_request("/api/v1/users/me"))
    assert status == 401
    assert json.loads(body)["error"]["code"] == "not_authenticated"
    assert len(calls) <= 4, calls


def test_every_middleware_still_answers_through_the_asgi_application():
    status, headers, body = asyncio.run(_request("/api/v1/no-such-path", [(b"x-request-id", b"abc-123")]))
    assert status == 404
    assert json.loads(body)["error"]["code"] == "not_found"  # ApiErrorEnvelopeMiddleware
    assert headers["x-request-id"] == "abc-123"  # RequestIdMiddleware
    assert headers["x-frame-options"] == "DENY"  # XFrameOptionsMiddleware
    assert headers["x-content-type-options"] == "nosniff"  # SecurityMiddleware
    from prometheus_client import REGISTRY

    value = REGISTRY.get_sample_value(
        "slackclone_http_request_duration_seconds_count",
        {"method": "GET", "route": "unmatched", "status": "404"},
    )
    assert value and value >= 1  # RequestMetricsMiddleware


@pytest.fixture
def request_threads():
    seen: list[int] = []

    def record(**kwargs):
        seen.append(threading.get_ident())

    request_started.connect(record, dispatch_uid="test_asgi_handler")
    yield seen
    request_started.disconnect(dispatch_uid="test_asgi_handler")


def test_requests_one_after_another_reuse_one_thread(request_threads):
    async def two():
        await _request("/api/v1/no-such-path")
        await _request("/api/v1/no-such-path")

    asyncio.run(two())
    assert len(request_threads) == 2
    assert request_threads[0] == request_threads[1]  # Django's handler: a new thread each
    assert request_threads[0] != threading.get_ident()


def test_requests_in_flight_together_never_share_a_thread(request_threads):
    """Each request in flight has a thread of its own: two requests whose sync code waits
    for the other's both finish (one shared thread would deadlock the barrier)."""
    barrier = threading.Barrier(2, timeout=5)

    def meet(**kwargs):
        barrier.wait()

    request_started.connect(meet, dispatch_uid="test_asgi_handler_barrier")
    try:

        async def both():
            return await asyncio.gather(_request("/api/v1/no-such-path"), _request("/api/v1/no-such-path"))

        results = asyncio.run(both())
    finally:
        request_started.disconnect(dispatch_uid="test_asgi_handler_barrier")
    assert [status for status, _, _ in results] == [404, 404]
    assert len(set(request_threads)) == 2
