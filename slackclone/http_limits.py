"""Request-line and header limits, answered with the API's error envelope (issue 12).

Three layers, so that every over-long or unparsable request gets JSON, whatever its size:

1. `RequestLimitsMiddleware` (ASGI, in front of Django, any ASGI server): a request
   target (path and query string, as sent) over `MAX_URL_BYTES` answers 414
   `uri_too_long`; header fields over `MAX_HEADER_BYTES` in total (names and values)
   or more than `MAX_HEADERS` of them answer 431 `headers_too_large`; a declared
   `Content-Length` over `MAX_REQUEST_BODY_BYTES` answers 413 `payload_too_large`
   before the body is read (Django's ASGI handler reads it all before any middleware),
   and a body without one (chunked) as soon as what was received passes the limit.
2. `HttpProtocol`, the HTTP protocol of the server (slackclone.serve: uvicorn's
   httptools protocol). httptools itself has no limit on a request's head: it would
   buffer a header of any size. Past `SERVER_LIMIT_FACTOR` times our limits the
   protocol stops reading and answers 414 or 431 itself; anything httptools cannot
   parse answers 400 `bad_request`; all as envelopes (uvicorn's own answer is a
   plain-text 400), then it closes the connection. Below that factor, layer 1 answers.
3. An exception that escapes the application before it answered (Django answers its
   own; this is for the ASGI middlewares around it) answers 500 `server_error` as an
   envelope under /api/ (uvicorn's own answer is a plain-text 500), and is logged.
"""

import json
import logging

from django.conf import settings
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from slackclone.transports import ClosingTransport

logger = logging.getLogger(__name__)

SERVER_LIMIT_FACTOR = 4

URI_TOO_LONG = (414, "uri_too_long", "The request URL is too long.")
HEADERS_TOO_LARGE = (431, "headers_too_large", "The request's header fields are too large.")
BAD_REQUEST = (400, "bad_request", "The request could not be parsed.")
PAYLOAD_TOO_LARGE = (413, "payload_too_large", "The request body is too large.")
SERVER_ERROR = (500, "server_error", "Internal server error.")

_REASONS = {
    400: b"Bad Request",
    413: b"Payload Too Large",
    414: b"URI Too Long",
    431: b"Request Header Fields Too Large",
}


def _body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}, separators=(",", ":")).encode()


# Uploads (POST /api/v1/files, issue 20) may carry MAX_UPLOAD_BYTES of file plus this
# much multipart framing (boundaries, part headers); every other body keeps
# MAX_REQUEST_BODY_BYTES (64 KiB).
UPLOAD_PATHS = frozenset({b"/api/v1/files"})
MULTIPART_OVERHEAD_BYTES = 16 * 1024


def body_limit(method: bytes | str, path: bytes | str) -> int:
    """The largest request body accepted for this method and path, in bytes."""
    method = method.encode() if isinstance(method, str) else method
    path = path.encode() if isinstance(path, str) else path
    if method.upper() == b"POST" and path.split(b"?", 1)[0] in UPLOAD_PATHS:
        return settings.MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD_BYTES
    return settings.MAX_REQUEST_BODY_BYTES


def refusal(
    *, target_bytes: int, headers: list[tuple[bytes, bytes]], max_body: int | None = None
) -> tuple[int, str, str] | None:
    """(status, code, message) if the request exceeds a limit, else None."""
    if target_bytes > settings.MAX_URL_BYTES:
        return URI_TOO_LONG
    size = sum(len(name) + len(value) for name, value in headers)
    if size > settings.MAX_HEADER_BYTES or len(headers) > settings.MAX_HEADERS:
        return HEADERS_TOO_LARGE
    for name, value in headers:
        # Django's ASGI handler reads the whole body before any middleware runs: refuse
        # a declared-too-large one here, before it is read (an invalid length is left
        # to slackclone.middleware.BodySizeLimitMiddleware: 400).
        is_length = name.lower() == b"content-length" and value.strip().isdigit()
        if is_length and int(value) > (max_body if max_body is not None else settings.MAX_REQUEST_BODY_BYTES):
            return PAYLOAD_TOO_LARGE
    return None


async def _send_refusal(send, refused: tuple[int, str, str]) -> None:
    status, code, message = refused
    body = _body(code, message)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _counting_receive(receive, send, limit: int):
    """`receive` that answers 413 and ends the request (http.disconnect: Django then
    stops reading and answers nothing more) as soon as the body read so far passes
    `limit`: a body without Content-Length (chunked) is refused before more is read."""
    seen = 0

    async def counted():
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                await _send_refusal(send, PAYLOAD_TOO_LARGE)
                return {"type": "http.disconnect"}
        return message

    return counted


class RequestLimitsMiddleware:
    """ASGI middleware for the "http" scope: layers 1 and 3 above."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_path = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
        query = scope.get("query_string") or b""
        max_body = body_limit(scope.get("method", "GET"), raw_path)
        refused = refusal(
            target_bytes=len(raw_path) + (len(query) + 1 if query else 0),
            headers=scope["headers"],
            max_body=max_body,
        )
        if refused is not None:
            await _send_refusal(send, refused)
            return
        started = False

        async def tracked_send(message):
            nonlocal started
            started = True
            await send(message)

        try:
            await self.app(scope, _counting_receive(receive, tracked_send, max_body), tracked_send)
        except Exception:
            if started or not raw_path.startswith(b"/api/"):
                raise  # the server closes the connection, or answers its own 500
            logger.exception("unhandled exception in the ASGI application: %s %s", scope.get("method"), scope["path"])
            await _send_refusal(send, SERVER_ERROR)


def _raw_response(status: int, code: str, message: str) -> bytes:
    body = _body(code, message)
    return (
        b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
        % (status, _REASONS[status], len(body))
    ) + body


class _Refused(Exception):
    """Raised inside an httptools callback: the parser stops (HttpParserCallbackError)
    and uvicorn answers with `send_400_response`, which sends the refusal instead."""


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with layer 2 above: a request's head (its target,
    its header fields and their count) is bounded at SERVER_LIMIT_FACTOR times our
    limits while it is read, and every refusal of the server itself is an envelope.
    slackclone.serve passes it to uvicorn (`http=`).

    A refusal is answered before the request was read to its end (a 413 for a body
    declared too large, a 431 in the middle of the headers), and closing a socket with
    unread input makes the kernel send a reset, which can destroy the answer before the
    client reads it. So the connection closes as nginx's lingering close does: the
    answer, then the end of our side (FIN), then what the client still sends is read
    and dropped until it closes its side, for at most LINGER_SECONDS.

    Pipelining is bounded: at most PIPELINE_DEPTH requests are parsed ahead of the one
    being answered (uvicorn parses everything it has read)."""

    LINGER_SECONDS = 5.0
    # Pipelined requests parsed ahead of the one being answered. uvicorn parses all it
    # read (up to 256 KiB a read): 6,500 requests of 40 bytes made 6,500 request cycles
    # and scopes, about 16 MiB for one connection that never reads its answers. The rest
    # is kept as bytes (and reading paused) until the answers catch up.
    PIPELINE_DEPTH = 16
    FEED_BYTES = 4 * 1024  # parsed at a time, so that the depth is checked between slices

    def connection_made(self, transport) -> None:
        self._lingering = False  # closing lingering: what the client still sends is dropped
        self._deferred: tuple[int, str, str] | None = None  # a refusal owed after earlier answers
        self._held: bytearray | None = None  # read but not parsed while the pipeline is full
        self._in_head = False  # between a request's first byte and the end of its head
        self._refused: tuple[int, str, str] | None = None  # the refusal send_400_response answers
        super().connection_made(transport)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0  # bytes received since this request began, until its head is complete
        self._in_head = True
        self._target_bytes = 0
        self._field_bytes = 0
        self._refused: tuple[int, str, str] | None = None

    def data_received(self, data: bytes) -> None:
        if self._lingering or self._deferred is not None:
            return  # dropped: the connection closes after its last answer
        held = self._held
        if held is not None:  # the pipeline is full: kept unparsed (reading is paused)
            held += data
            return
        self._feed(data)

    def _feed(self, data: bytes) -> None:
        """Parse `data` a slice at a time, and keep what follows once PIPELINE_DEPTH
        requests wait behind the one being answered (on_response_complete goes on)."""
        for start in range(0, len(data), self.FEED_BYTES):
            if len(self.pipeline) >= self.PIPELINE_DEPTH:
                self._held = bytearray(data[start:])
                self.flow.pause_reading()
                return
            self._parse(data[start : start + self.FEED_BYTES])
            if self._lingering or self._deferred is not None:
                return
            if self.transport.is_closing():
                return
            if self.transport.get_protocol() is not self:
                return  # upgraded to a WebSocket (as uvicorn does, the rest is not replayed)

    def on_response_complete(self) -> None:
        last = not self.pipeline  # nothing else is owed once this answer is complete
        super().on_response_complete()
        deferred = self._deferred
        if deferred is not None:
            if last and not self.transport.is_closing():
                self._unset_keepalive_if_required()
                self.transport.write(_raw_response(*deferred))
                self.close_lingering(body_read=False)
            return
        held = self._held
        if held is not None and len(self.pipeline) < self.PIPELINE_DEPTH and not self.transport.is_closing():
            self._held = None
            self._feed(bytes(held))

    def _parse(self, data: bytes) -> None:
        was_in_head = self._in_head
        super().data_received(data)
        # httptools buffers a header field until it is complete: bound what it holds
        # (the target is bounded as it arrives, by on_url). Counted: the chunks wholly
        # inside one request's head (a chunk it begins or ends in is not, so that a
        # pipelined request's body never counts; the bound is off by two chunks at most).
        if was_in_head and self._in_head and self._refused is None and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > _head_ceiling():
                self._refused = HEADERS_TOO_LARGE
                self.send_400_response("")

    def on_url(self, url: bytes) -> None:
        self._target_bytes += len(url)
        if self._target_bytes > SERVER_LIMIT_FACTOR * settings.MAX_URL_BYTES:
            self._refused = URI_TOO_LONG
            raise _Refused
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._field_bytes += len(name) + len(value)
        if (
            self._field_bytes > SERVER_LIMIT_FACTOR * settings.MAX_HEADER_BYTES
            or len(self.headers) >= SERVER_LIMIT_FACTOR * settings.MAX_HEADERS
        ):
            self._refused = HEADERS_TOO_LARGE
            raise _Refused
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle.scope is self.scope:  # not a WebSocket upgrade
            # Its `Connection: close` lingers if the request's body was not read to its end.
            cycle.transport = ClosingTransport(
                self.transport, close=lambda: self.close_lingering(body_read=not cycle.more_body)
            )

    def send_400_response(self, msg: str) -> None:
        refused = self._refused or BAD_REQUEST
        if self._answers_owed() and not self.transport.is_closing():
            # Requests before this one (pipelined) are still being answered: uvicorn would
            # write the refusal now and close, and their answers would be lost (a POST
            # done but never acknowledged). The refusal comes after them, in order.
            self._deferred = refused
            self.flow.pause_reading()
            return
        self.transport.write(_raw_response(*refused))
        self.close_lingering(body_read=False)

    def _answers_owed(self) -> bool:
        """Whether requests before the one being refused still wait for their answers (a
        request whose own body failed to parse, if queued, is dropped: it is the refused one)."""
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            if not cycle.more_body:
                return True  # read to its end: answered (or queued to be)
            if cycle in self.pipeline:
                self.pipeline.remove(cycle)
                return True  # the requests before it are still being answered
        return bool(self.pipeline)

    def close_lingering(self, *, body_read: bool) -> None:
        """Close the connection once the answer is written: at once when the request
        was read to its end, else lingering (the class docstring)."""
        transport = self.transport
        if body_read or transport.is_closing() or not transport.can_write_eof():
            transport.close()
            return
        self._lingering = True
        self.flow.resume_reading()
        transport.write_eof()
        self.loop.call_later(self.LINGER_SECONDS, transport.close)

    def eof_received(self) -> None:
        if self._lingering:
            self.transport.close()
        return super().eof_received()


def _head_ceiling() -> int:
    """The most bytes a request's head may take before the server refuses it (layer 2):
    the factor times the target's and the fields' limits, plus each line's framing."""
    framing = 4 * SERVER_LIMIT_FACTOR * settings.MAX_HEADERS + 64  # ": ", CRLF; the request line's
    return SERVER_LIMIT_FACTOR * (settings.MAX_URL_BYTES + settings.MAX_HEADER_BYTES) + framing
