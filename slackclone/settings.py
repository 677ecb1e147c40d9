"""Settings for slackclone, read from the environment (django-environ).

Every value has a development default that points at the local services started by
`scripts/services.sh`. Production sets at least SECRET_KEY, DEBUG=false, ALLOWED_HOSTS
and the three store URLs. docs/deployment.md lists every variable.
"""

import os
from datetime import timedelta
from pathlib import Path

import environ
from corsheaders.defaults import default_headers
from whitenoise.compress import Compressor

from slackclone import __version__

BASE_DIR = Path(__file__).resolve().parent.parent

# FileAwareEnv: any variable may also come from a file named by VAR_FILE (SECRET_KEY_FILE,
# for a Docker or systemd secret).
env = environ.FileAwareEnv()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env.str(
    "SECRET_KEY",
    default="dev-only-insecure-key-5f1c0b4e8a2d4c7e9b3a6d1f0e2c4b8a" if DEBUG else environ.Env.NOTSET,
)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "channels",
    "accounts",
    "channels_app",
    "dms",
    "messaging",
    "presence",
    "realtime",
    "moderation",
    "files",
    "search",
    "readstate",
    "webclient",
]

MIDDLEWARE = [
    # First: every request gets its id (X-Request-ID) and is timed for /metrics, with
    # the status it finally answers (after the envelope middleware below).
    "slackclone.middleware.RequestIdMiddleware",
    "slackclone.metrics.RequestMetricsMiddleware",
    "slackclone.middleware.ApiErrorEnvelopeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files (collected, compressed, cache-busted) before anything touches the
    # session or the database; whitenoise's own advice is right after SecurityMiddleware.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "slackclone.middleware.BodySizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Content-Security-Policy: only on the views that set one (the web client's,
    # webclient/views.py); no CONTENT_SECURITY_POLICY setting, so no other page gets one.
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "slackclone.urls"
ASGI_APPLICATION = "slackclone.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Stores -------------------------------------------------------------------

# The defaults follow the ports of scripts/services.sh (PG_PORT, MONGO_PORT, REDIS_PORT),
# so a second checkout can run its own services on other ports.
_PG_PORT = env.int("PG_PORT", default=55432)
_MONGO_PORT = env.int("MONGO_PORT", default=57017)
_REDIS_PORT = env.int("REDIS_PORT", default=56379)

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"postgres://slackclone:slackclone@127.0.0.1:{_PG_PORT}/slackclone"),
}
# Never kept per thread (CONN_MAX_AGE 0): under ASGI every request runs in a thread of
# its own (Django's ThreadSensitiveContext), so a kept connection belongs to a thread
# that is gone: with 60 the soak test (bench/soak.py, 200 clients) piled up idle
# connections until PostgreSQL refused new ones ("too many clients", 503s).
# Instead, each process keeps a pool (psycopg_pool, Django's "pool" option): a request
# borrows a connection and gives it back when it ends. DB_POOL_MAX_SIZE bounds the
# connections of one process (processes x this must stay under max_connections); a
# request waits at most DB_CONNECT_TIMEOUT for one, then answers 503. 0: no pool, a new
# connection per request.
DB_CONNECT_TIMEOUT = env.int("DB_CONNECT_TIMEOUT", default=3)
DATABASES["default"]["CONN_MAX_AGE"] = 0
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True  # with a pool: checked when borrowed
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = DB_CONNECT_TIMEOUT
if DB_POOL_MAX_SIZE := env.int("DB_POOL_MAX_SIZE", default=20):
    DATABASES["default"]["OPTIONS"]["pool"] = {
        "min_size": min(2, DB_POOL_MAX_SIZE),
        "max_size": DB_POOL_MAX_SIZE,
        "timeout": DB_CONNECT_TIMEOUT,
    }

MONGO_URL = env.str("MONGO_URL", default=f"mongodb://127.0.0.1:{_MONGO_PORT}/")
# FerretDB's PostgreSQL database (issue 13): when the MongoDB server is FerretDB with its
# PostgreSQL handler, `manage.py ensure_mongo_indexes` also creates, directly in FerretDB's
# tables, the GIN indexes that serve the equality lookups FerretDB pushes down (history
# windows, _id, dedupe; messaging.ferretdb). Default: the `ferretdb` database of the
# cluster scripts/services.sh runs, unless MONGO_URL is given; "" turns it off.
FERRETDB_POSTGRESQL_URL = env.str(
    "FERRETDB_POSTGRESQL_URL",
    default="" if "MONGO_URL" in os.environ else f"postgres://slackclone@127.0.0.1:{_PG_PORT}/ferretdb",
)
MONGO_DB = env.str("MONGO_DB", default="slackclone")
# One budget for server selection, connecting and each operation: a dead server
# answers 503 within about this long instead of hanging a request.
MONGO_TIMEOUT_MS = env.int("MONGO_TIMEOUT_MS", default=2000)
# Management commands (seed_demo, purge_messages, check_consistency, export_channel)
# work on whole collections: each of their operations may take this long (server
# selection still fails within MONGO_TIMEOUT_MS).
MONGO_OPERATIONS_TIMEOUT_MS = env.int("MONGO_OPERATIONS_TIMEOUT_MS", default=30 * 60 * 1000)

REDIS_URL = env.str("REDIS_URL", default=f"redis://127.0.0.1:{_REDIS_PORT}/0")

# channels_redis blocks on Redis reads for 5 s; redis-py's default socket timeout is
# also 5 s, which kills idle consumers. Give the layer's connections more.
CHANNEL_LAYER_HOST = {"address": REDIS_URL, "socket_timeout": 10, "socket_connect_timeout": 2}
# CHANNEL_LAYER_BACKEND=pubsub (default): channels_redis' RedisPubSubChannelLayer. A
# group is one Redis pub/sub channel that each process subscribes to once, and a
# message reaches its local sockets through an in-process queue: about half the CPU
# per delivered frame of the core layer (bench/fanout.py; docs/performance.md).
# Group membership is kept in-process (realtime.broadcast handles that: sockets
# subscribe on their subscribe event). CHANNEL_LAYER_BACKEND=core: the list-based
# RedisChannelLayer (groups in Redis, a bounded per-process backlog).
CHANNEL_LAYER_BACKEND = env.str("CHANNEL_LAYER_BACKEND", default="pubsub")

# Message search (docs/search.md): the backend class, and the time one search may take.
SEARCH_BACKEND = env.str("SEARCH_BACKEND", default="search.backends.postgres.PostgresSearchBackend")
SEARCH_STATEMENT_TIMEOUT_MS = env.int("SEARCH_STATEMENT_TIMEOUT_MS", default=3000)
if CHANNEL_LAYER_BACKEND == "core":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [CHANNEL_LAYER_HOST],
                "prefix": env.str("CHANNEL_LAYER_PREFIX", default="slackclone"),
                # All sockets of one process receive through one Redis list: its capacity
                # bounds the backlog of the whole process, not of one socket.
                "capacity": 100_000,
                "expiry": 60,
                "group_expiry": 86400,
            },
        },
    }
elif CHANNEL_LAYER_BACKEND == "pubsub":
    CHANNEL_LAYERS = {
        "default": {
            # channels_redis' pub/sub layer plus a process-local fan-out (issue 13:
            # realtime.layers): a group message is decoded once per process and its
            # already-encoded frames written to every idle local socket of the group,
            # instead of a queue, a consumer wake-up and a dispatch per socket.
            # REALTIME_LOCAL_FANOUT=false: channels_redis' behaviour (bench/fanout.py's baseline).
            "BACKEND": "realtime.layers.LocalFanoutPubSubLayer",
            "CONFIG": {
                "hosts": [CHANNEL_LAYER_HOST],
                "prefix": env.str("CHANNEL_LAYER_PREFIX", default="slackclone"),
                "local_fanout": env.bool("REALTIME_LOCAL_FANOUT", default=True),
            },
        },
    }
else:
    raise environ.ImproperlyConfigured("CHANNEL_LAYER_BACKEND must be 'pubsub' or 'core'")

CACHES = {
    "default": {
        "BACKEND": "slackclone.cache.SharedPoolRedisCache",  # one pool per process
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "slackclone-cache",
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    },
}

# --- Accounts -----------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Knox stores only a SHA-512 digest of each token; a user may hold several (one
# per device) and logout revokes exactly the one used.
# TOKEN_TTL (seconds; 0: tokens never expire) is sliding: each use pushes the expiry
# TOKEN_TTL ahead (knox's AUTO_REFRESH, written at most once a minute, when the token's
# session also records its last use: accounts.auth).
TOKEN_TTL_SECONDS = int(env.float("TOKEN_TTL", default=30 * 24 * 3600))
REST_KNOX = {
    "AUTH_HEADER_PREFIX": "Bearer",
    "TOKEN_TTL": timedelta(seconds=TOKEN_TTL_SECONDS) if TOKEN_TTL_SECONDS > 0 else None,
    "AUTO_REFRESH": TOKEN_TTL_SECONDS > 0,
    "MIN_REFRESH_INTERVAL": 60,
    "TOKEN_LIMIT_PER_USER": None,
}

# --- API ----------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.auth.WorkspaceTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["slackclone.api.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "slackclone.api.exceptions.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["slackclone.api.throttling.WriteRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "auth": env.str("THROTTLE_AUTH", default="20/min"),
        "write": env.str("THROTTLE_WRITE", default="600/min"),
    },
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "slackclone API",
    "DESCRIPTION": "REST API of slackclone, a self-hostable Slack-style chat backend. "
    "Every error answers with the envelope "
    '`{"error": {"code", "message", "fields"}}`: also under `/api/` outside the operations listed here '
    "(an unknown path, a malformed id in a path or a trailing slash: 404 `not_found`; a method an "
    "operation does not have: 405 `method_not_allowed`; an unknown `Host`: 400 `bad_request`), and for "
    "what the server refuses before any operation runs: a body over `MAX_REQUEST_BODY_BYTES` (64 KiB) "
    "413 `payload_too_large`, a request target (path and query) over `MAX_URL_BYTES` (8 KiB) 414 "
    "`uri_too_long`, header fields over `MAX_HEADER_BYTES` (16 KiB) or more than `MAX_HEADERS` (100) "
    "431 `headers_too_large`. `HEAD` answers wherever `GET` does, with the same status and headers and "
    "no body.",
    "VERSION": __version__,
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from the pinned drf-spectacular-sidecar package, served as our own
    # static files: no CDN, so the docs work offline and behind strict firewalls.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "ChannelRoleEnum": ["manager", "member"],
        "WorkspaceRoleEnum": ["owner", "admin", "member"],
    },
}

# Request bodies larger than this are refused with 413 before they are parsed.
MAX_REQUEST_BODY_BYTES = env.int("MAX_REQUEST_BODY_BYTES", default=64 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES
# A longer request target (path and query string) is refused with 414, more header
# bytes (names and values) or more header fields with 431 (slackclone.http_limits).
MAX_URL_BYTES = env.int("MAX_URL_BYTES", default=8 * 1024)
MAX_HEADER_BYTES = env.int("MAX_HEADER_BYTES", default=16 * 1024)
MAX_HEADERS = env.int("MAX_HEADERS", default=100)

# Seconds a client is told to wait (Retry-After) when a store is unavailable.
STORE_RETRY_AFTER_SECONDS = 5

# --- Files (docs/files.md) ---------------------------------------------------------

# The largest upload (POST /files), in bytes: refused with 413 before the body is read
# past it (slackclone.http_limits.body_limit); every other body keeps the 64 KiB above.
MAX_UPLOAD_BYTES = env.int("MAX_UPLOAD_BYTES", default=25 * 1024 * 1024)
# Uploads are parsed to a temporary file, never held in memory (files.uploads).
FILE_UPLOAD_HANDLERS = ["files.uploads.LimitedTemporaryFileUploadHandler"]
FILE_UPLOAD_TEMP_DIR = env.str("FILE_UPLOAD_TEMP_DIR", default=None)
# Images of more pixels are refused (decompression bombs), 400 image_too_large.
FILES_MAX_IMAGE_PIXELS = env.int("FILES_MAX_IMAGE_PIXELS", default=40_000_000)
# Images decoded at once per process (each holds up to FILES_MAX_IMAGE_PIXELS x 4
# bytes while its thumbnail is made); an upload that waits longer than
# FILES_IMAGE_DECODE_WAIT_SECONDS for a turn is answered 429 images_busy (files.images).
FILES_IMAGE_DECODES = env.int("FILES_IMAGE_DECODES", default=2)
FILES_IMAGE_DECODE_WAIT_SECONDS = 10
# Signed URLs of an S3-compatible store (GET /files/{id}/content redirects to one) are
# valid this long; never more than 5 minutes (API.md).
FILES_SIGNED_URL_SECONDS = min(env.int("FILES_SIGNED_URL_SECONDS", default=300), 300)
# Where the bytes live. Default: the local filesystem under the data directory.
# STORAGE_URL=s3://ACCESS_KEY:SECRET_KEY@host:port/bucket?region=us-east-1&secure=true
# (any S3-compatible store: AWS, MinIO, versitygw, Garage...): django-storages' S3Storage.
FILES_ROOT = env.str("FILES_ROOT", default=str(BASE_DIR / ".data" / "files"))
STORAGE_URL = env.str("STORAGE_URL", default="")


def s3_storage_options(url: str) -> dict:
    """django-storages S3Storage OPTIONS from an s3:// URL (see STORAGE_URL)."""
    from urllib.parse import parse_qs, unquote, urlsplit

    parts = urlsplit(url)
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    secure = query.get("secure", "true").lower() not in ("0", "false", "no")
    host = parts.hostname or ""
    return {
        "access_key": unquote(parts.username or ""),
        "secret_key": unquote(parts.password or ""),
        "bucket_name": parts.path.strip("/"),
        "endpoint_url": f"{'https' if secure else 'http'}://{host}{f':{parts.port}' if parts.port else ''}"
        if host and host != "s3.amazonaws.com"
        else None,
        "region_name": query.get("region", "us-east-1"),
        "addressing_style": query.get("addressing_style", "path"),
        "signature_version": "s3v4",
        "querystring_expire": FILES_SIGNED_URL_SECONDS,
        "file_overwrite": True,  # keys are unique (files.storage); no HEAD before each PUT
        "default_acl": None,
    }


STORAGES = {
    "default": (
        {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": s3_storage_options(STORAGE_URL)}
        if STORAGE_URL
        else {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": FILES_ROOT}}
    ),
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Group commit of sends (messaging.services): sends into one conversation that queue in
# a process while its lock is held are stored together, at most SEND_BATCH_MAX per
# batch. A process queues at most SEND_QUEUE_MAX sends per conversation, and a queued
# send waits at most SEND_QUEUE_WAIT_SECONDS for its turn; beyond either it is shed
# (429 `conversation_busy` with Retry-After, nothing stored).
SEND_BATCH_MAX = env.int("SEND_BATCH_MAX", default=100)
SEND_QUEUE_MAX = env.int("SEND_QUEUE_MAX", default=1000)
SEND_QUEUE_WAIT_SECONDS = env.float("SEND_QUEUE_WAIT_SECONDS", default=5.0)
# Admission of REST sends (slackclone.admission): a send is answered 429 at once, before
# Django runs, when its conversation has SEND_INFLIGHT_MAX sends in flight in this
# process, or already one while the event loop lags more than SEND_SHED_LAG_MS.
SEND_INFLIGHT_MAX = env.int("SEND_INFLIGHT_MAX", default=64)
SEND_SHED_LAG_MS = env.float("SEND_SHED_LAG_MS", default=500.0)
# At most SEND_CONCURRENCY_MAX sends of one conversation run in Django at once in a
# process (0, the default: no bound); the others wait at the door, each at most
# SEND_ADMIT_WAIT_MS, then 429 (slackclone.admission; issue 13, section 2: it trades
# one process's throughput into a hot conversation for the others' latency).
SEND_CONCURRENCY_MAX = env.int("SEND_CONCURRENCY_MAX", default=0)
SEND_ADMIT_WAIT_MS = env.float("SEND_ADMIT_WAIT_MS", default=500.0)

# --- Realtime -----------------------------------------------------------------

# Workspaces (docs/workspaces.md). Registering or logging in without a workspace means
# this one; the migrations create it `open`, so v1 clients keep working unchanged.
DEFAULT_WORKSPACE = env.str("DEFAULT_WORKSPACE", default="default")
# Who may create a workspace with POST /workspaces: "open" (anyone) or "staff".
WORKSPACE_CREATION = env.str("WORKSPACE_CREATION", default="open" if DEBUG else "staff")

# A client frame carries what a REST body carries plus its `type` and conversation id:
# so that the WebSocket is never stricter than REST, its limit is the body's plus 1 KiB
# for those (issue 12). The largest content REST accepts, 4000 characters outside the
# BMP escaped by a default JSON encoder (json.dumps: \uXXXX\uXXXX, 12 bytes each), is
# 48,000 bytes; with a 64-character client_msg_id it fits in both.
WS_MAX_FRAME_BYTES = env.int("WS_MAX_FRAME_BYTES", default=MAX_REQUEST_BODY_BYTES + 1024)
PRESENCE_TTL_SECONDS = env.int("PRESENCE_TTL_SECONDS", default=30)
PRESENCE_GRACE_SECONDS = env.int("PRESENCE_GRACE_SECONDS", default=5)
# How often each server process announces presence changes and sweeps expired users.
PRESENCE_SWEEP_SECONDS = env.float("PRESENCE_SWEEP_SECONDS", default=1.0)
# Issue 13: a channel with more members than this no longer hears every member's
# presence.changed (O(N^2) frames when N people connect); clients subscribe to the
# presence they show with the `presence.subscribe` frame (realtime.apis).
PRESENCE_FANOUT_MAX_MEMBERS = env.int("PRESENCE_FANOUT_MAX_MEMBERS", default=100)
# Every this many seconds (jittered) each server process checks its open WebSockets
# against PostgreSQL and repairs what a lost membership or session event left (a removed
# member still hearing a channel, a revoked token's socket): realtime.audit. 0: off.
REALTIME_AUDIT_SECONDS = env.float("REALTIME_AUDIT_SECONDS", default=30.0)
# A broadcast (a send to the channel layer) gives up after this long; the write it
# announces has already been stored.
REALTIME_BROADCAST_TIMEOUT_SECONDS = env.float("REALTIME_BROADCAST_TIMEOUT_SECONDS", default=1.0)

# --- Django basics ------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
# The application serves its static files itself, in every mode (whitenoise): collected
# by `manage.py collectstatic` (make run, the Docker build), with content-hashed names
# (cache-busting; served with a one-year immutable Cache-Control) and gzip/brotli copies.
# With DEBUG, whitenoise also finds them straight from the apps (no collectstatic needed).
# (Only "staticfiles" here: "default" is the files' storage, set above from FILES_ROOT or
# STORAGE_URL; replacing the whole dict here sent uploads to the process's working
# directory and ignored STORAGE_URL under the production settings.)
STORAGES = {
    **STORAGES,
    # whitenoise's CompressedManifestStaticFilesStorage, plus the web client's ES module
    # imports rewritten to their hashed names (webclient/storage.py).
    "staticfiles": {"BACKEND": "webclient.storage.StaticFilesStorage"},
}
# Source maps are only ever fetched by a browser's developer tools: not worth the
# minute that compressing swagger-ui's and redoc's (several MB each) costs collectstatic.
WHITENOISE_SKIP_COMPRESS_EXTENSIONS = [*Compressor.SKIP_COMPRESS_EXTENSIONS, "map"]
# Pages link the hashed names only ({% static %}); the unhashed copies would double the
# image and collectstatic's compression time.
WHITENOISE_KEEP_ONLY_HASHED_FILES = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# LOG_FORMAT=json: one JSON object a line (python-json-logger), for a log collector;
# plain (default): human-readable. Every record made while serving a request or a
# WebSocket carries its request_id (X-Request-ID, see slackclone.middleware).
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
if LOG_FORMAT not in ("plain", "json"):
    raise environ.ImproperlyConfigured("LOG_FORMAT must be 'plain' or 'json'")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "slackclone.request_id.RequestIdFilter"},
        "websocket_lines": {"()": "slackclone.serve.WebSocketLogFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # uvicorn's line per WebSocket handshake carries its query string (a ticket)
        "uvicorn.error": {"filters": ["websocket_lines"]},
    },
}

# --- Operators: CORS, metrics -------------------------------------------------

# Browser clients served from other origins (a web client on its own domain). Off by
# default: no origin is allowed unless listed. Bearer tokens, not cookies, so no
# credentials are allowed cross-origin.
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOW_CREDENTIALS = False
CORS_EXPOSE_HEADERS = ["Retry-After", "X-Request-ID"]
CORS_ALLOW_HEADERS = [*default_headers, "x-request-id"]

# GET /metrics (Prometheus text format) answers only a client whose address is in
# METRICS_ALLOWED_IPS (addresses or networks; the direct peer, or the client NUM_PROXIES
# proxies back) or who sends `Authorization: Bearer <METRICS_TOKEN>`; everyone else
# gets 404. Default: loopback only with DEBUG, nobody without (set one of the two).
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=["127.0.0.1", "::1"] if DEBUG else [])
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# Shown on the landing page (/): this server's name, and a link to the web client
# (WEB_CLIENT_URL: the one this server serves at /app/, another address, or "" for none).
SERVER_NAME = env.str("SERVER_NAME", default="slackclone")
WEB_CLIENT_URL = env.str("WEB_CLIENT_URL", default="/app/")

# --- Production hardening (manage.py check --deploy) ---------------------------

if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^api/v1/health$", r"^metrics$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"
APPEND_SLASH = False
