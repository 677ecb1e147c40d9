"""The request id: one per HTTP request or WebSocket connection, in every log record.

A client (or the reverse proxy) may send `X-Request-ID`; a valid one (1-128 of
`[A-Za-z0-9._:-]`) is kept, anything else is replaced by a new random id. The HTTP
middleware (slackclone.middleware.RequestIdMiddleware) returns it as the
`X-Request-ID` response header; the WebSocket wrapper (`websocket_request_id`, in
slackclone.asgi) keeps it for the connection's whole life, so every log line of the
consumer, and of the services it calls through database_sync_to_async (which copies
the context), carries it.
"""

import contextvars
import logging
import re
import uuid

HEADER = "X-Request-ID"
_VALID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

current: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


def request_id_from(value: str | None) -> str:
    """The client's id if it is acceptable, else a new one (32 hex characters)."""
    if value is not None and _VALID.match(value):
        return value
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Adds `request_id` (or "-") to every record, for the plain and JSON formats."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current.get() or "-"
        return True


def websocket_request_id(inner):
    """ASGI middleware for WebSocket scopes: the connection's request id, from its
    handshake's X-Request-ID header or new, in `scope["request_id"]` and in the context
    of everything the connection runs."""

    async def app(scope, receive, send):
        if scope["type"] != "websocket":
            return await inner(scope, receive, send)
        header = next((v.decode("latin1") for k, v in scope.get("headers", []) if k.lower() == b"x-request-id"), None)
        request_id = request_id_from(header)
        token = current.set(request_id)
        try:
            return await inner({**scope, "request_id": request_id}, receive, send)
        finally:
            current.reset(token)

    return app
