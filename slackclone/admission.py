"""Admission control of REST sends: a hot conversation sheds at the door.

A REST send costs this process about 10 ms of CPU before it reaches the
conversation's group commit (HTTP, authentication, throttle, membership), and its
fan-out costs the event loop one frame per connected member; a process runs Python on
one core. Without a bound, a conversation offered more sends than the process can serve
queues them all: every answer and every frame (other conversations' too) then waits
behind that queue, clients time out, and the work done for them is wasted, so the
accepted rate FALLS as the offered rate rises (issue 13, section 2).

This ASGI middleware counts, per conversation, the REST sends (`POST
.../channels/<id>/messages`, `POST .../dms/<id>/messages`) in flight in this process,
and watches the lag of the process's event loop (how late a 50 ms timer fires). A send
is answered at once with 429 `conversation_busy` and `Retry-After: 1`, before Django
runs (nothing stored; a client retries later with the same client_msg_id), when

- its conversation already has `SEND_INFLIGHT_MAX` sends in flight here, or
- the loop lags more than `SEND_SHED_LAG_MS` and its conversation already has a send
  in flight here: under overload the hot conversations are shed, a conversation's
  first send still goes through.

The sends let in still form full batches (the group commit), and every answer and
frame comes in bounded time. Counted on the event loop's thread: no lock needed.
"""

import asyncio
import json
import re

from django.conf import settings

_SEND_PATH = re.compile(r"/(channels|dms)/([0-9A-Fa-f-]{32,36})/messages/?$")
_TICK = 0.05  # seconds between two looks at the loop's lag


def _busy_body() -> bytes:
    error = {
        "code": "conversation_busy",
        "message": "Too many messages are being sent to this conversation; try again shortly.",
        "retry_after": 1,
    }
    return json.dumps({"error": error}).encode()


class _LoopLag:
    """How late the last timer of the event loop fired, in ms (0 until measured)."""

    def __init__(self):
        self.ms = 0.0
        self.task: asyncio.Task | None = None

    def ensure_running(self) -> None:
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(_TICK)
            self.ms = max(0.0, (loop.time() - started - _TICK) * 1000)


def send_admission(app):
    """Wrap the HTTP ASGI app (slackclone.asgi)."""
    in_flight: dict[str, int] = {}
    lag = _LoopLag()
    body = _busy_body()

    async def shed(send) -> None:
        headers = [
            (b"content-type", b"application/json"),
            (b"retry-after", b"1"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 429, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def admission(scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "POST":
            return await app(scope, receive, send)
        match = _SEND_PATH.search(scope.get("path", ""))
        if match is None:
            return await app(scope, receive, send)
        lag.ensure_running()
        key = match.group(1) + match.group(2).lower().replace("-", "")
        count = in_flight.get(key, 0)
        if count >= settings.SEND_INFLIGHT_MAX or (count and lag.ms > settings.SEND_SHED_LAG_MS):
            return await shed(send)
        in_flight[key] = count + 1
        try:
            return await app(scope, receive, send)
        finally:
            if in_flight[key] <= 1:
                del in_flight[key]
            else:
                in_flight[key] -= 1

    return admission
