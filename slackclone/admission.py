"""Admission control of REST sends: a hot conversation sheds at the door.

A REST send costs this process about 10 ms of CPU before it reaches the
conversation's group commit (HTTP, authentication, throttle, membership), and its
fan-out costs the event loop one frame per connected member; a process runs Python on
one core. Without a bound, a conversation offered more sends than the process can serve
queues them all: every answer and every frame (other conversations' too) then waits
behind that queue, clients time out, and the work done for them is wasted, so the
accepted rate FALLS as the offered rate rises (issue 13, section 2).

This ASGI middleware counts, per conversation, the REST sends (`POST
.../channels/<id>/messages`, `.../dms/<id>/messages`, `.../group-dms/<id>/messages`;
thread replies included, as they are sent there) in flight in this process,
and watches the lag of the process's event loop (how late a 50 ms timer fires). A send
is answered at once with 429 `conversation_busy` and `Retry-After: 1`, before Django
runs (nothing stored; a client retries later with the same client_msg_id), when

- its conversation already has `SEND_INFLIGHT_MAX` sends in flight here, or
- the loop lags more than `SEND_SHED_LAG_MS` and its conversation already has a send
  in flight here: under overload the hot conversations are shed, a conversation's
  first send still goes through.

The sends let in still form full batches (the group commit), and every answer and
frame comes in bounded time. Counted on the event loop's thread: no lock needed.

Optionally (`SEND_CONCURRENCY_MAX` > 0; off by default), at most that many of a
conversation's sends run in Django at once (issue 13, section 2, session 5): the
others wait here, on the event loop, in arrival order (an asyncio future each: no
thread, no CPU), and one that waited `SEND_ADMIT_WAIT_MS`
without getting a turn is shed like the above. Each send in Django is a thread that
competes for the process's GIL; 64 of one hot conversation starved every other
request of the process (and the loop writing the frames) of its turns, so another
conversation's send waited behind them. A send gives its turn back as soon as it joins
its conversation's group-commit queue (`turn_release`, called by messaging.services
from the request's thread): from then on it waits for its batch without using CPU, so
the bound limits the sends doing work, not the size of the batches. Measured
(docs/performance.md): with 8, another conversation's p99 under a saturated one fell
2.5-3x, but one process's throughput into the hot conversation fell by up to a third
(smaller batches, turns handed over late by a lagging loop), so it is off by default.
"""

import asyncio
import contextlib
import json
import re
from collections import deque
from contextvars import ContextVar
from dataclasses import dataclass, field

from django.conf import settings

_SEND_PATH = re.compile(r"/(channels|dms|group-dms)/([0-9A-Fa-f-]{32,36})/messages/?$")
_TICK = 0.05  # seconds between two looks at the loop's lag


# The admitted send's "give my turn back" (thread-safe), seen by the request's threads.
_turn_release: ContextVar = ContextVar("slackclone_admission_turn_release", default=None)


def turn_release() -> None:
    """From the thread of an admitted REST send: it no longer does work (it joined its
    conversation's group-commit queue and waits), so its turn at the door goes to the
    next waiting send of that conversation. Once per send; a no-op outside one (a
    WebSocket send, a test, the bound switched off)."""
    release = _turn_release.get()
    if release is not None:
        release()


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


@dataclass(eq=False, slots=True)
class _Turns:
    """One conversation's sends running in Django, and those waiting for a turn."""

    running: int = 0
    waiting: deque = field(default_factory=deque)  # futures, oldest first

    async def take(self, limit: int, wait_seconds: float) -> bool:
        """Wait for one of `limit` turns; False (not taken) after `wait_seconds`."""
        if limit <= 0 or (self.running < limit and not self.waiting):
            self.running += 1
            return True
        turn = asyncio.get_running_loop().create_future()
        self.waiting.append(turn)
        try:
            async with asyncio.timeout(wait_seconds):
                await turn
        except TimeoutError:
            if turn.done() and not turn.cancelled():  # handed over just as the time ran out
                return True
            self._forget(turn)
            return False
        except BaseException:
            if turn.done() and not turn.cancelled():
                self.give_back()  # handed over, then cancelled: pass the turn on
            else:
                self._forget(turn)
            raise
        return True  # the turn was handed over by `give_back`: `running` already counts it

    def _forget(self, turn: asyncio.Future) -> None:
        with contextlib.suppress(ValueError):  # `give_back` may have dropped it (cancelled) already
            self.waiting.remove(turn)

    def give_back(self) -> None:
        """A send left Django: hand its turn to the oldest waiting send, if any."""
        while self.waiting:
            turn = self.waiting.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self.running -= 1


def _once(function):
    done = False

    def once() -> None:
        nonlocal done
        if not done:
            done = True
            function()

    return once


def _threadsafe(function):
    loop = asyncio.get_running_loop()

    def from_any_thread() -> None:
        loop.call_soon_threadsafe(function)

    return from_any_thread


def send_admission(app):
    """Wrap the HTTP ASGI app (slackclone.asgi)."""
    in_flight: dict[str, int] = {}
    turns: dict[str, _Turns] = {}
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
        mine = turns.get(key)
        if mine is None:
            mine = turns[key] = _Turns()
        try:
            limit = settings.SEND_CONCURRENCY_MAX
            if not await mine.take(limit, settings.SEND_ADMIT_WAIT_MS / 1000):
                return await shed(send)
            give_back = _once(mine.give_back)
            token = _turn_release.set(_threadsafe(give_back) if limit > 0 else None)
            try:
                return await app(scope, receive, send)
            finally:
                _turn_release.reset(token)
                give_back()
        finally:
            if in_flight[key] <= 1:
                del in_flight[key]
                if not mine.running and not mine.waiting:
                    turns.pop(key, None)
            else:
                in_flight[key] -= 1

    return admission
