"""The ASGI handler of HTTP requests: Django's, with fewer thread hops (issue 13).

Django's `ASGIHandler` builds its middleware chain in async mode. Our views are sync
(DRF) and so is every middleware of settings.MIDDLEWARE, Django's own included (they
are `MiddlewareMixin`s, whose async mode runs each `process_request` and
`process_response` through `sync_to_async`). In async mode a request therefore crossed
between the event loop and a worker thread about 20 times (py-spy: `SyncToAsync`,
`AsyncToSync` and the `Condition.notify` of the hand-offs were ~30% of a daphne
process's CPU, bench/request_cpu.py). And each request got a new thread (Django's
`ThreadSensitiveContext`), plus a second one to join it, and rebuilt every per-thread
object (the database wrapper, the cache client) in it.

`SyncChainASGIHandler` builds the chain in sync mode, as WSGI does, and runs it, view
included, with ONE `sync_to_async` call per request, in the request's thread; every
middleware sees the same request and response in the same order as before. The
request's thread comes from a set of idle single-thread executors that requests reuse
(asgiref's `ThreadSensitiveContext(executor=...)`): still one thread per request in
flight, never two requests at once in one thread, and what a request leaves in its
thread's locals is what a WSGI server's threads see (Django closes or returns the
database connection when the request finishes: `request_finished`).

Everything else (reading the body, the request_started/finished signals, sending the
response, disconnects) is Django's `ASGIHandler` unchanged.
"""

import os
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core.handlers.asgi import ASGIHandler

# Idle request threads kept for reuse; more requests in flight than this get a new
# thread each, whose executor is shut down when the request ends (as Django does).
IDLE_THREADS_MAX = 64


class SyncChainASGIHandler(ASGIHandler):
    """settings/asgi.py: the HTTP application (see the module docstring)."""

    def __init__(self):
        self._idle: list[ThreadPoolExecutor] = []
        super().__init__()

    def load_middleware(self, is_async=False):
        # Build the chain as WSGI does (no adaptation between middlewares), then make it
        # awaitable with one thread-sensitive hop: BaseHandler.get_response_async awaits it.
        super().load_middleware(is_async=False)
        self._middleware_chain = sync_to_async(self._middleware_chain, thread_sensitive=True)

    def create_request(self, scope, body_file):
        """Django's, plus the length of a body sent without Content-Length (chunked, or
        HTTP/2 without the header). Django's multipart parser and DRF's parsers read
        CONTENT_LENGTH, and without it took such a body for an empty one: a chunked
        upload was "give the file in a part named `file`", a chunked JSON send "content
        is required". The body is whole by now (read_body spooled it; RequestLimits
        stopped it at its limit), so its length is known."""
        request, response = super().create_request(scope, body_file)
        if request is not None and not request.META.get("CONTENT_LENGTH"):
            size = body_file.seek(0, os.SEEK_END)
            body_file.seek(0)
            if size:
                request.META["CONTENT_LENGTH"] = str(size)
        return request, response

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        executor = self._idle.pop() if self._idle else ThreadPoolExecutor(1, thread_name_prefix="django-request")
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            # handle() has awaited every sync call it made (a cancelled sync_to_async
            # waits for its thread), so the executor is idle again.
            if len(self._idle) < IDLE_THREADS_MAX:
                self._idle.append(executor)
            else:
                executor.shutdown(wait=False)


def get_asgi_application() -> SyncChainASGIHandler:
    """django.core.asgi.get_asgi_application with our handler."""
    import django

    django.setup(set_prefix=False)
    return SyncChainASGIHandler()
