#!/usr/bin/env python
"""The embedded store's own settings, each beside its baseline in one run (session 13):
FerretDB's Go garbage collector, and the pending list of the GIN indexes in its tables.

    .venv/bin/python bench/embedded_store.py                                   # about 3 minutes
    .venv/bin/python bench/embedded_store.py --messages 1000 --bulk 5000 --requests 20   # smoke

1. The garbage collector. Two FerretDB processes serve ONE temporary PostgreSQL database
   of the dev cluster (PG_PORT): one with Go's default (`GOGC=100`, the baseline), one
   with what scripts/services.sh sets (`FERRETDB_GOGC`, `FERRETDB_GOMEMLIMIT`; default
   800 and 1GiB). The project's indexes are made (`ensure_mongo_indexes`, the GIN ones
   included) and bench/history.py's plain and rich channels (--messages each: replies,
   reactions, mentions) are stored once. Then the repository's page reads, the two
   servers taking turns read by read, --requests each: the plain channel's newest page,
   the rich one's, and a thread's replies. And each server's memory at the end.
2. The GIN pending list. With the GIN indexes' pending list ON (PostgreSQL's default,
   the baseline), --bulk messages are stored in one more conversation (through the first
   server, which made the database); the second server times the reads a history page
   and a send make (newest page, a deep page, the dedupe lookup of a send retry, an
   `_id` lookup). Then
   `ensure_mongo_indexes` (it turns the list off and moves what waits in it into the
   index) and the same reads again. The entries waiting are counted with
   `pgstatginindex` where the pgstattuple extension can be created.

Prints p50 / p99 in ms per read and the ratio to the baseline. Everything it made is
removed at the end.
"""

import argparse
import contextlib
import functools
import itertools
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, django_setup, percentile

GOGC_BASELINE = {"GOGC": "100", "GOMEMLIMIT": "off"}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000, help="messages of each measured channel (default 5000)")
    parser.add_argument("--bulk", type=int, default=50000, help="messages stored for part 2 (default 50000)")
    parser.add_argument("--requests", type=int, default=200, help="timed reads per cell (default 200)")
    return parser.parse_args()


def stats(samples: list[float]) -> tuple[float, float]:
    return statistics.median(samples), percentile(samples, 99)


def alternate(cells: dict[str, dict[str, callable]], requests: int) -> dict[str, dict[str, tuple[float, float]]]:
    """{read: {config: fn}} -> {read: {config: (p50, p99)}}, configs taking turns."""
    results = {}
    for read, by_config in cells.items():
        samples = {config: [] for config in by_config}
        for fn in by_config.values():
            fn()  # warm-up
        for _, (config, fn) in itertools.product(range(requests), by_config.items()):
            started = time.perf_counter()
            fn()
            samples[config].append((time.perf_counter() - started) * 1000)
        results[read] = {config: stats(values) for config, values in samples.items()}
    return results


def report(title: str, results: dict, baseline: str, other: str) -> None:
    print(f"\n{title}")
    print(f"  {'read':<28} {baseline + ' p50 / p99':>26} {other + ' p50 / p99':>26} {'p50 ratio':>10}")
    for read, by_config in results.items():
        (b50, b99), (o50, o99) = by_config[baseline], by_config[other]
        print(f"  {read:<28} {b50:>12.2f} / {b99:>9.2f} {o50:>12.2f} / {o99:>9.2f} {o50 / b50:>9.2f}x")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def gin_pending_entries(conn, schema: str) -> int | None:
    """Entries waiting in the pending lists of the project's GIN indexes, or None."""
    try:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pgstattuple")
    except Exception:  # not a superuser, or no contrib package: not counted
        return None
    rows = conn.execute(
        "SELECT sum((pgstatginindex(c.oid)).pending_tuples) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname LIKE %s",
        [schema, "%\\_sc\\_gin\\_%"],
    ).fetchone()
    return int(rows[0] or 0)


def main() -> None:
    args = parse_args()
    django_setup()
    import history
    import psycopg
    from django.conf import settings
    from pymongo import MongoClient
    from store_handlers import FERRETDB, ferretdb, services_gc_env, timed

    from messaging import mongo
    from messaging.documents import Conversation, ConversationKind
    from messaging.repositories import ChannelMessageRepository, ensure_indexes

    tuned = services_gc_env()
    configs = {"GOGC=100": GOGC_BASELINE, f"GOGC={tuned['GOGC']}": tuned}
    baseline, other = configs
    print(
        f"FerretDB {FERRETDB.name}; {args.messages:,} messages per channel, {args.bulk:,} bulk; "
        f"{args.requests} reads per cell; load {os.getloadavg()[0]:.2f}"
    )
    with contextlib.ExitStack() as stack:
        first_url, database, first = stack.enter_context(ferretdb("postgresql", env=GOGC_BASELINE))
        db = settings.DATABASES["default"]
        pg_url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{database}"
        settings.MONGO_URL, settings.FERRETDB_POSTGRESQL_URL, mongo._client = first_url, pg_url, None
        stack.enter_context(mongo.long_operations())
        seeding = ChannelMessageRepository(db=stack.enter_context(MongoClient(first_url))[settings.MONGO_DB])
        plain, rich = (Conversation(ConversationKind.CHANNEL, str(uuid.uuid4())) for _ in range(2))
        started = time.perf_counter()
        ensure_indexes()
        history.seed(seeding, plain, [], "bench", 1, args.messages, {})
        root = history.seed_rich(seeding, rich, "bench", args.messages)
        print(f"stored 2 x {args.messages:,} messages in {time.perf_counter() - started:.1f} s")
        # Started once the collection exists: a FerretDB 1.24 process knows the collections
        # of its PostgreSQL database as they were when it started, or as it made them.
        second_url, _, second = stack.enter_context(ferretdb("postgresql", database=database, env=tuned))
        repos = {
            name: ChannelMessageRepository(db=stack.enter_context(MongoClient(url))[settings.MONGO_DB])
            for name, url in zip(configs, (first_url, second_url), strict=True)
        }

        def page(repo, conversation, top=args.messages, **view):
            return lambda: repo.window_page(conversation_id=conversation.id, top=top, limit=51, **view)

        cells = {
            "plain newest page": {name: page(repo, plain) for name, repo in repos.items()},
            "rich newest page": {name: page(repo, rich) for name, repo in repos.items()},
            "thread replies page": {
                name: functools.partial(history.thread_page_read, repo, rich.id, args.messages, root, 51)
                for name, repo in repos.items()
            },
        }
        for read, by_config in cells.items():  # both servers must answer alike, and fully
            answers = [[message.id for message in fn()] for fn in by_config.values()]
            if len(answers[0]) != 51 or answers[0] != answers[1]:
                sys.exit(f"{read}: the two servers answered {[len(answer) for answer in answers]} messages, unlike")
        report("1. FerretDB's garbage collector, the same data", alternate(cells, args.requests), baseline, other)
        print(f"  memory at the end: {baseline} {rss_mb(first.pid):.0f} MB, {other} {rss_mb(second.pid):.0f} MB")

        # 2. The GIN pending list, through the tuned server.
        repo = repos[other]
        bulk = Conversation(ConversationKind.CHANNEL, str(uuid.uuid4()))
        with psycopg.connect(pg_url, autocommit=True) as conn:
            names = [
                name
                for (name,) in conn.execute(
                    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = %s AND c.relname LIKE %s",
                    [settings.MONGO_DB, "%\\_sc\\_gin\\_%"],
                )
            ]
            for name in names:
                conn.execute(f'ALTER INDEX "{settings.MONGO_DB}"."{name}" SET (fastupdate = on)')
            started = time.perf_counter()
            # Stored through the first server, which made the database: the second one, started
            # later, would try to make it again (FerretDB 1.24's metadata is per process).
            history.seed(repos[baseline], bulk, [], "bench", 1, args.bulk, {})
            stored = time.perf_counter() - started
            waiting = gin_pending_entries(conn, settings.MONGO_DB)
            sample = repo.window_page(conversation_id=bulk.id, top=args.bulk, limit=1)[0]
            reads = {
                "newest page": page(repo, bulk, top=args.bulk),
                "deep page": lambda: repo.window_page(
                    conversation_id=bulk.id, top=args.bulk, before=args.bulk // 10, limit=51
                ),
                "dedupe lookup (send retry)": lambda: repo.find_by_dedupe_key(
                    conversation_id=bulk.id, dedupe_key=sample.dedupe_key
                ),
                "_id lookup": lambda: repo.get(conversation_id=bulk.id, message_id=sample.id),
            }
            results = {read: {"pending list on": timed(fn, args.requests)} for read, fn in reads.items()}
            still = gin_pending_entries(conn, settings.MONGO_DB)
            ensure_indexes()  # turns the list off, moves the waiting entries in
            for read, fn in reads.items():
                results[read]["off (ensure_indexes)"] = timed(fn, args.requests)
        print(
            f"\nstored {args.bulk:,} messages with the pending list on in {stored:.1f} s; entries waiting in the "
            f"{len(names)} GIN indexes: {waiting if waiting is not None else 'not counted'} after the insert, "
            f"{still if still is not None else 'not counted'} after the reads"
        )
        report("2. GIN's pending list, the same data", results, "pending list on", "off (ensure_indexes)")
        mongo.get_client().close()
        mongo._client = None
    print(f"\nload average now {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        os.chdir(ROOT)
        main()
