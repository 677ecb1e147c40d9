"""History read in bounded seq windows (issue 13, section 1).

`MessageRepository.window_page` must return exactly what the unbounded keyset queries
(`newest_page`, `page_before`, `page_after`) return, while every query it sends names
one seq block (`seqBlock` equality plus a seq range): the store never reads the rest
of the conversation. Deleted messages and hidden replies inside a window must not
shorten a page or break has_more."""

import io
import random
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from pymongo import monitoring

from messaging import selectors, services
from messaging.cursors import encode_cursor
from messaging.documents import Conversation, ConversationKind, MessageDocument, MessageType
from messaging.repositories import (
    SEQ_BLOCK,
    WINDOW_MAX_BLOCKS,
    ChannelMessageRepository,
    DmMessageRepository,
    repository_for,
)
from tests.messaging.support import assert_index_used, run_in_threads

START = datetime(2024, 1, 1, tzinfo=UTC)


def _doc(conversation, seq, **extra):
    message_id = ChannelMessageRepository.new_id()
    return MessageDocument(
        id=message_id,
        conversation=conversation,
        seq=seq,
        sender_id=str(uuid.UUID(int=1)),
        content=f"m{seq}",
        type=MessageType.TEXT,
        created_at=START + timedelta(milliseconds=seq),
        edited_at=None,
        client_msg_id=None,
        dedupe_key=f"s:{message_id}",
        **extra,
    )


def _store(repo, conversation, seqs, *, deleted=(), replies=(), root=None):
    docs = []
    for seq in seqs:
        extra = {}
        if seq in deleted:
            extra |= {"deleted_at": START, "deleted_by": str(uuid.UUID(int=1))}
        if seq in replies:
            extra |= {"thread_id": root}
        docs.append(_doc(conversation, seq, **extra))
    repo.insert_many(docs)


class _Finds(monitoring.CommandListener):
    """Every `find` filter sent on this client while recording."""

    def __init__(self):
        self.filters: list[dict] = []
        self.recording = False

    def started(self, event):
        if self.recording and event.command_name == "find":
            self.filters.append(event.command.get("filter", {}))

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


_FINDS = _Finds()
monitoring.register(_FINDS)  # applies to clients created after this (a fresh one below)


@pytest.fixture
def recorded_repo():
    """A repository on a fresh MongoClient that reports every find filter."""
    from django.conf import settings
    from pymongo import MongoClient

    client = MongoClient(settings.MONGO_URL, tz_aware=True, serverSelectionTimeoutMS=2000)
    _FINDS.filters = []
    yield ChannelMessageRepository(db=client[settings.MONGO_DB]), _FINDS
    _FINDS.recording = False
    client.close()


def _reference(repo, conversation_id, *, limit, before=None, after=None, **view):
    if after is not None:
        return repo.page_after(conversation_id=conversation_id, seq=after, limit=limit, **view)
    if before is not None:
        return repo.page_before(conversation_id=conversation_id, seq=before, limit=limit, **view)
    return repo.newest_page(conversation_id=conversation_id, limit=limit, **view)


def test_a_page_of_a_long_conversation_reads_only_its_blocks(recorded_repo):
    repo, finds = recorded_repo
    conversation = Conversation(ConversationKind.CHANNEL, str(uuid.uuid4()))
    _store(repo, conversation, range(1, 2001))

    finds.recording = True
    newest = repo.window_page(conversation_id=conversation.id, top=2000, limit=51)
    deep = repo.window_page(conversation_id=conversation.id, top=2000, before=700, limit=51)
    catch_up = repo.window_page(conversation_id=conversation.id, top=2000, after=1980, limit=51)
    finds.recording = False

    assert [m.seq for m in newest] == list(range(2000, 1949, -1))
    assert [m.seq for m in deep] == list(range(699, 648, -1))
    assert [m.seq for m in catch_up] == list(range(1981, 2001))
    # Each find names one block of this conversation: a bounded read, never the history.
    assert finds.filters
    for query in finds.filters:
        assert query["channelId"] == conversation.id
        assert query["seqBlock"].startswith(f"{conversation.id}:")
        if isinstance(query["seq"], dict):  # a block's range
            assert set(query["seq"]) == {"$gte", "$lte"}
            assert query["seq"]["$lte"] - query["seq"]["$gte"] < SEQ_BLOCK
        else:  # the point read of the seq after the counter
            assert isinstance(query["seq"], int)
    # 51 messages span at most 3 blocks of 32; + 1 probe past the counter per page.
    assert len(finds.filters) <= 3 * 3 + 2


def test_deleted_messages_inside_a_window_do_not_shorten_the_page_or_break_has_more(recorded_repo):
    repo, _ = recorded_repo
    conversation = Conversation(ConversationKind.CHANNEL, str(uuid.uuid4()))
    # 300 messages; 101..250 deleted (almost 5 blocks), so the newest 51 visible span 50 + 1.
    _store(repo, conversation, range(1, 301), deleted=set(range(101, 251)))

    page = repo.window_page(conversation_id=conversation.id, top=300, limit=51)

    assert [m.seq for m in page] == [*range(300, 250, -1), 100]


def test_a_long_run_of_hidden_messages_is_finished_by_one_unbounded_read(recorded_repo):
    repo, finds = recorded_repo
    conversation = Conversation(ConversationKind.CHANNEL, str(uuid.uuid4()))
    last = SEQ_BLOCK * (WINDOW_MAX_BLOCKS + 4)
    _store(repo, conversation, range(1, last + 1), deleted=set(range(11, last - 4)))

    finds.recording = True
    page = repo.window_page(conversation_id=conversation.id, top=last, limit=8)
    finds.recording = False

    assert [m.seq for m in page] == [last, last - 1, last - 2, last - 3, last - 4, 10, 9, 8]
    assert len(finds.filters) == WINDOW_MAX_BLOCKS + 1 + 1  # blocks, the probe, then the keyset read
    assert "seqBlock" not in finds.filters[-1]


@pytest.mark.parametrize("seed", range(6))
def test_window_pages_equal_the_unbounded_keyset_pages(seed):
    """Random conversations (deleted runs, replies hidden in the channel view, a counter
    behind MongoDB, as while a batch commits or after a restore, or ahead of it) and
    random cursors: the same documents in the same order."""
    rng = random.Random(seed)
    repo = ChannelMessageRepository() if seed % 2 else DmMessageRepository()
    conversation = Conversation(repo.kind, str(uuid.uuid4()))
    last = rng.choice([5, 31, 32, 33, 150, 700])
    root = repo.new_id()
    deleted = {s for s in range(1, last + 1) if rng.random() < rng.choice([0.0, 0.2, 0.9])}
    if last > 100 and rng.random() < 0.5:
        deleted |= set(range(last // 3, last // 3 + 5 * SEQ_BLOCK))
    replies = {s for s in range(2, last + 1) if rng.random() < 0.3}
    _store(repo, conversation, range(1, last + 1), deleted=deleted, replies=replies, root=root)
    for top in {last, max(0, last - rng.randint(1, 40)), last + rng.randint(1, 40)}:
        for view in ({}, {"roots_only": True}, {"thread_id": root}):
            for limit in (1, 3, 51, 201):
                cases = [{}] + [{"before": rng.randint(0, last + 40)} for _ in range(3)]
                cases += [{"after": rng.randint(0, last + 40)} for _ in range(3)]
                for cursor in cases:
                    window = repo.window_page(conversation_id=conversation.id, top=top, limit=limit, **cursor, **view)
                    expected = _reference(repo, conversation.id, limit=limit, **cursor, **view)
                    assert [m.seq for m in window] == [m.seq for m in expected], (top, view, limit, cursor)


@pytest.mark.parametrize("repo_class", [ChannelMessageRepository, DmMessageRepository])
def test_a_window_read_uses_the_conversation_seq_index(repo_class):
    """On MongoDB: the block read is an IXSCAN of the (conversation, seq) index, no sort."""
    repo = repo_class()
    conversation = Conversation(repo.kind, str(uuid.uuid4()))
    _store(repo, conversation, range(1, 101))

    explain = repo.explain_window(conversation_id=conversation.id, seq=100, limit=51)

    assert_index_used(repo, explain, f"{repo.conversation_field}_1_seq_1")


def _ferretdb_postgresql_plan(repo, explain: dict) -> str:
    """FerretDB's explain: the PostgreSQL plan as text; skip or xfail where it does not apply."""
    if not repo.server_info().get("ferretdbVersion"):
        pytest.skip("real MongoDB: test_a_window_read_uses_the_conversation_seq_index covers it")
    plan = explain.get("queryPlanner", {}).get("Plan")
    if not isinstance(plan, dict):
        pytest.xfail(f"FerretDB's SQLite handler pushes no filter down (explain: {explain.get('queryPlanner')})")
    return str(plan)


@pytest.mark.parametrize("repo_class", [ChannelMessageRepository, DmMessageRepository])
def test_on_ferretdb_postgresql_window_id_and_dedupe_reads_use_the_gin_indexes(repo_class):
    """The embedded store answers a window, an _id and a dedupe lookup from the GIN indexes
    messaging.ferretdb creates (a Bitmap Index Scan), not a scan of the collection."""
    from bson import ObjectId

    from messaging.repositories_ext import explain

    repo = repo_class()
    conversation = Conversation(repo.kind, str(uuid.uuid4()))
    _store(repo, conversation, range(1, 101))
    sample = repo.window_page(conversation_id=conversation.id, top=100, limit=1)[0]

    window = repo.explain_window(conversation_id=conversation.id, seq=100, limit=51)
    plan = _ferretdb_postgresql_plan(repo, window)
    assert window.get("filterPushdown") is True
    assert "Bitmap Index Scan" in plan and "_sc_gin_seqblock" in plan, plan
    by_id = explain(
        repo, filter={repo.conversation_field: conversation.id, "_id": ObjectId(sample.id)}, sort={}, limit=1
    )
    assert "_sc_gin_id" in str(by_id["queryPlanner"]["Plan"]), by_id
    dedupe = explain(
        repo, filter={repo.conversation_field: conversation.id, "dedupeKey": sample.dedupe_key}, sort={}, limit=1
    )
    assert "_sc_gin_dedupekey" in str(dedupe["queryPlanner"]["Plan"]), dedupe


# --- through the API ------------------------------------------------------------------


def _page(client, where, **params):
    response = client.get(where.url, params)
    assert response.status_code == 200, response.content
    return response.json()


def test_paging_back_over_a_deleted_stretch_visits_every_live_message_once(client_for, alice, where):
    seqs = [services.message_send(sender=alice, **where.kwargs, content=f"m{i}").message.seq for i in range(140)]
    for message in repository_for(where.conversation.kind).page_after(
        conversation_id=where.pk, seq=30, limit=80
    ):  # 31..110 deleted: more than two blocks
        services.message_delete(user=alice, **where.kwargs, message_id=message.id)
    client = client_for(alice)

    first = _page(client, where, limit=25)
    second = _page(client, where, limit=25, before=first["before_cursor"])
    third = _page(client, where, limit=25, before=second["before_cursor"])
    fourth = _page(client, where, limit=25, before=third["before_cursor"])

    live = [s for s in seqs if not 31 <= s <= 110]
    assert [m["seq"] for m in first["results"]] == live[-25:]
    assert [m["seq"] for m in second["results"]] == live[-50:-25]
    assert second["has_more"] is True
    assert [m["seq"] for m in third["results"]] == live[:10]
    assert third["has_more"] is False
    assert fourth["results"] == [] and fourth["has_more"] is False
    after = _page(client, where, limit=25, after=encode_cursor(where.conversation, 20))
    assert [m["seq"] for m in after["results"]] == live[20:45] and after["has_more"] is True


@pytest.mark.django_db(transaction=True)
def test_newest_pages_read_during_concurrent_sends_are_contiguous(make_user, make_channel):
    """Writers in threads send while a reader keeps reading the newest page: a page may
    lag the writers but never has a hole (the counter bounds the window; what is stored
    past it is found too) and its has_more is right."""
    writers, per_writer = 4, 25
    users = [make_user() for _ in range(writers)]
    channel = make_channel(*users)
    done = threading.Event()
    failures: list[BaseException] = []
    pages: list[list[int]] = []

    def write(index):
        for i in range(per_writer):
            services.message_send(sender=users[index], channel_id=channel.pk, content=f"w{index}-{i}")

    def read():
        try:
            while not done.is_set():
                page = selectors.message_history(user=users[0], channel_id=channel.pk, limit=10)
                seqs = [m.seq for m in page.results]
                pages.append(seqs)
                assert seqs == list(range(seqs[0], seqs[0] + len(seqs))) if seqs else True, seqs
                assert page.has_more is (bool(seqs) and seqs[0] > 1), (seqs, page.has_more)
                time.sleep(0.001)
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    reader = threading.Thread(target=read)
    reader.start()
    try:
        run_in_threads(writers, write)
    finally:
        done.set()
        reader.join(timeout=60)

    assert not failures, failures
    assert len(pages) > 3
    final = selectors.message_history(user=users[0], channel_id=channel.pk, limit=10)
    assert [m.seq for m in final.results] == list(range(91, 101))


def test_backfill_seq_blocks_makes_documents_stored_before_windows_visible():
    from django.core.management import call_command

    repo = ChannelMessageRepository()
    conversation = Conversation(ConversationKind.CHANNEL, str(uuid.uuid4()))
    _store(repo, conversation, range(1, 81))
    repo.collection.update_many({repo.conversation_field: conversation.id}, {"$unset": {"seqBlock": ""}})
    assert repo.window_page(conversation_id=conversation.id, top=80, limit=5) == []

    out = io.StringIO()
    call_command("backfill_seq_blocks", stdout=out)
    call_command("backfill_seq_blocks", stdout=out)  # idempotent

    assert [m.seq for m in repo.window_page(conversation_id=conversation.id, top=80, limit=5)] == [80, 79, 78, 77, 76]
    assert repo.collection.count_documents({"seqBlock": None}) == 0


def test_ensure_indexes_made_the_gin_indexes_in_ferretdbs_postgresql_tables(settings):
    from messaging.ferretdb import GIN_FIELDS, gin_indexes_present

    if not ChannelMessageRepository().server_info().get("ferretdbVersion"):
        pytest.skip("real MongoDB: its own indexes serve these queries")
    try:
        present = gin_indexes_present(settings.MONGO_DB)
    except Exception as exc:  # no PostgreSQL database of FerretDB: the SQLite handler
        pytest.xfail(f"FerretDB is not on its PostgreSQL handler here: {exc!r}")
    assert set(present) == {"channel_messages", "dm_messages"}
    for names in present.values():
        assert len(names) == len(GIN_FIELDS), names


def test_the_gin_indexes_keep_no_pending_list(settings):
    """Session 13: with GIN's pending list (PostgreSQL's default `fastupdate`), every scan
    of an index read every entry inserted since the last vacuum. ensure_indexes makes the
    indexes without it, and on an index made before, turns it off and moves what waits
    in it into the index."""
    import psycopg
    from psycopg import sql

    from messaging import ferretdb
    from messaging.ferretdb import GIN_FIELDS, _tables, index_name
    from messaging.repositories import ensure_indexes

    repo = ChannelMessageRepository()
    if not repo.server_info().get("ferretdbVersion"):
        pytest.skip("real MongoDB: no GIN indexes")
    if not settings.FERRETDB_POSTGRESQL_URL:
        pytest.xfail("FerretDB's PostgreSQL database is not configured here")
    database = settings.MONGO_DB
    with psycopg.connect(settings.FERRETDB_POSTGRESQL_URL, autocommit=True) as conn:
        table = _tables(conn, database)["channel_messages"]
        names = [index_name(table, field) for field in GIN_FIELDS]

        options = {name: ferretdb.index_options(conn, database, name) for name in names}
        assert all(value == ["fastupdate=off"] for value in options.values()), options

        # An index made before: the pending list on, with entries waiting in it.
        old = sql.Identifier(database, names[0])
        conn.execute(sql.SQL("ALTER INDEX {} SET (fastupdate = on)").format(old))
        _store(repo, Conversation(repo.kind, str(uuid.uuid4())), range(1, 41))
        ensure_indexes()

        assert ferretdb.index_options(conn, database, names[0]) == ["fastupdate=off"]
        regclass = sql.Literal(old.as_string(conn))
        waiting = conn.execute(sql.SQL("SELECT gin_clean_pending_list({}::regclass)").format(regclass)).fetchone()[0]
        assert waiting == 0


def test_turning_the_pending_list_off_waits_briefly_for_a_busy_table(settings, monkeypatch, caplog):
    """The ALTER takes the index's exclusive lock: behind a long transaction on the table
    ensure_indexes gives up after ALTER_LOCK_TIMEOUT with a warning (a deploy must not
    hang, nor hold every send back behind it), once per table, not once per index (each
    wait holds every read and send of the table back), and the next run turns it off."""
    import psycopg
    from psycopg import sql

    from messaging import ferretdb
    from messaging.repositories import ensure_indexes

    repo = ChannelMessageRepository()
    if not repo.server_info().get("ferretdbVersion"):
        pytest.skip("real MongoDB: no GIN indexes")
    if not settings.FERRETDB_POSTGRESQL_URL:
        pytest.xfail("FerretDB's PostgreSQL database is not configured here")
    monkeypatch.setattr(ferretdb, "ALTER_LOCK_TIMEOUT", "200ms")
    database = settings.MONGO_DB
    with psycopg.connect(settings.FERRETDB_POSTGRESQL_URL, autocommit=True) as conn:
        table = ferretdb._tables(conn, database)["channel_messages"]
        names = [ferretdb.index_name(table, field) for field in ("seqBlock", "_id")]
        for name in names:  # as made before session 13
            conn.execute(sql.SQL("ALTER INDEX {} RESET (fastupdate)").format(sql.Identifier(database, name)))
        with psycopg.connect(settings.FERRETDB_POSTGRESQL_URL) as reader:  # a transaction left open
            # If ensure_indexes waited without a bound, the server ends this transaction
            # (and so the wait) after 10 s: the test fails instead of hanging.
            reader.execute("SET idle_in_transaction_session_timeout = '10s'")
            reader.execute(sql.SQL("SELECT 1 FROM {} LIMIT 1").format(sql.Identifier(database, table)))
            started = time.monotonic()
            ensure_indexes()
            assert time.monotonic() - started < 5
            busy = [r.getMessage() for r in caplog.records if "stays on until the next run" in r.getMessage()]
            assert len(busy) == 1 and table in busy[0], busy
            assert [ferretdb.index_options(conn, database, name) for name in names] == [[], []]
        monkeypatch.undo()  # the production wait: autovacuum may hold an index a moment
        ensure_indexes()
        assert [ferretdb.index_options(conn, database, name) for name in names] == [["fastupdate=off"]] * 2


def test_a_deploy_user_that_does_not_own_the_tables_is_warned_not_failed(settings, caplog):
    """Only a table's owner may ALTER its indexes: ensure_indexes run by another user
    (the indexes made by the owner) used to succeed and must still, warning that the
    pending list stays on."""
    import psycopg
    from psycopg import sql

    from messaging import ferretdb
    from messaging.repositories import ensure_indexes

    repo = ChannelMessageRepository()
    if not repo.server_info().get("ferretdbVersion"):
        pytest.skip("real MongoDB: no GIN indexes")
    if not settings.FERRETDB_POSTGRESQL_URL:
        pytest.xfail("FerretDB's PostgreSQL database is not configured here")
    database, role = settings.MONGO_DB, f"slackclone_test_deployer_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(settings.FERRETDB_POSTGRESQL_URL, autocommit=True) as conn:
        if not conn.execute("SELECT rolcreaterole OR rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[
            0
        ]:
            pytest.skip("the test user cannot create a role")
        table = ferretdb._tables(conn, database)["channel_messages"]
        name = ferretdb.index_name(table, "seqBlock")
        index = sql.Identifier(database, name)
        conn.execute(sql.SQL("ALTER INDEX {} RESET (fastupdate)").format(index))
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        try:
            conn.execute(
                sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(database), sql.Identifier(role))
            )
            conn.execute(
                sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(
                    sql.Identifier(database), sql.Identifier(role)
                )
            )
            settings.FERRETDB_POSTGRESQL_URL = psycopg.conninfo.make_conninfo(
                settings.FERRETDB_POSTGRESQL_URL, user=role
            )
            try:
                psycopg.connect(settings.FERRETDB_POSTGRESQL_URL, connect_timeout=5).close()
            except psycopg.OperationalError as exc:  # a cluster that wants a password
                pytest.skip(f"a new role cannot log in here: {exc}")

            assert ensure_indexes() == []

            assert "InsufficientPrivilege" in caplog.text and name in caplog.text
            assert ferretdb.index_options(conn, database, name) == []
        finally:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("ALTER INDEX {} SET (fastupdate = off)").format(index))
