"""A uvicorn transport with its own `close()`: what both of our protocols need.

uvicorn's HTTP and WebSocket protocols close their connection by calling
`transport.close()`, which waits for the write buffer to drain, then ends the
connection. Two of our rules change only that call:
- slackclone.http_limits `HttpProtocol`: a refusal answered before its request was read
  to its end closes lingering (as nginx does), so that the client reads the answer;
- slackclone.serve `WebSocketProtocol`: a socket whose client reads nothing is dropped
  CLOSE_FLUSH_SECONDS after it was closed, instead of waiting for it forever.

So each wraps the real transport in a `ClosingTransport` with its own close, and leaves
everything else to the real one.
"""

from collections.abc import Callable


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
