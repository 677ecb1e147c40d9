"""uvicorn transports with our own `close()`, and the fan-out's coalesced writes.

uvicorn's HTTP and WebSocket protocols close their connection by calling
`transport.close()`, which waits for the write buffer to drain, then ends the
connection. Two of our rules change only that call:
- slackclone.http_limits `HttpProtocol`: a refusal answered before its request was read
  to its end closes lingering (as nginx does), so that the client reads the answer;
- slackclone.serve `WebSocketProtocol`: a socket whose client reads nothing is dropped
  CLOSE_FLUSH_SECONDS after it was closed, instead of waiting for it forever.

So each wraps the real transport in a `ClosingTransport` with its own close, and leaves
everything else to the real one. The WebSocket protocol's is a `CoalescingTransport`,
which also holds the writes made inside `coalesced_writes()` (the realtime fan-out's
pass) and sends each socket's as one write at its end.
"""

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Callable

logger = logging.getLogger(__name__)


class ClosingTransport:
    """`transport` in everything but `close()`, which calls `close` instead.

    The calls made for every frame or chunk in or out (`write`, `is_closing`,
    `pause_reading`, `resume_reading`) are bound once here; anything else is looked up
    on the wrapped transport (`__getattr__`, only reached for names not set here)."""

    def __init__(self, transport, *, close: Callable[[], None]) -> None:
        self.wrapped = transport
        self.close = close
        self.write = transport.write
        self.is_closing = transport.is_closing
        self.pause_reading = transport.pause_reading
        self.resume_reading = transport.resume_reading

    def __getattr__(self, name: str):
        return getattr(self.wrapped, name)


class _Flusher:
    """The sockets of one event loop written to inside `coalesced_writes()`, flushed
    when the outermost block ends. Holds no reference to its loop (the key of
    `_flushers`), so a finished loop is freed."""

    __slots__ = ("corked", "due")

    def __init__(self) -> None:
        self.due: list[CoalescingTransport] = []
        self.corked = 0

    def flush(self) -> None:
        due, self.due = self.due, []
        for transport in due:
            transport.flush()


_flushers: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _flusher_of(loop) -> _Flusher:
    flusher = _flushers.get(loop)
    if flusher is None:
        flusher = _flushers[loop] = _Flusher()
    return flusher


@contextlib.contextmanager
def coalesced_writes():
    """Inside the block, writes to this event loop's `CoalescingTransport`s are held;
    when the (outermost) block ends, each socket's go out as one write, in order.

    For the realtime fan-out (realtime.layers `_deliver_all`): one pass over what was
    read from Redis writes each message's frame to every socket of its conversation,
    and a hot conversation's batch (the group commit) is several messages, so a socket
    gets several frames in one pass. Call it on the event loop; outside a server that
    uses `CoalescingTransport` (daphne, tests) it changes nothing."""
    flusher = _flusher_of(asyncio.get_running_loop())
    flusher.corked += 1
    try:
        yield
    finally:
        flusher.corked -= 1
        if not flusher.corked:
            flusher.flush()


class CoalescingTransport(ClosingTransport):
    """A `ClosingTransport` whose writes made inside `coalesced_writes()` go out as ONE
    write of the real transport (one `send` system call) per socket when the block
    ends, in the order they were made. Outside such a block a write goes straight
    through, as without this class.

    Why (issue 13, sections 2 and 3; docs/performance.md, session 9): at concurrency 16
    into one conversation, one system call per frame per socket was a fifth of the
    server's GIL time (py-spy: `WebSocketsSansIOProtocol.send`'s own time, uvloop
    writing at once); a socket's frames of one fan-out pass now cost one.

    - Flow control stays the real transport's: once FLUSH_BYTES are pending they are
      written at once, so a client that reads nothing still makes the real transport
      call `pause_writing` (uvloop's high-water mark is 64 KiB) during the pass, and the
      protocol's sends wait, as without coalescing.
    - `flush()` writes what is pending now; the WebSocket protocol calls it before it
      closes the connection, so the close frame and everything before it go out first
      (`write_eof` flushes first too).
    - After `abort()`, or once the connection is lost, what is pending is dropped, as
      the real transport drops its unsent buffer.
    - A write the real transport refuses (an exception) aborts the connection: a
      socket must not stay open with a frame missing (the client reconnects and
      catches up with `after_cursor`); the other sockets' frames still go out.
    """

    FLUSH_BYTES = 64 * 1024

    def __init__(self, transport, *, close: Callable[[], None], loop) -> None:
        super().__init__(transport, close=close)
        self._pending: list[bytes] | None = None
        self._pending_bytes = 0
        self._flusher = _flusher_of(loop)
        self.write = self._write

    def _write(self, data: bytes) -> None:
        if not self._flusher.corked:  # nothing is pending outside a block: its end flushed it
            self._send(data)
            return
        if self._pending is None:
            self._pending = []
            self._flusher.due.append(self)
        self._pending.append(data)
        self._pending_bytes += len(data)
        if self._pending_bytes >= self.FLUSH_BYTES:
            self.flush()

    def writelines(self, chunks) -> None:
        for data in chunks:
            self._write(data)

    def write_eof(self) -> None:
        self.flush()
        self.wrapped.write_eof()

    def flush(self) -> None:
        pending, self._pending, self._pending_bytes = self._pending, None, 0
        if pending:
            self._send(pending[0] if len(pending) == 1 else b"".join(pending))

    def _send(self, data: bytes) -> None:
        if self.wrapped.is_closing():
            return
        try:
            self.wrapped.write(data)
        except Exception:
            logger.exception("a coalesced write failed: the connection is aborted")
            self.wrapped.abort()
