#!/usr/bin/env python
"""Issue 17, session 5: what a 50-message page read costs on the message store for
documents of different shapes (raw pymongo, the repository's block query).

Seeds --messages documents per shape into `channel_messages`, each shape in its own
conversation (made by the repository's `to_mongo`, so every field the real documents
carry is there), then times the newest page as the API reads it (`window_page`'s block
reads: equality on the conversation and `seqBlock`, a seq range, hinted, newest first,
until 51 are found), the shapes' reads taken in turn (round-robin) so the machine's
load weighs on each alike. On FerretDB's PostgreSQL handler it also prints the stored
jsonb size of one document of each shape (`pg_column_size`: compressed if TOASTed) and
PostgreSQL's own time for the same block rows (`EXPLAIN ANALYZE` of the pushed-down
query, so what is left is FerretDB's decoding and the wire).

    .venv/bin/python bench/reaction_shapes.py --messages 2000 --requests 200
"""

import argparse
import base64
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "slackclone.settings")

import django

django.setup()

import bson  # noqa: E402
from django.conf import settings  # noqa: E402

from messaging.documents import Conversation, ConversationKind, MessageDocument, MessageType  # noqa: E402
from messaging.mongo import long_operations  # noqa: E402
from messaging.repositories import SEQ_BLOCK, ChannelMessageRepository, ensure_indexes  # noqa: E402

PAGE = 50
EMOJI = ("👍", "🎉", "❤️")


def _short(user_id: str) -> str:
    return base64.urlsafe_b64encode(uuid.UUID(user_id).bytes).decode().rstrip("=")


def _pairs(users):
    return [{"e": e, "u": u} for e in EMOJI for u in users]


SHAPES = {
    # name: (reply every other, mention every third, reactions every third: fields to add)
    "plain": (False, False, None),
    "rich, no reactions": (True, True, None),
    "rich, pairs [{e, u}] (before)": (
        True,
        True,
        lambda users: {"reactions": _pairs(users), "reactionEmoji": list(EMOJI)},
    ),
    "rich, strings ['e u']": (
        True,
        True,
        lambda users: {"reactions": [f"{e} {u}" for e in EMOJI for u in users], "reactionEmoji": list(EMOJI)},
    ),
    "rich, strings, 22-char ids": (
        True,
        True,
        lambda users: {
            "reactions": [f"{e} {_short(u)}" for e in EMOJI for u in users],
            "reactionEmoji": list(EMOJI),
        },
    ),
    "rich, map {e: [u]}": (True, True, lambda users: {"reactionUsers": {e: list(users) for e in EMOJI}}),
    "plain + 15 pairs": (False, False, lambda users: {"reactions": _pairs(users), "reactionEmoji": list(EMOJI)}),
    "plain + 15 strings": (
        False,
        False,
        lambda users: {"reactions": [f"{e} {u}" for e in EMOJI for u in users], "reactionEmoji": list(EMOJI)},
    ),
}


def seed(repo, conversation: Conversation, count: int, shape) -> None:
    replies, mentions, reactions = shape
    start = datetime(2020, 1, 1, tzinfo=UTC)
    users = [str(uuid.uuid4()) for _ in range(5)]
    root = repo.new_id()
    docs = []
    for seq in range(1, count + 1):
        doc = repo.to_mongo(
            MessageDocument(
                id=root if seq == 1 else repo.new_id(),
                conversation=conversation,
                seq=seq,
                sender_id=users[0],
                content=f"bench message {seq}" + (" @someone" if mentions else ""),
                type=MessageType.TEXT,
                created_at=start + timedelta(milliseconds=seq),
                edited_at=None,
                client_msg_id=None,
                dedupe_key=f"s:{seq}",
                thread_id=root if replies and seq > 1 and seq % 2 else None,
                mentions=(users[1],) if mentions and seq % 3 == 0 else (),
            )
        )
        if reactions and seq % 3 == 0:
            doc |= reactions(users)
        docs.append(doc)
    repo.collection.insert_many(docs)


def page_reader(repo, conversation_id: str, top: int):
    def run() -> int:
        found = 0
        high = top
        while found < PAGE + 1 and high >= 0:
            block = high // SEQ_BLOCK
            query = {
                "channelId": conversation_id,
                "seqBlock": f"{conversation_id}:{block}",
                "seq": {"$gte": block * SEQ_BLOCK, "$lte": high},
                "deletedAt": None,
            }
            cursor = repo.collection.find(query).sort("seq", -1).limit(PAGE + 1 - found).hint(repo.seq_index)
            found += len(list(cursor))
            high = block * SEQ_BLOCK - 1
        return found

    return run


def pg_figures(conversation_id: str, top: int) -> tuple[int, int, float]:
    """(pg_column_size and length as JSON text of the document with seq 3, one with
    reactions: the size stored, compressed when over TOAST's ~2 KB, and what FerretDB
    decodes; PostgreSQL's execution ms of a block's pushed-down query) on FerretDB's
    PostgreSQL database."""
    import psycopg

    from messaging.ferretdb import _tables

    with psycopg.connect(settings.FERRETDB_POSTGRESQL_URL, autocommit=True) as conn:
        table = _tables(conn, settings.MONGO_DB)["channel_messages"]
        qualified = f'"{settings.MONGO_DB}"."{table}"'
        block = f'"{conversation_id}:{top // SEQ_BLOCK - 1}"'
        stored, text = conn.execute(
            f"SELECT pg_column_size(_jsonb), octet_length(_jsonb::text) FROM {qualified} "
            "WHERE _jsonb->'seqBlock' @> %s::jsonb AND _jsonb->'seq' @> '3'",
            [f'"{conversation_id}:0"'],
        ).fetchone()
        plan = conn.execute(
            f"EXPLAIN (ANALYZE, FORMAT JSON) SELECT _jsonb FROM {qualified} WHERE _jsonb->'seqBlock' @> %s::jsonb",
            [block],
        ).fetchone()[0]
        return stored, text, plan[0]["Execution Time"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    ensure_indexes()
    repo = ChannelMessageRepository()
    convs = {name: Conversation(ConversationKind.CHANNEL, str(uuid.uuid4())) for name in SHAPES}
    load_before = os.getloadavg()
    try:
        with long_operations():
            for name, shape in SHAPES.items():
                seed(repo, convs[name], args.messages, shape)
        readers = {name: page_reader(repo, conv.id, args.messages) for name, conv in convs.items()}
        for fn in readers.values():
            fn()
        samples = {name: [] for name in readers}
        for _ in range(args.requests):
            for name, fn in readers.items():
                started = time.perf_counter()
                fn()
                samples[name].append((time.perf_counter() - started) * 1000)
        base = statistics.median(samples["plain"])
        print(f"load average {load_before[0]:.2f} -> {os.getloadavg()[0]:.2f}; {args.requests} reads per shape")
        print(
            f"{'shape':<32}{'p50 ms':>9}{'x plain':>9}{'p90 ms':>9}{'BSON B':>9}{'stored B':>9}{'JSON B':>9}"
            f"{'PG ms':>8}"
        )
        for name, found in samples.items():
            found.sort()
            raw = repo.collection.find_one({"channelId": convs[name].id, "seq": 3})
            bson_size = len(bson.encode(raw))
            try:
                stored, text, pg_ms = pg_figures(convs[name].id, args.messages)
            except Exception:  # not FerretDB on PostgreSQL
                stored, text, pg_ms = 0, 0, float("nan")
            p50 = statistics.median(found)
            print(
                f"{name:<32}{p50:>9.2f}{p50 / base:>9.2f}{found[int(len(found) * 0.9)]:>9.2f}"
                f"{bson_size:>9}{stored:>9}{text:>9}{pg_ms:>8.2f}"
            )
    finally:
        with long_operations():
            for conv in convs.values():
                for block in range(args.messages // SEQ_BLOCK + 1):
                    repo.collection.delete_many({"channelId": conv.id, "seqBlock": f"{conv.id}:{block}"})


if __name__ == "__main__":
    main()
