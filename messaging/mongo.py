"""The process's MongoClients. Only the messaging app talks to MongoDB.

Requests use one client whose every operation is bounded by about MONGO_TIMEOUT_MS
(a dead or slow server answers 503 quickly). Management commands that work on whole
collections run inside `long_operations()`, where the same code gets a second client
whose operations may take up to MONGO_OPERATIONS_TIMEOUT_MS.
"""

import contextlib
import contextvars
import threading
from collections.abc import Iterator

from django.conf import settings
from pymongo import MongoClient, monitoring
from pymongo.database import Database

from slackclone import metrics

_lock = threading.Lock()
_client: MongoClient | None = None
# Keyed by (url, timeout) so that a test changing the settings gets a fresh client.
_operations_clients: dict[tuple[str, int], MongoClient] = {}
_long_operations = contextvars.ContextVar("mongo_long_operations", default=False)


class _CommandMetrics(monitoring.CommandListener):
    """Each MongoDB command's latency and failures, for /metrics (slackclone.metrics)."""

    def started(self, event):
        pass

    def succeeded(self, event):
        metrics.store_observed(
            store="mongo", operation=event.command_name, seconds=event.duration_micros / 1e6, failed=False
        )

    def failed(self, event):
        metrics.store_observed(
            store="mongo", operation=event.command_name, seconds=event.duration_micros / 1e6, failed=True
        )


_COMMAND_METRICS = _CommandMetrics()


def get_client() -> MongoClient:
    global _client
    if _client is None:
        with _lock:
            if _client is None:
                timeout = settings.MONGO_TIMEOUT_MS
                _client = MongoClient(
                    settings.MONGO_URL,
                    tz_aware=True,
                    serverSelectionTimeoutMS=timeout,
                    connectTimeoutMS=timeout,
                    socketTimeoutMS=timeout * 2,
                    maxPoolSize=100,
                    appname="slackclone",
                    event_listeners=[_COMMAND_METRICS],
                )
    return _client


def get_operations_client() -> MongoClient:
    """The client of `long_operations()`: long operations, quick failure to connect."""
    key = (settings.MONGO_URL, settings.MONGO_OPERATIONS_TIMEOUT_MS)
    with _lock:
        client = _operations_clients.get(key)
        if client is None:
            timeout = settings.MONGO_TIMEOUT_MS
            client = _operations_clients[key] = MongoClient(
                settings.MONGO_URL,
                tz_aware=True,
                serverSelectionTimeoutMS=timeout,
                connectTimeoutMS=timeout,
                socketTimeoutMS=settings.MONGO_OPERATIONS_TIMEOUT_MS,
                maxPoolSize=10,
                appname="slackclone-manage",
            )
    return client


@contextlib.contextmanager
def long_operations() -> Iterator[None]:
    """Within this block (a management command), MongoDB operations of this thread may
    run up to MONGO_OPERATIONS_TIMEOUT_MS instead of the request budget."""
    token = _long_operations.set(True)
    try:
        yield
    finally:
        _long_operations.reset(token)


def get_db() -> Database:
    client = get_operations_client() if _long_operations.get() else get_client()
    return client[settings.MONGO_DB]


def ping() -> None:
    get_client().admin.command("ping")
