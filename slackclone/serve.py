"""The server process: uvicorn serving slackclone.asgi, as every deployment runs it.

    python -m slackclone.serve [--host 127.0.0.1] [--port 8000]

`make run`, `make serve`, the Docker image (HOST 0.0.0.0, PORT), slackclone.devserver
(the end-to-end tests) and the benchmarks all start the server with this module, so
its options are written once, here. One process serves one port; run N of them (N
containers, or N `make serve PORT=...`) for N cores.

Why uvicorn (issue 13, section 3; docs/performance.md, session 7): on this code it
writes a WebSocket frame with about half daphne's CPU (40-45 against 75-90 us a frame)
and gave the fan-out's p99 of a bare broadcaster. The options:

- HTTP: uvicorn's httptools protocol with our request limits (slackclone.http_limits
  `HttpProtocol`: over-long heads and unparsable requests answer the API's envelope);
  the event loop: uvloop.
- WebSockets: uvicorn's `websockets-sansio`; no permessage-deflate (a zlib context per
  socket costs about 100 KiB and a compression of every frame per socket); frames over
  `WS_CLOSE_FRAME_BYTES` (1 MiB) close the connection with 1009, and frames under it
  but over `WS_MAX_FRAME_BYTES` get an `error` frame from the application (realtime).
  Keepalive pings every 20 s; a peer that does not answer one in 30 s is dropped.
  `WebSocketProtocol` (uvicorn's, with three changes): the frames one pass of the
  realtime fan-out writes to a socket go out in one write (slackclone.transports
  `CoalescingTransport`: a hot conversation's batch is several frames per socket);
  closing a socket whose client stopped reading waits for the backed-up writes only
  CLOSE_FLUSH_SECONDS, then drops the connection (uvicorn would wait forever: the ping
  timeout, the close handshake's timeout and SIGTERM would never free the socket, its
  consumer would never run its disconnect, and the frames queued for it would grow
  without bound); and the websockets library's DEBUG log of every handshake header (the
  Authorization header, the ticket) and every frame is off.
- Idle keep-alive connections are kept TIMEOUT_KEEP_ALIVE_SECONDS (uvicorn's default is
  5 s): longer than the reverse proxies in front keep theirs idle (nginx's upstream
  keepalive: 60 s, Caddy's: 2 min), else a proxy's request on a connection the server is
  closing at that moment is lost (a 502 for a POST, which proxies do not retry).
- No access log: the application logs every request itself (slackclone.request_id: JSON
  with LOG_FORMAT=json, with its request id), and a WebSocket handshake's query string
  carries a ticket. No proxy headers: the client address is the TCP peer, and the
  application reads X-Forwarded-For itself, only through NUM_PROXIES proxies
  (docs/deployment.md). No `server` header.
- Logging is Django's (settings.LOGGING), uvicorn's own loggers included, except
  uvicorn's line per WebSocket handshake (`"WebSocket /ws/v1/?ticket=..." [accepted]`,
  at INFO: it carries the ticket) and websockets' "connection open/closed":
  `WebSocketLogFilter` drops them (the application logs each socket it accepts).
- SIGTERM: uvicorn stops accepting, closes every WebSocket with 1012 (service restart:
  clients reconnect elsewhere), and waits up to SHUTDOWN_GRACE_SECONDS for requests in
  flight before it cancels them.
"""

import argparse
import logging
import os
import socket
import struct

import uvicorn
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from slackclone.transports import CoalescingTransport

APP = "slackclone.asgi:application"
WS_CLOSE_FRAME_BYTES = 1024 * 1024
SHUTDOWN_GRACE_SECONDS = 8  # under docker stop's 10 s and slackclone.devserver's
TIMEOUT_KEEP_ALIVE_SECONDS = 130  # over Caddy's 2 min and nginx's 60 s of upstream keep-alive


class WebSocketLogFilter(logging.Filter):
    """settings.LOGGING's filter on the "uvicorn.error" logger: drops its per-WebSocket
    INFO lines (the module docstring); everything else, warnings and errors of
    WebSockets included, passes."""

    DROPPED = ("connection open", "connection closed")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg
        if record.levelno > logging.INFO or not isinstance(message, str):
            return True
        return not (message.startswith('%s - "WebSocket %s"') or message in self.DROPPED)


class WebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's `websockets-sansio` protocol, whose writes of one fan-out pass are
    coalesced (`CoalescingTransport`), whose connection, once closed, is dropped
    (aborted: the unsent data discarded) if it has not ended CLOSE_FLUSH_SECONDS later, and
    whose websockets protocol logs nothing at DEBUG (the module docstring says why)."""

    CLOSE_FLUSH_SECONDS = 5.0  # under SHUTDOWN_GRACE_SECONDS: the disconnect runs before the process exits

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.conn.debug = False  # its "< authorization: Bearer ...", "< GET /ws/v1/?ticket=..."

    def connection_made(self, transport) -> None:
        self._abort_timer = None
        super().connection_made(CoalescingTransport(transport, close=self._close_bounded, loop=self.loop))

    def _close_bounded(self) -> None:
        """The transport's close (which waits for the write buffer to drain), made an
        abort with a reset if the connection is still there CLOSE_FLUSH_SECONDS later:
        a client that reads nothing never drains it (daphne's Twisted aborted such a
        connection too, at its ping timeout)."""
        self.transport.flush()
        self.transport.wrapped.close()
        if self._abort_timer is None and not self.disconnected:
            self._abort_timer = self.loop.call_later(self.CLOSE_FLUSH_SECONDS, self._abort_if_open)

    def _abort_if_open(self) -> None:
        if self.disconnected:
            return
        transport = self.transport.wrapped
        sock = transport.get_extra_info("socket")
        if sock is not None:  # a reset: the kernel drops the unsent data too, at once
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()


def options(host: str, port: int, *, ws_ping_interval: float = 20.0) -> dict:
    """uvicorn.run's keyword arguments for slackclone (the module docstring says why)."""
    return {
        "host": host,
        "port": port,
        "loop": "uvloop",
        "http": "slackclone.http_limits:HttpProtocol",
        "ws": "slackclone.serve:WebSocketProtocol",
        "ws_max_size": WS_CLOSE_FRAME_BYTES,
        "ws_per_message_deflate": False,
        "ws_ping_interval": ws_ping_interval,
        "ws_ping_timeout": 30.0,
        "lifespan": "off",
        "access_log": False,
        "log_config": None,
        "proxy_headers": False,
        "server_header": False,
        "timeout_graceful_shutdown": SHUTDOWN_GRACE_SECONDS,
        "timeout_keep_alive": TIMEOUT_KEEP_ALIVE_SECONDS,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m slackclone.serve", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--ws-ping-interval", type=float, default=20.0, help="seconds between keepalive pings")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "slackclone.settings")
    uvicorn.run(APP, **options(args.host, args.port, ws_ping_interval=args.ws_ping_interval))


if __name__ == "__main__":
    main()
