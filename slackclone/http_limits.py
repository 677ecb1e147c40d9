"""Request-line and header limits, answered with the API's error envelope (issue 12).

Two layers, so that every over-long request gets JSON, whatever its size:

1. `RequestLimitsMiddleware` (ASGI, in front of Django, any ASGI server): a request
   target (path and query string, as sent) over `MAX_URL_BYTES` answers 414
   `uri_too_long`; header fields over `MAX_HEADER_BYTES` in total (names and values)
   or more than `MAX_HEADERS` of them answer 431 `headers_too_large`; a declared
   `Content-Length` over `MAX_REQUEST_BODY_BYTES` answers 413 `payload_too_large`
   before the body is read (Django's ASGI handler reads it all before any middleware).
2. daphne parses HTTP with Twisted, which refuses what exceeds its own limits before
   any application runs: a request line or header line over 16 KiB closes the
   connection without an answer, more than 16 KiB of headers or 500 header lines get
   a bare `400 Bad Request` with no body. `install_twisted_limits` (called by
   slackclone.asgi, which daphne imports before it serves) raises those limits to
   `TWISTED_LIMIT_FACTOR` times ours, so that layer 1 sees everything up to there,
   and makes Twisted's own refusals beyond them answer the same envelopes (414, 431;
   anything else it cannot parse: 400 `bad_request`) before closing the connection;
   daphne's own error pages (HTML) under /api/ become envelopes too.
"""

import json

from django.conf import settings

TWISTED_LIMIT_FACTOR = 4

URI_TOO_LONG = (414, "uri_too_long", "The request URL is too long.")
HEADERS_TOO_LARGE = (431, "headers_too_large", "The request's header fields are too large.")
BAD_REQUEST = (400, "bad_request", "The request could not be parsed.")
PAYLOAD_TOO_LARGE = (413, "payload_too_large", "The request body is too large.")

_REASONS = {
    400: b"Bad Request",
    413: b"Payload Too Large",
    414: b"URI Too Long",
    431: b"Request Header Fields Too Large",
}


def _body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}, separators=(",", ":")).encode()


def refusal(*, target_bytes: int, headers: list[tuple[bytes, bytes]]) -> tuple[int, str, str] | None:
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
        if is_length and int(value) > settings.MAX_REQUEST_BODY_BYTES:
            return PAYLOAD_TOO_LARGE
    return None


class RequestLimitsMiddleware:
    """ASGI middleware for the "http" scope: layer 1 above."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            raw_path = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
            query = scope.get("query_string") or b""
            refused = refusal(target_bytes=len(raw_path) + (len(query) + 1 if query else 0), headers=scope["headers"])
            if refused is not None:
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
                return
        await self.app(scope, receive, send)


def _raw_response(status: int, code: str, message: str) -> bytes:
    body = _body(code, message)
    return (
        b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
        % (status, _REASONS[status], len(body))
    ) + body


def install_twisted_limits() -> None:
    """Layer 2 above. Idempotent; does nothing where Twisted is not installed."""
    try:
        from twisted.web import http
    except ImportError:  # not served by daphne
        return
    channel = http.HTTPChannel
    if getattr(channel, "_slackclone_limits", False):
        return
    http.RESPONSES.setdefault(431, _REASONS[431])  # daphne's status line for layer 1's 431
    ceiling = TWISTED_LIMIT_FACTOR * max(settings.MAX_URL_BYTES, settings.MAX_HEADER_BYTES)
    channel.MAX_LENGTH = max(channel.MAX_LENGTH, ceiling)
    channel.totalHeadersSize = max(channel.totalHeadersSize, ceiling)
    channel.maxHeaders = max(channel.maxHeaders, TWISTED_LIMIT_FACTOR * settings.MAX_HEADERS)
    original_line_received = channel.lineReceived
    original_header_received = channel.headerReceived

    def refuse(self, refused) -> None:
        self.transport.write(_raw_response(*refused))
        self.loseConnection()

    def on_first_line(self) -> bool:
        return bool(getattr(self, "_HTTPChannel__first_line", 0))

    def line_length_exceeded(self, line):
        refuse(self, URI_TOO_LONG if on_first_line(self) else HEADERS_TOO_LARGE)

    def line_received(self, line):
        if self._receivedHeaderSize + len(line) > self.totalHeadersSize:
            refuse(self, URI_TOO_LONG if on_first_line(self) else HEADERS_TOO_LARGE)
            return None
        return original_line_received(self, line)

    def header_received(self, line):
        if self._receivedHeaderCount + 1 > self.maxHeaders:
            refuse(self, HEADERS_TOO_LARGE)
            return False
        return original_header_received(self, line)

    def bad_request(self):
        refuse(self, BAD_REQUEST)

    channel.lineLengthExceeded = line_length_exceeded
    channel.lineReceived = line_received
    channel.headerReceived = header_received
    channel._respondToBadRequestAndDisconnect = bad_request
    channel._slackclone_limits = True
    _install_daphne_error_pages()


def _install_daphne_error_pages() -> None:
    """daphne answers what it refuses itself (an invalid header name or value, an
    exception inside the application, an application that did not answer within
    --http-timeout) with an HTML page; under /api/ it is the envelope instead."""
    try:
        from daphne.http_protocol import WebRequest
    except ImportError:
        return
    html_error = WebRequest.basic_error

    def basic_error(self, status, status_text, body):
        if not (getattr(self, "path", b"") or b"").startswith(b"/api/"):
            return html_error(self, status, status_text, body)
        code = {400: "bad_request", 503: "service_unavailable"}.get(status, "server_error")
        payload = _body(code, body if status < 500 else status_text.decode("ascii", "replace") + ".")
        self.handle_reply(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"Content-Type", b"application/json"), (b"Content-Length", b"%d" % len(payload))],
            }
        )
        self.handle_reply({"type": "http.response.body", "body": payload})

    WebRequest.basic_error = basic_error
