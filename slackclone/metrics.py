"""Prometheus metrics (prometheus-client) and GET /metrics.

What is measured (all names start with `slackclone_`):

- `http_request_duration_seconds{method, route, status}`: every HTTP request, by the
  resolved URL pattern (`api/v1/channels/<uuid:channel_id>/messages`, never the raw
  path, so the label set stays bounded; `static` for static files, `unmatched` for 404s
  outside any route);
- `messages_sent_total{transport, result}`: sends through REST (`rest`) and
  WebSocket `message.send` (`ws`) that were stored (or recognised as a retry), result
  `ok`; `message.send` frames answered with an error, result `error` (a REST send that
  fails is in `http_request_duration_seconds` with its 4xx/5xx status);
- `broadcasts_total{event, result}`: events handed to the channel layer, `ok` or `failed`;
- `websocket_connections_open` (open now) and `websocket_connections_total{result}`
  (`accepted`, `refused`);
- `store_operation_seconds{store, operation}` and `store_operation_errors_total{store}`:
  each PostgreSQL statement (operation: the SQL verb) and MongoDB command;
- `store_unavailable_total{store}`: requests and frames answered 503 / `store_unavailable`.

Several processes: with `PROMETHEUS_MULTIPROC_DIR` set (an empty directory shared by
the processes of one host or container, wiped before they start), prometheus_client's
multiprocess mode writes each process's samples there and /metrics of any process
answers for all of them. Without it, each process answers for itself (scrape each).

Access: see `metrics_allowed` (METRICS_ALLOWED_IPS, METRICS_TOKEN).
"""

import hmac
import ipaddress
import logging
import os
import time

from django.conf import settings
from django.http import Http404, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client import REGISTRY as DEFAULT_REGISTRY

logger = logging.getLogger("slackclone.request")

# No `*_created` timestamp series beside every counter and histogram: noise for Prometheus.
disable_created_metrics()

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

HTTP_REQUEST_SECONDS = Histogram(
    "slackclone_http_request_duration_seconds",
    "HTTP request latency by method, resolved route and status code.",
    ["method", "route", "status"],
    buckets=_LATENCY_BUCKETS,
)
MESSAGES_SENT = Counter(
    "slackclone_messages_sent_total",
    "Message sends by transport (rest, ws) and result (ok, error).",
    ["transport", "result"],
)
BROADCASTS = Counter(
    "slackclone_broadcasts_total",
    "Events handed to the channel layer, by event and result (ok, failed).",
    ["event", "result"],
)
WEBSOCKETS_OPEN = Gauge(
    "slackclone_websocket_connections_open",
    "Authenticated WebSocket connections open now.",
    multiprocess_mode="livesum",
)
REALTIME_AUDIT_REPAIRS = Counter(
    "slackclone_realtime_audit_repairs_total",
    "Live sockets repaired by the audit (realtime.audit) after their membership or session "
    "event was lost (Redis unreachable when it was published): left = a channel a removed "
    "member still heard, joined = a channel or DM a socket was missing, closed = a socket "
    "of revoked credentials. Zero when nothing is lost.",
    ["repair"],
)
WEBSOCKETS_TOTAL = Counter(
    "slackclone_websocket_connections_total",
    "WebSocket handshakes by result (accepted, refused).",
    ["result"],
)
SEND_BATCH_SIZE = Histogram(
    "slackclone_send_batch_size",
    "Sends stored together by one group commit (messaging.services.group_commit): one "
    "lock, one seq range, one insert, one publish.",
    buckets=(1, 2, 4, 8, 16, 32, 64),
)
SEND_BATCH_SECONDS = Histogram(
    "slackclone_send_batch_seconds",
    "Time one group-commit batch holds its conversation's lock, from the moment it is "
    "granted: the seq range, the insert, the derived rows, the publish and the commit.",
    buckets=_LATENCY_BUCKETS,
)
STORE_SECONDS = Histogram(
    "slackclone_store_operation_seconds",
    "Latency of one store operation: a PostgreSQL statement or a MongoDB command.",
    ["store", "operation"],
    buckets=_LATENCY_BUCKETS,
)
STORE_ERRORS = Counter(
    "slackclone_store_operation_errors_total",
    "Store operations that failed (a PostgreSQL statement or a MongoDB command).",
    ["store"],
)
STORE_UNAVAILABLE = Counter(
    "slackclone_store_unavailable_total",
    "Requests and WebSocket frames answered 503 / store_unavailable, by store.",
    ["store"],
)


def store_observed(*, store: str, operation: str, seconds: float, failed: bool) -> None:
    """One store operation took `seconds` (and failed, or not)."""
    STORE_SECONDS.labels(store, operation).observe(seconds)
    if failed:
        STORE_ERRORS.labels(store).inc()


def postgres_execute_wrapper(execute, sql, params, many, context):
    """A Django execute wrapper (installed on each PostgreSQL connection): times each statement."""
    start = time.perf_counter()
    failed = True
    try:
        result = execute(sql, params, many, context)
        failed = False
        return result
    finally:
        verb = sql.lstrip().split(None, 1)[0].upper() if sql and sql.strip() else "?"
        store_observed(store="postgres", operation=verb[:16], seconds=time.perf_counter() - start, failed=failed)


def install_postgres_wrapper(sender, connection, **kwargs) -> None:
    """connection_created receiver: time this connection's statements (once per wrapper)."""
    if postgres_execute_wrapper not in connection.execute_wrappers:
        connection.execute_wrappers.append(postgres_execute_wrapper)


def _route(request) -> str:
    match = getattr(request, "resolver_match", None)
    if match is not None and match.route:
        return match.route
    if request.path.startswith("/" + settings.STATIC_URL.lstrip("/")):
        return "static"
    return "unmatched"


class RequestMetricsMiddleware:
    """Times each request for `http_request_duration_seconds` and logs one line for it
    (logger `slackclone.request`: method, route, status, milliseconds; never the query
    string, which may hold a WebSocket ticket)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        start = time.perf_counter()
        response = self.get_response(request)
        seconds = time.perf_counter() - start
        route = _route(request)
        HTTP_REQUEST_SECONDS.labels(request.method, route, str(response.status_code)).observe(seconds)
        if route != "static":
            logger.info(
                "%s %s %s %.1f ms",
                request.method,
                request.path,
                response.status_code,
                seconds * 1000,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "route": route,
                    "status": response.status_code,
                    "duration_ms": round(seconds * 1000, 1),
                },
            )
        return response


# --- GET /metrics ---------------------------------------------------------------


def _client_ip(request) -> str:
    """The direct peer, or with NUM_PROXIES proxies in front the address they saw (the
    same rule as DRF's throttling)."""
    from rest_framework.throttling import BaseThrottle

    return BaseThrottle().get_ident(request)


def metrics_allowed(request) -> bool:
    """True for `Authorization: Bearer <METRICS_TOKEN>` (when a token is set), or for a
    client address inside one of METRICS_ALLOWED_IPS (addresses or CIDR networks)."""
    token = settings.METRICS_TOKEN
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if token and header.startswith("Bearer ") and hmac.compare_digest(header[7:].encode(), token.encode()):
        return True
    try:
        address = ipaddress.ip_address(_client_ip(request).strip())
    except ValueError:
        return False
    for allowed in settings.METRICS_ALLOWED_IPS:
        try:
            if address in ipaddress.ip_network(allowed, strict=False):
                return True
        except ValueError:
            logger.warning("metrics: METRICS_ALLOWED_IPS has an invalid entry %r", allowed)
    return False


def registry():
    """The registry to export: every process's samples in multiprocess mode, else this one's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)
        return merged
    return DEFAULT_REGISTRY


def metrics_view(request):
    """Prometheus text exposition; 404 to anyone not allowed (the endpoint is not advertised)."""
    if request.method != "GET" or not metrics_allowed(request):
        raise Http404
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)


def _connect_signals() -> None:
    from django.db.backends.signals import connection_created

    connection_created.connect(install_postgres_wrapper, dispatch_uid="slackclone.metrics.postgres")


_connect_signals()
