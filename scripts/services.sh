#!/usr/bin/env bash
# Local PostgreSQL, Redis, a MongoDB-compatible server and an S3-compatible object
# store (versitygw over a directory; the suite's S3 tests of files) for development and tests.
#
#   scripts/services.sh start    install what is missing, start what is not running
#   scripts/services.sh stop     stop what this script started (by pid file)
#   scripts/services.sh status   one line per service (and the web server of `make run`)
#   scripts/services.sh browser  install Debian's chromium and chromium-driver if missing
#                                (the browser test of `make test` drives them with Selenium)
#
# Data, logs and pid files live under $DATA_DIR (default: .data/, git-ignored).
# A service whose URL is given in the environment (DATABASE_URL, REDIS_URL,
# MONGO_URL) is assumed to be run by someone else and is left alone.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DATA_DIR="${DATA_DIR:-$ROOT/.data}"
RUN_DIR="$DATA_DIR/run"
LOG_DIR="$DATA_DIR/log"
CACHE_DIR="${SLACKCLONE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/slackclone}"

PG_PORT="${PG_PORT:-55432}"
REDIS_PORT="${REDIS_PORT:-56379}"
MONGO_PORT="${MONGO_PORT:-57017}"
FERRETDB_VERSION="${FERRETDB_VERSION:-v1.24.0}"
FERRETDB_BIN="$CACHE_DIR/bin/ferretdb-$FERRETDB_VERSION"
FERRETDB_HANDLER="${FERRETDB_HANDLER:-postgresql}"  # or sqlite
# FerretDB's Go garbage collector. With Go's default (GOGC=100) and FerretDB's small live
# heap, it collected after every few pages it decoded: a fifth to a quarter of its CPU,
# and more for heavier documents (reactions, replies). 800 lets the heap grow to 9x the
# live one between collections; GOMEMLIMIT caps that growth (docs/performance.md,
# "Session 13: the embedded store's own costs").
FERRETDB_GOGC="${FERRETDB_GOGC:-800}"
FERRETDB_GOMEMLIMIT="${FERRETDB_GOMEMLIMIT:-1GiB}"
# S3: versitygw (a real S3 gateway over a POSIX directory, Apache-2.0), built from the
# Go module proxy once. Its port follows PG_PORT unless given (tests/files/test_s3.py
# derives it the same way); S3_SKIP=1 starts none.
S3_PORT="${S3_PORT:-$((PG_PORT + 4500))}"
VERSITYGW_VERSION="${VERSITYGW_VERSION:-v1.8.0}"
VERSITYGW_BIN="$CACHE_DIR/bin/versitygw-$VERSITYGW_VERSION"
S3_ACCESS_KEY="${S3_ACCESS_KEY:-slackclone}"
S3_SECRET_KEY="${S3_SECRET_KEY:-slackclone-dev-secret}"

log() { printf '[services] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- helpers ---------------------------------------------------------------

pid_alive() { [ -f "$1" ] && kill -0 "$(head -n1 "$1")" 2>/dev/null; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {  # name port seconds
  local i
  for ((i = 0; i < $3 * 10; i++)); do port_open "$2" && return 0; sleep 0.1; done
  die "$1 did not open port $2 within $3 s (see $LOG_DIR/$1.log)"
}

stop_pidfile() {  # name pidfile
  local pid
  if pid_alive "$2"; then
    pid="$(head -n1 "$2")"
    log "stopping $1 (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { log "$1 ignored TERM; sending KILL"; kill -KILL "$pid"; }
  fi
  rm -f "$2"
}

apt_install() {  # package...
  [ "$(id -u)" = 0 ] || die "missing $*; install it (e.g. sudo apt-get install $*) and run again"
  command -v apt-get >/dev/null || die "missing $*, and no apt-get to install it with"
  log "installing $* from Debian packages"
  if [ ! -f "$RUN_DIR/apt-updated" ]; then
    apt-get update -qq >/dev/null && touch "$RUN_DIR/apt-updated"
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# --- Shared libraries the application loads --------------------------------
# python-magic (files: MIME type from the bytes) loads libmagic with ctypes, as below;
# the Docker image installs the same package (Dockerfile, runtime stage).

ensure_libraries() {
  python3 -c 'import ctypes.util, sys; sys.exit(ctypes.util.find_library("magic") is None)' 2>/dev/null \
    || apt_install libmagic1
}

# --- PostgreSQL ------------------------------------------------------------

pg_bin() {
  local d
  command -v initdb >/dev/null && command -v pg_ctl >/dev/null && { dirname "$(command -v pg_ctl)"; return; }
  for d in /usr/lib/postgresql/*/bin; do [ -x "$d/pg_ctl" ] && { echo "$d"; return; }; done
  return 1
}

as_pg() {  # initdb and postgres refuse to run as root
  # (from /: the caller's directory may be one postgres cannot enter, such as /root/...)
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

# Where PostgreSQL keeps its data and log: $DATA_DIR/postgres, unless we run as root and
# the postgres user cannot reach $DATA_DIR (a checkout under /root, mode 700): then
# /var/lib/slackclone/<hash of DATA_DIR>/, which `clean` removes with the rest.
pg_home() {
  if [ "$(id -u)" = 0 ] && id postgres >/dev/null 2>&1 && ! runuser -u postgres -- test -x "$DATA_DIR" 2>/dev/null; then
    echo "/var/lib/slackclone/$(printf '%s' "$DATA_DIR" | md5sum | cut -c1-12)"
  else
    echo "$DATA_DIR"
  fi
}

pg_dirs() {  # sets PG_DIR and PG_LOG
  local home
  home="$(pg_home)"
  PG_DIR="$home/postgres"
  if [ "$home" = "$DATA_DIR" ]; then PG_LOG="$LOG_DIR/postgres.log"; else PG_LOG="$home/postgres.log"; fi
}

start_postgres() {
  local bin dir
  bin="$(pg_bin)" || { apt_install postgresql; bin="$(pg_bin)"; }
  pg_dirs
  dir="$PG_DIR"
  if [ ! -f "$dir/PG_VERSION" ]; then
    log "initialising PostgreSQL in $dir"
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
    as_pg "$bin/initdb" -D "$dir" -U slackclone --auth=trust -E UTF8 --locale=C.UTF-8 >"$LOG_DIR/postgres-init.log"
  fi
  if [ -f "$dir/postmaster.pid" ] && kill -0 "$(head -n1 "$dir/postmaster.pid")" 2>/dev/null; then
    log "PostgreSQL already running on port $PG_PORT"
  else
    log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
    touch "$PG_LOG"
    [ "$(id -u)" = 0 ] && chown postgres "$PG_LOG"
    as_pg "$bin/pg_ctl" -D "$dir" -l "$PG_LOG" -w -t 60 start \
      -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=300 -c fsync=${PG_FSYNC:-on}" >/dev/null
  fi
  head -n1 "$dir/postmaster.pid" >"$RUN_DIR/postgres.pid"
  wait_port postgres "$PG_PORT" 30
  # The application database; test databases are created by the test runner.
  ensure_pg_database slackclone
}

ensure_pg_database() {  # name
  if ! PGPASSWORD= psql -h 127.0.0.1 -p "$PG_PORT" -U slackclone -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = '$1'" | grep -q 1; then
    psql -h 127.0.0.1 -p "$PG_PORT" -U slackclone -d postgres -qc "CREATE DATABASE $1" >/dev/null
  fi
}

stop_postgres() {
  local dir bin
  pg_dirs
  dir="$PG_DIR"
  if [ -f "$dir/postmaster.pid" ] && kill -0 "$(head -n1 "$dir/postmaster.pid")" 2>/dev/null; then
    bin="$(pg_bin)"
    log "stopping PostgreSQL (pid $(head -n1 "$dir/postmaster.pid"))"
    as_pg "$bin/pg_ctl" -D "$dir" -m fast -w stop >/dev/null
  fi
  rm -f "$RUN_DIR/postgres.pid"
}

# --- Redis -----------------------------------------------------------------

start_redis() {
  command -v redis-server >/dev/null || apt_install redis-server
  if pid_alive "$RUN_DIR/redis.pid"; then
    log "Redis already running on port $REDIS_PORT"; return
  fi
  mkdir -p "$DATA_DIR/redis"
  log "starting Redis on 127.0.0.1:$REDIS_PORT"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$DATA_DIR/redis" \
    --daemonize yes --pidfile "$RUN_DIR/redis.pid" --logfile "$LOG_DIR/redis.log" \
    --save "" --appendonly no --maxclients 20000
  wait_port redis "$REDIS_PORT" 15
}

# --- MongoDB (real mongod if installed, else FerretDB) ---------------------

# go_build MODULE VERSION PACKAGE OUT [FILE CONTENT]: fetch a module from the Go module
# proxy and build one of its commands into OUT (`go install module@version` works too,
# but this machine's proxy may refuse the version list; `go mod download` does not).
# FILE CONTENT: a file of the module (relative path) to write before building.
go_build() {
  local tmp src
  tmp="$(mktemp -d)"
  src="$(cd "$tmp" && go mod download -json "$1@$2" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')"
  cp -r "$src" "$tmp/src" && chmod -R u+w "$tmp/src"
  [ -n "${5:-}" ] && echo "$6" >"$tmp/src/$5"
  mkdir -p "$(dirname "$4")"
  (cd "$tmp/src" && GOFLAGS=-mod=mod go build -o "$4.tmp" "$3")
  mv "$4.tmp" "$4"
  rm -rf "$tmp"
}

install_ferretdb() {
  [ -x "$FERRETDB_BIN" ] && return
  command -v go >/dev/null || die "no mongod and no Go toolchain to build FerretDB with"
  log "building FerretDB $FERRETDB_VERSION from the Go module proxy (once; cached in $CACHE_DIR)"
  # FerretDB's release binaries read their version from build/version/version.txt,
  # which the module zip leaves empty: it is filled in before the build.
  go_build github.com/FerretDB/FerretDB "$FERRETDB_VERSION" ./cmd/ferretdb "$FERRETDB_BIN" \
    build/version/version.txt "$FERRETDB_VERSION"
}

start_mongo() {
  if pid_alive "$RUN_DIR/mongo.pid"; then
    log "MongoDB-compatible server already running on port $MONGO_PORT"; return
  fi
  if command -v mongod >/dev/null; then
    mkdir -p "$DATA_DIR/mongo"
    log "starting mongod on 127.0.0.1:$MONGO_PORT"
    mongod --dbpath "$DATA_DIR/mongo" --port "$MONGO_PORT" --bind_ip 127.0.0.1 \
      --logpath "$LOG_DIR/mongo.log" --fork --pidfilepath "$RUN_DIR/mongo.pid" >/dev/null
  else
    install_ferretdb
    mkdir -p "$DATA_DIR/ferretdb"
    if [ "$FERRETDB_HANDLER" = sqlite ]; then
      mkdir -p "$DATA_DIR/ferretdb/sqlite"
      log "starting FerretDB $FERRETDB_VERSION (SQLite backend) on 127.0.0.1:$MONGO_PORT"
      set -- --handler=sqlite --sqlite-url="file:$DATA_DIR/ferretdb/sqlite/"
    else
      # The PostgreSQL handler, in the `ferretdb` database of the cluster started above
      # (issue 13: with the GIN indexes `manage.py ensure_mongo_indexes` makes in its
      # tables, history windows, _id and dedupe lookups do not scan the collection;
      # docs/performance.md). FERRETDB_HANDLER=sqlite keeps the former default.
      ensure_pg_database ferretdb
      if [ -n "$(ls -A "$DATA_DIR/ferretdb/sqlite" 2>/dev/null)" ]; then
        log "note: messages stored with the former SQLite backend stay in $DATA_DIR/ferretdb/sqlite (FERRETDB_HANDLER=sqlite serves them)"
      fi
      log "starting FerretDB $FERRETDB_VERSION (PostgreSQL backend, database ferretdb) on 127.0.0.1:$MONGO_PORT"
      set -- --handler=postgresql --postgresql-url="postgres://slackclone@127.0.0.1:$PG_PORT/ferretdb"
    fi
    GOGC="$FERRETDB_GOGC" GOMEMLIMIT="$FERRETDB_GOMEMLIMIT" nohup "$FERRETDB_BIN" "$@" \
      --state-dir="$DATA_DIR/ferretdb" --listen-addr="127.0.0.1:$MONGO_PORT" \
      --debug-addr=127.0.0.1:0 --telemetry=disable --log-level=warn \
      >"$LOG_DIR/mongo.log" 2>&1 </dev/null &
    echo $! >"$RUN_DIR/mongo.pid"
  fi
  wait_port mongo "$MONGO_PORT" 30
}

# --- S3-compatible object store (versitygw) -------------------------------------

install_versitygw() {
  [ -x "$VERSITYGW_BIN" ] && return
  command -v go >/dev/null || { log "no Go toolchain: no S3 server (the S3 tests of files skip)"; return 1; }
  log "building versitygw $VERSITYGW_VERSION from the Go module proxy (once; ~2-5 min; cached in $CACHE_DIR)"
  go_build github.com/versity/versitygw "$VERSITYGW_VERSION" ./cmd/versitygw "$VERSITYGW_BIN"
}

start_s3() {
  if pid_alive "$RUN_DIR/s3.pid"; then
    log "S3 server already running on port $S3_PORT"; return
  fi
  install_versitygw || return 0
  mkdir -p "$DATA_DIR/s3"
  log "starting versitygw $VERSITYGW_VERSION (S3, posix backend) on 127.0.0.1:$S3_PORT"
  nohup "$VERSITYGW_BIN" --access "$S3_ACCESS_KEY" --secret "$S3_SECRET_KEY" --port "127.0.0.1:$S3_PORT" \
    --quiet posix --nometa "$DATA_DIR/s3" >"$LOG_DIR/s3.log" 2>&1 </dev/null &
  echo $! >"$RUN_DIR/s3.pid"
  wait_port s3 "$S3_PORT" 30
}

# --- Chromium (for the browser test) ----------------------------------------

# Debian's packages, like PostgreSQL and Redis: a browser that a tool downloads for
# itself (Playwright's, Selenium Manager's) is not what an air-gapped CI machine has.
CHROMIUM_BIN="${CHROMIUM_BIN:-/usr/bin/chromium}"
CHROMEDRIVER_BIN="${CHROMEDRIVER_BIN:-/usr/bin/chromedriver}"

install_browser() {
  if [ -x "$CHROMIUM_BIN" ] && [ -x "$CHROMEDRIVER_BIN" ]; then
    log "chromium and chromedriver present ($("$CHROMIUM_BIN" --version 2>/dev/null | head -n1))"
    return
  fi
  apt_install chromium chromium-driver
}

# --- the web server of `make run` ----------------------------------------------

web_status() {
  local pidfile="$RUN_DIR/web.pid" port health
  if pid_alive "$pidfile"; then
    port="$(sed -n 2p "$pidfile")"
    health="$(python3 -c "import sys, urllib.request
try: print(urllib.request.urlopen(sys.argv[1], timeout=3).status)
except Exception as exc: print(getattr(exc, 'code', 'no answer'))" "http://127.0.0.1:$port/api/v1/health" 2>/dev/null)"
    echo "web: running (pid $(head -n1 "$pidfile")) on port $port, health $health"
  else
    echo "web: stopped"
  fi
}

# --- commands --------------------------------------------------------------

mkdir -p "$RUN_DIR" "$LOG_DIR"

case "${1:-}" in
  start)
    ensure_libraries
    [ -n "${DATABASE_URL:-}" ] && log "DATABASE_URL is set: not starting PostgreSQL" || start_postgres
    [ -n "${REDIS_URL:-}" ] && log "REDIS_URL is set: not starting Redis" || start_redis
    [ -n "${MONGO_URL:-}" ] && log "MONGO_URL is set: not starting MongoDB" || start_mongo
    [ -n "${S3_SKIP:-}" ] && log "S3_SKIP is set: not starting an S3 server" || start_s3
    ;;
  stop)
    stop_pidfile s3 "$RUN_DIR/s3.pid"
    stop_pidfile mongo "$RUN_DIR/mongo.pid"
    stop_pidfile redis "$RUN_DIR/redis.pid"
    stop_postgres
    ;;
  stop-one)  # used by fault-injection tests: stop-one postgres|redis|mongo
    case "${2:-}" in
      postgres) stop_postgres ;;
      redis | mongo) stop_pidfile "$2" "$RUN_DIR/$2.pid" ;;
      *) die "usage: $0 stop-one postgres|redis|mongo" ;;
    esac
    ;;
  start-one)
    case "${2:-}" in
      postgres) start_postgres ;; redis) start_redis ;; mongo) start_mongo ;;
      *) die "usage: $0 start-one postgres|redis|mongo" ;;
    esac
    ;;
  status)
    for s in postgres redis mongo s3; do
      if pid_alive "$RUN_DIR/$s.pid"; then echo "$s: running (pid $(head -n1 "$RUN_DIR/$s.pid"))"
      else echo "$s: stopped"; fi
    done
    web_status
    ;;
  browser) install_browser ;;
  clean)  # stop, then delete every byte of local data (PostgreSQL, Redis, MongoDB, logs)
    "$0" stop
    pg_dirs
    case "$PG_DIR" in /var/lib/slackclone/*) log "removing $(dirname "$PG_DIR")"; rm -rf "$(dirname "$PG_DIR")" ;; esac
    log "removing $DATA_DIR"
    rm -rf "$DATA_DIR"
    ;;
  *) echo "usage: $0 start|stop|status|browser|clean|start-one NAME|stop-one NAME" >&2; exit 2 ;;
esac
