#!/usr/bin/env python
"""FerretDB 1.24's SQLite handler against its PostgreSQL handler, in one run (issue 13, section 1).

    .venv/bin/python bench/store_handlers.py                       # 10,000 and 100,000 messages
    .venv/bin/python bench/store_handlers.py --messages 2000 --requests 3   # smoke

For each handler a private FerretDB is started here on a free port (SQLite: in a
temporary directory; PostgreSQL: a temporary database of the dev cluster, PG_PORT),
and a third time with the PostgreSQL handler plus GIN indexes created directly in its
tables on `(_jsonb->'channelId')`, `(_jsonb->'dedupeKey')`, `(_jsonb->'_id')` and
`(_jsonb->'seqBlock')` (since issue 13 `ensure_mongo_indexes` makes all but the first)
(FerretDB does not see them; its own btree indexes on `(_jsonb->'k')` cannot serve the
`@>` it pushes down). The collection is seeded with --messages (growing), 90% in one big
channel and the rest over 100 small ones, through the project's repository (its
indexes, its document shape), and the repository's own operations are timed at each
size (p50 / p99 over --requests calls): the newest page of the big and of a small
channel, a deep page of the big one (90% back), a catch-up page (after a cursor near the
end), the dedupe lookup of a send retry, an `_id` lookup, an edit and a soft delete; and
the same four pages as the history read runs them since issue 13 (`window_page`: bounded
seq windows below the conversation's counter, "window: ...").

Everything runs on the machine's shared cores with the dev services; each FerretDB and
its data are removed at the end.
"""

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, django_setup, free_port, percentile

FERRETDB = (
    Path(
        os.environ.get(
            "SLACKCLONE_CACHE_DIR", Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "slackclone"
        )
    )
    / "bin"
    / f"ferretdb-{os.environ.get('FERRETDB_VERSION', 'v1.24.0')}"
)


def services_gc_env() -> dict[str, str]:
    """FerretDB's garbage collector as scripts/services.sh starts it (`GOGC`, `GOMEMLIMIT`
    from its FERRETDB_GOGC and FERRETDB_GOMEMLIMIT: the environment, else the script's
    defaults), so that a private FerretDB's numbers compare with the dev services'."""
    text = (ROOT / "scripts" / "services.sh").read_text()
    env = {}
    for variable, name in (("FERRETDB_GOGC", "GOGC"), ("FERRETDB_GOMEMLIMIT", "GOMEMLIMIT")):
        default = text.split(f'{variable}="${{{variable}:-', 1)[1].split("}", 1)[0]
        env[name] = os.environ.get(variable, default)
    return env


SMALL_CHANNELS = 100
PAGE = 50
GIN_FIELDS = ("channelId", "dedupeKey", "_id", "seqBlock")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", default="10000,100000", help="collection sizes, ascending (default 10000,100000)")
    parser.add_argument("--requests", type=int, default=10, help="timed calls per operation and size (default 10)")
    parser.add_argument(
        "--handlers", default="sqlite,postgresql,postgresql+gin", help="default sqlite,postgresql,postgresql+gin"
    )
    return parser.parse_args()


@contextlib.contextmanager
def ferretdb(handler: str, *, database: str | None = None, env: dict[str, str] | None = None):
    """A private FerretDB: yields (its MongoDB URL, its PostgreSQL database or None, its
    process). PostgreSQL handler: in `database` of the dev cluster if given (left in
    place), else in a temporary one (dropped at the end). Its environment has the
    garbage collector of scripts/services.sh (`services_gc_env`), then `env`."""
    from django.conf import settings
    from django.db import connection

    port, state = free_port(), Path(tempfile.mkdtemp(prefix="slackclone-ferret-"))
    created = None
    args = [str(FERRETDB), f"--listen-addr=127.0.0.1:{port}", f"--state-dir={state}", "--debug-addr=127.0.0.1:0"]
    args += ["--telemetry=disable", "--log-level=warn"]
    if handler == "sqlite":
        (state / "sqlite").mkdir()
        args += ["--handler=sqlite", f"--sqlite-url=file:{state}/sqlite/"]
    else:
        if database is None:
            database = created = f"ferretdb_bench_{uuid.uuid4().hex[:8]}"
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{database}"')
        db = settings.DATABASES["default"]
        url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{database}"
        args += ["--handler=postgresql", f"--postgresql-url={url}"]
    log = (state / "ferretdb.log").open("w")
    environment = {**os.environ, **services_gc_env(), **(env or {})}
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=environment)
    try:
        from pymongo import MongoClient

        url = f"mongodb://127.0.0.1:{port}/"
        client = MongoClient(url, serverSelectionTimeoutMS=30000)
        client.admin.command("ping")
        client.close()
        yield url, database, process
    finally:
        process.terminate()
        process.wait(30)
        shutil.rmtree(state, ignore_errors=True)
        if created is not None:
            with connection.cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{created}" WITH (FORCE)')


def gin_indexes(database: str, mongo_db: str) -> None:
    """GIN indexes on FerretDB's PostgreSQL table of channel_messages, made directly."""
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    with psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=database, autocommit=True) as conn:
        table = conn.execute(
            f"SELECT _jsonb->>'table' FROM \"{mongo_db}\"._ferretdb_database_metadata WHERE _jsonb->>'_id' = %s",
            ["channel_messages"],
        ).fetchone()[0]
        for field in GIN_FIELDS:
            conn.execute(
                f'CREATE INDEX IF NOT EXISTS "{table}_gin_{field.strip("_")}" ON "{mongo_db}"."{table}" '
                f"USING gin ((_jsonb->'{field}'))"
            )


def seed(repo, channel_ids: list[str], big: str, first: int, count: int, state: dict) -> None:
    """Insert `count` messages: 90% into `big`, the rest round-robin over the small ones."""
    from messaging.documents import Conversation, ConversationKind, MessageDocument, MessageType

    start = datetime(2020, 1, 1, tzinfo=UTC)
    batch = []
    for n in range(first, first + count):
        cid = big if n % 10 else channel_ids[(n // 10) % len(channel_ids)]
        state[cid] = seq = state.get(cid, 0) + 1
        message_id = repo.new_id()
        batch.append(
            MessageDocument(
                id=message_id,
                conversation=Conversation(ConversationKind.CHANNEL, cid),
                seq=seq,
                sender_id=str(uuid.UUID(int=1)),
                content=f"bench message {n}",
                type=MessageType.TEXT,
                created_at=start + timedelta(milliseconds=n),
                edited_at=None,
                client_msg_id=f"c{n}",
                dedupe_key=f"c:c{n}",
            )
        )
        if len(batch) == 5000:
            repo.insert_many(batch)
            batch = []
    if batch:
        repo.insert_many(batch)


def timed(fn, requests: int) -> tuple[float, float]:
    fn()  # warm-up
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), percentile(samples, 99)


def measure(repo, big: str, small: str, state: dict, requests: int) -> dict:
    big_last = state[big]
    sample = repo.newest_page(conversation_id=big, limit=1)[0]
    n = [0]

    def edit():
        n[0] += 1
        repo.edit(conversation_id=big, message_id=sample.id, content=f"edited {n[0]}", edited_at=datetime.now(UTC))

    victims = [m.id for m in repo.page_before(conversation_id=big, seq=big_last // 2, limit=requests + 1)]

    def delete():
        repo.soft_delete(
            conversation_id=big,
            message_id=victims.pop(),
            deleted_by=str(uuid.UUID(int=1)),
            deleted_at=datetime.now(UTC),
        )

    small_last = state[small]
    ops = {
        # issue 13: the seq-window reads the API runs now (MessageRepository.window_page)
        "window: newest, big": lambda: repo.window_page(conversation_id=big, top=big_last, limit=PAGE + 1),
        "window: newest, small": lambda: repo.window_page(conversation_id=small, top=small_last, limit=PAGE + 1),
        "window: deep, big": lambda: repo.window_page(
            conversation_id=big, top=big_last, before=big_last // 10, limit=PAGE + 1
        ),
        "window: catch-up, big": lambda: repo.window_page(
            conversation_id=big, top=big_last, after=big_last - 20, limit=PAGE + 1
        ),
        # the keyset queries the history read ran before issue 13 (the baseline)
        "newest page, big channel": lambda: repo.newest_page(conversation_id=big, limit=PAGE + 1),
        "newest page, small channel": lambda: repo.newest_page(conversation_id=small, limit=PAGE + 1),
        "deep page, big channel": lambda: repo.page_before(conversation_id=big, seq=big_last // 10, limit=PAGE + 1),
        "catch-up (after a cursor)": lambda: repo.page_after(conversation_id=big, seq=big_last - 20, limit=PAGE + 1),
        "dedupe lookup (send retry)": lambda: repo.find_by_dedupe_key(conversation_id=big, dedupe_key="c:c11"),
        "_id lookup": lambda: repo.get(conversation_id=big, message_id=sample.id),
        "edit": edit,
        "soft delete": delete,
    }
    return {name: timed(fn, requests) for name, fn in ops.items()}


def run_handler(handler: str, sizes: list[int], requests: int) -> dict:
    from django.conf import settings

    from messaging import mongo
    from messaging.repositories import ChannelMessageRepository, ensure_indexes

    results = {}
    with ferretdb(handler.split("+")[0]) as (url, database, _process):
        settings.MONGO_URL = url
        db = settings.DATABASES["default"]
        # ensure_indexes makes the project's GIN indexes (messaging.ferretdb) only in "+gin".
        settings.FERRETDB_POSTGRESQL_URL = (
            f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{database}" if handler.endswith("+gin") else ""
        )
        mongo._client = None
        stack = contextlib.ExitStack()
        stack.enter_context(mongo.long_operations())  # a page on SQLite at 100k takes longer than a request may
        ensure_indexes()
        if handler.endswith("+gin"):
            gin_indexes(database, settings.MONGO_DB)
        repo = ChannelMessageRepository()
        channel_ids = [str(uuid.uuid4()) for _ in range(SMALL_CHANNELS)]
        big, state, seeded = str(uuid.uuid4()), {}, 0
        for size in sizes:
            started = time.perf_counter()
            seed(repo, channel_ids, big, seeded, size - seeded, state)
            print(f"  {handler}: seeded {size - seeded:,} (now {size:,}) in {time.perf_counter() - started:.1f} s")
            seeded = size
            results[size] = measure(repo, big, channel_ids[0], state, requests)
            for name, (p50, p99) in results[size].items():
                print(f"  {handler} {size:>9,} {name:<28} p50 {p50:9.1f} ms  p99 {p99:9.1f} ms", flush=True)
        stack.close()
        mongo.get_client().close()
        mongo._client = None
    return results


def main() -> None:
    args = parse_args()
    django_setup()
    sizes = sorted(int(x) for x in args.messages.split(","))
    handlers = [h for h in args.handlers.split(",") if h]
    print(f"FerretDB {FERRETDB.name}; sizes {sizes}; {args.requests} calls per cell; load {os.getloadavg()[0]:.2f}")
    results = {handler: run_handler(handler, sizes, args.requests) for handler in handlers}
    ops = list(next(iter(next(iter(results.values())).values())))
    print(f"\np99 ms ({args.requests} calls each; load average now {os.getloadavg()[0]:.2f})")
    header = f"{'operation':<28}" + "".join(f"{h + ' ' + format(s, ','):>26}" for h in handlers for s in sizes)
    print(header)
    print("-" * len(header))
    for op in ops:
        print(f"{op:<28}" + "".join(f"{results[h][s][op][1]:>26.1f}" for h in handlers for s in sizes))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        os.chdir(ROOT)
        main()
