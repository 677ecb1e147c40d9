"""Indexes that FerretDB 1.24's PostgreSQL handler needs but cannot make (issue 13).

FerretDB stores each collection as a PostgreSQL table of one `_jsonb` column and pushes
down only top-level equalities on scalars, as `_jsonb->'field' @> 'value'`
(internal/backends/postgresql/query.go); the btree indexes it creates for MongoDB
indexes, on `(_jsonb->'field')`, cannot serve `@>`, so without these every query is a
sequential scan of the collection. A GIN index on the same expression serves `@>`. They
are created here, directly in FerretDB's tables (FerretDB does not see them; dropping a
collection drops them with its table), for the equalities the message code relies on:

    seqBlock    one block of a history window (MessageRepository.window_page)
    _id         every message read or write by id (edit, delete, reactions, pins...)
    dedupeKey   the send retry's lookup (find_by_dedupe_key)
    threadId    a thread's replies (a thread stored before its replies were numbered)
    threadBlock a block of a thread's replies, by their place in the thread (issue 17;
                session 14: MessageRepository.thread_page)

They are made WITHOUT GIN's pending list (`fastupdate = off`; session 13). With it,
PostgreSQL's default, new entries wait in an unsorted list that EVERY scan of the index
reads whole, until a vacuum or 4 MB of them moves them into the index: after 90,000
messages were stored, each history block read scanned 90,000 pending entries per index
(a point read took 3.3 ms instead of 0.65, a history page 30-38 ms instead of 17-19).
An insert now updates the index at once instead (one more index entry per message and
index, under the send's write). `ensure_gin_indexes` also turns the list off on indexes
made before, and moves what waits in it into the index (`gin_clean_pending_list`).

Real MongoDB needs none of this: its (conversation, seq), _id and (conversation,
dedupeKey) indexes serve the same queries. `ensure_indexes` calls `ensure_gin_indexes`
only when the server is FerretDB and settings.FERRETDB_POSTGRESQL_URL names its
PostgreSQL database; a FerretDB on SQLite (no such database) is reported and skipped.
"""

import logging

from django.conf import settings

logger = logging.getLogger(__name__)

GIN_FIELDS = ("seqBlock", "_id", "dedupeKey", "threadId", "threadBlock")
COLLECTIONS = ("channel_messages", "dm_messages")
_METADATA_TABLE = "_ferretdb_database_metadata"
ALTER_LOCK_TIMEOUT = "3s"


def index_name(table: str, field: str) -> str:
    return f"{table}_sc_gin_{field.strip('_').lower()}"


def ensure_gin_indexes(database: str) -> list[str]:
    """Create the missing GIN indexes on the message tables of MongoDB database
    `database` in FerretDB's PostgreSQL database; return "<collection>.<index>" of those
    created. CONCURRENTLY: a deploy on a big table does not block sends. [] (and a
    warning) if that database cannot be reached or holds no such tables. Existing ones
    lose their pending list (_without_pending_list: a warning, never an error, if that
    cannot be done now)."""
    import psycopg
    from psycopg import sql

    url = settings.FERRETDB_POSTGRESQL_URL
    if not url:
        return []
    created: list[str] = []
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            tables = _tables(conn, database)
            for collection in COLLECTIONS:
                table = tables.get(collection)
                if table is None:
                    continue
                existing = _indexes(conn, database, table)
                settle = True  # until one index of the table cannot be changed (busy, not ours)
                for field in GIN_FIELDS:
                    name = index_name(table, field)
                    if existing.get(name):
                        settle = settle and _without_pending_list(conn, database, table, name)
                        continue
                    if name in existing:  # a concurrent build that failed leaves an invalid index
                        conn.execute(
                            sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(database, name))
                        )
                    conn.execute(
                        sql.SQL(
                            "CREATE INDEX CONCURRENTLY IF NOT EXISTS {} ON {} "
                            "USING gin ((_jsonb -> {}) jsonb_path_ops) WITH (fastupdate = off)"
                        ).format(sql.Identifier(name), sql.Identifier(database, table), sql.Literal(field))
                    )
                    created.append(f"{collection}.{name}")
    except psycopg.OperationalError as exc:
        logger.warning("FerretDB's PostgreSQL database is unreachable, no GIN indexes: %.200s", exc)
        return []
    return created


def _without_pending_list(conn, database: str, table: str, name: str) -> bool:
    """Turn GIN's pending list off on an index made before session 13 (the module
    docstring) and move what waits in it into the index; a no-op once done. True, or
    False if the index could not be changed: then a warning, the caller leaves the
    table's other indexes alone for this run and the next `ensure_mongo_indexes` tries
    again (the index works either way, only slower): the ALTER and the cleanup never raise.

    The ALTER takes the index's ACCESS EXCLUSIVE lock (not the table's) for an instant;
    every query planned on the table takes the ACCESS SHARE lock of each of its indexes,
    and while the ALTER waits, every new read and insert of the table waits behind it.
    So it waits at most ALTER_LOCK_TIMEOUT for the transactions in flight on the table,
    once per table and run (the caller stops at the first failure). It also fails for a
    user that does not own the table (PostgreSQL: only the owner may ALTER an index or
    clean its pending list), which is warned about, not raised: the indexes exist and a
    deploy must not fail for this. Moving the entries takes the index's ROW EXCLUSIVE
    lock: reads and writes go on meanwhile."""
    import psycopg
    from psycopg import sql

    index = sql.Identifier(database, name)
    if _fastupdate_off(index_options(conn, database, name)):
        return True
    conn.execute(sql.SQL("SET lock_timeout = {}").format(sql.Literal(ALTER_LOCK_TIMEOUT)))
    try:
        conn.execute(sql.SQL("ALTER INDEX {} SET (fastupdate = off)").format(index))
    except psycopg.DatabaseError as exc:  # busy (LockNotAvailable), not the table's owner, read-only...
        logger.warning(
            "GIN index %s.%s: its pending list (and those of %s's other indexes) stays on until the next run: "
            "%s: %.200s",
            database,
            name,
            table,
            type(exc).__name__,
            exc,
        )
        return False
    finally:
        if not conn.closed:
            conn.execute("RESET lock_timeout")
    try:
        moved = conn.execute(
            sql.SQL("SELECT gin_clean_pending_list({}::regclass)").format(sql.Literal(index.as_string(conn)))
        ).fetchone()[0]
    except psycopg.DatabaseError as exc:
        logger.warning(
            "GIN index %s.%s: pending list off, what waits in it stays until a vacuum: %s: %.200s",
            database,
            name,
            type(exc).__name__,
            exc,
        )
        return True
    logger.info("GIN index %s.%s: pending list off, %s pages moved into the index", database, name, moved)
    return True


def _fastupdate_off(options: list[str]) -> bool:
    """Whether storage options ("fastupdate=off", ...) turn GIN's pending list off
    (PostgreSQL keeps the value as written: off, false, no, 0)."""
    values = dict(option.split("=", 1) for option in options if "=" in option)
    return values.get("fastupdate", "").lower() in ("off", "false", "no", "0", "f", "n")


def index_options(conn, database: str, name: str) -> list[str]:
    """The storage options ("fastupdate=off", ...) of index `name` of FerretDB's schema
    `database` (FerretDB names a collection's table alike in every database)."""
    row = conn.execute(
        "SELECT c.reloptions FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s",
        [database, name],
    ).fetchone()
    return (row and row[0]) or []


def _indexes(conn, database: str, table: str) -> dict[str, bool]:
    """{index name: valid} of one table."""
    rows = conn.execute(
        "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace "
        "WHERE n.nspname = %s AND t.relname = %s",
        [database, table],
    )
    return {name: valid for name, valid in rows}


def _tables(conn, database: str) -> dict[str, str]:
    """{collection: FerretDB's table} of MongoDB database `database` ({} if none)."""
    from psycopg import sql

    exists = conn.execute(
        "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
        [database, _METADATA_TABLE],
    ).fetchone()
    if not exists:
        return {}
    rows = conn.execute(
        sql.SQL("SELECT _jsonb->>'_id', _jsonb->>'table' FROM {}").format(sql.Identifier(database, _METADATA_TABLE))
    )
    return {collection: table for collection, table in rows}


def gin_indexes_present(database: str) -> dict[str, list[str]]:
    """{collection: names of its valid GIN indexes made here} (tests, checks)."""
    import psycopg

    with psycopg.connect(settings.FERRETDB_POSTGRESQL_URL, autocommit=True, connect_timeout=5) as conn:
        tables = _tables(conn, database)
        return {
            collection: sorted(
                name
                for name, valid in _indexes(conn, database, table).items()
                if valid and name.startswith(f"{table}_sc_gin_")
            )
            for collection, table in tables.items()
            if collection in COLLECTIONS
        }
