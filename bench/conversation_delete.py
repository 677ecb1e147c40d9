#!/usr/bin/env python
"""Deleting one conversation's messages from a collection that holds many others.

    .venv/bin/python bench/conversation_delete.py                       # 10,000 of 50,000
    .venv/bin/python bench/conversation_delete.py --messages 2000 --others 8000   # smoke

Seeds --others messages in other conversations and --messages in one, then deletes that
one's with `delete_conversation` (one delete per seq block, session 12) and, re-seeded,
the way it was done before (`before_session_12` below: the matching `_id`s streamed and
deleted 5,000 at a time with `_id: {$in: [...]}`), in the same run, on the configured
store (the embedded FerretDB by default).
Prints the seconds of each, or the error (FerretDB 1.24 filters `$in` in Go after
decoding every document of the collection: a batch can outlast the socket timeout).
The seeded messages are removed at the end.
"""

import argparse
import time
import uuid

from common import django_setup


def before_session_12(repo, conversation_id: str) -> int:
    """`delete_matching` as it was before session 12 (the same-run baseline)."""
    deleted, batch = 0, []
    for raw in repo.collection.find({repo.conversation_field: conversation_id}, projection={"_id": 1}):
        batch.append(raw["_id"])
        if len(batch) == 5000:
            deleted += repo.collection.delete_many({"_id": {"$in": batch}}).deleted_count
            batch = []
    if batch:
        deleted += repo.collection.delete_many({"_id": {"$in": batch}}).deleted_count
    return deleted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000, help="messages of the deleted conversation")
    parser.add_argument("--others", type=int, default=40_000, help="messages of other conversations")
    args = parser.parse_args()
    django_setup()
    from history import seed  # bench/history.py's seeder: 90% into one conversation, the rest spread

    from messaging.documents import Conversation, ConversationKind
    from messaging.repositories import ChannelMessageRepository

    repo = ChannelMessageRepository()
    sender = str(uuid.uuid4())
    others = [Conversation(ConversationKind.CHANNEL, str(uuid.uuid4())) for _ in range(10)]
    seed(repo, others[0], others[1:], sender, 1, args.others, {})
    results = {}
    try:
        for name, delete in (
            ("by seq blocks (delete_conversation)", lambda cid: repo.delete_conversation(conversation_id=cid)),
            ("by _id batches (before session 12)", lambda cid: before_session_12(repo, cid)),
        ):
            target = Conversation(ConversationKind.CHANNEL, str(uuid.uuid4()))
            seed(repo, target, [], sender, args.others + 1, args.messages, {})
            started = time.perf_counter()
            try:
                deleted = delete(target.id)
                results[name] = f"{time.perf_counter() - started:.2f} s ({deleted} deleted)"
            except Exception as exc:  # the point of the comparison: say how it failed
                results[name] = f"FAILED after {time.perf_counter() - started:.2f} s: {exc!r}"[:200]
                repo.delete_conversation(conversation_id=target.id)
            print(f"{name}: {results[name]}", flush=True)
    finally:
        for other in others:
            repo.delete_conversation(conversation_id=other.id)


if __name__ == "__main__":
    main()
