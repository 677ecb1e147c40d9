"""Reactions stored as one string per (emoji, user) (issue 17, session 5).

`reactions` holds "<emoji> <user id>" strings (before: `{e, u}` pairs, which FerretDB
1.24 decodes about twice as slowly as a plain message). A document stored before keeps
its pairs until `backfill_seq_blocks` rewrites them, and is read and changed correctly
meanwhile, even with both forms in one array (docs/threads-reactions.md)."""

import io

import pytest
from bson import ObjectId
from django.core.management import call_command

from messaging import reactions, services
from messaging.documents import ConversationKind
from messaging.repositories import repository_for
from tests.messaging.support import run_in_threads

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def where(where_all):
    return where_all


def _raw(where, message_id) -> dict:
    return repository_for(where.conversation.kind).collection.find_one({"_id": ObjectId(message_id)})


def _store_old_shape(where, message_id, items, emoji) -> None:
    """What a server before session 5 stored (plus, with strings among `items`, a
    document changed by the new code before the backfill reached it)."""
    repository_for(where.conversation.kind).collection.update_one(
        {"_id": ObjectId(message_id)}, {"$set": {"reactions": items, "reactionEmoji": emoji}}
    )


def _react(where, user, message_id, emoji, present=True):
    return reactions.reaction_set(user=user, message_id=message_id, emoji=emoji, present=present, **where.kwargs)


def test_a_reaction_is_stored_as_one_string_per_emoji_and_user(where, alice, bob):
    message = services.message_send(sender=alice, **where.kwargs, content="react").message
    _react(where, alice, message.id, ":+1:")
    _react(where, bob, message.id, "👍")
    _react(where, bob, message.id, "👍")  # idempotent
    _react(where, alice, message.id, ":tada:")
    raw = _raw(where, message.id)
    assert raw["reactions"] == [f"👍 {alice.pk}", f"👍 {bob.pk}", f"🎉 {alice.pk}"]
    assert raw["reactionEmoji"] == ["👍", "🎉"]

    after = _react(where, alice, message.id, "👍", present=False)
    assert [(r.emoji, r.user_ids) for r in after.reactions] == [("👍", (str(bob.pk),)), ("🎉", (str(alice.pk),))]
    _react(where, bob, message.id, "👍", present=False)
    raw = _raw(where, message.id)
    assert raw["reactions"] == [f"🎉 {alice.pk}"]
    assert raw["reactionEmoji"] == ["🎉"]


def test_a_message_stored_with_pairs_reads_and_changes_as_before(where, alice, bob, client_for):
    """The upgrade without downtime: old pairs, and a half-upgraded array holding both
    forms (bob's 🎉 twice), read as one reaction each; removing takes both forms away."""
    message = services.message_send(sender=alice, **where.kwargs, content="old").message
    a, b = str(alice.pk), str(bob.pk)
    _store_old_shape(
        where,
        message.id,
        [{"e": "👍", "u": a}, f"👍 {b}", {"e": "🎉", "u": b}, f"🎉 {b}"],
        ["👍", "🎉"],
    )
    client = client_for(alice)
    assert client.get(where.url).json()["results"][-1]["reactions"] == [
        {"emoji": "👍", "count": 2, "user_ids": [a, b]},
        {"emoji": "🎉", "count": 1, "user_ids": [b]},
    ]
    # Alice's old pair counts as her reaction: adding it again changes nothing.
    assert [r.count for r in _react(where, alice, message.id, "👍").reactions] == [2, 1]
    assert _raw(where, message.id)["reactions"][0] == {"e": "👍", "u": a}

    _react(where, alice, message.id, "👍", present=False)
    _react(where, bob, message.id, "🎉", present=False)
    raw = _raw(where, message.id)
    assert raw["reactions"] == [f"👍 {b}"]
    assert raw["reactionEmoji"] == ["👍"]
    _react(where, alice, message.id, "👍")
    assert _raw(where, message.id)["reactions"] == [f"👍 {b}", f"👍 {a}"]


def test_backfill_rewrites_pairs_as_strings_once(where, alice, bob):
    old = services.message_send(sender=alice, **where.kwargs, content="old").message
    mixed = services.message_send(sender=alice, **where.kwargs, content="mixed").message
    new = services.message_send(sender=alice, **where.kwargs, content="new").message
    a, b = str(alice.pk), str(bob.pk)
    _store_old_shape(where, old.id, [{"e": "🎉", "u": b}, {"e": "👍", "u": a}, {"e": "🎉", "u": a}], ["🎉", "👍"])
    _store_old_shape(where, mixed.id, [{"e": "👍", "u": a}, f"👍 {b}", {"e": "👍", "u": b}], ["👍"])
    _react(where, bob, new.id, "👍")
    repo = repository_for(where.conversation.kind)
    before = {m: repo.get(conversation_id=where.pk, message_id=m).reactions for m in (old.id, mixed.id, new.id)}

    out = io.StringIO()
    call_command("backfill_seq_blocks", stdout=out)
    assert f"{repo.collection_name}: 2 message(s) given compact reactions" in out.getvalue()
    assert _raw(where, old.id)["reactions"] == [f"🎉 {b}", f"👍 {a}", f"🎉 {a}"]
    assert _raw(where, old.id)["reactionEmoji"] == ["🎉", "👍"]
    assert _raw(where, mixed.id)["reactions"] == [f"👍 {a}", f"👍 {b}"]
    assert _raw(where, new.id)["reactions"] == [f"👍 {b}"]
    assert {m: repo.get(conversation_id=where.pk, message_id=m).reactions for m in before} == before

    out = io.StringIO()
    call_command("backfill_seq_blocks", stdout=out)  # idempotent
    assert f"{repo.collection_name}: 0 message(s) given compact reactions" in out.getvalue()


def test_the_backfill_beside_concurrent_reactions_loses_and_revives_none(make_user, make_channel):
    """Twelve users had reacted 👍 before the upgrade (pairs). While the backfill rewrites
    the message, six of them remove their 👍 and the other six add 🎉: every change
    stays (the backfill writes under the conversation's lock, with the array it read as
    its filter, so it never writes back a removed pair nor drops an added string)."""
    users = [make_user() for _ in range(12)]
    channel = make_channel(*users)
    message = services.message_send(sender=users[0], channel_id=channel.pk, content="vote").message
    repo = repository_for(ConversationKind.CHANNEL)
    repo.collection.update_one(
        {"_id": ObjectId(message.id)},
        {"$set": {"reactions": [{"e": "👍", "u": str(u.pk)} for u in users], "reactionEmoji": ["👍"]}},
    )

    def act(i):
        if i == 12:
            return reactions.reactions_backfill(repo)
        present = i >= 6
        emoji = "🎉" if present else "👍"
        return reactions.reaction_set(
            user=users[i], message_id=message.id, emoji=emoji, present=present, channel_id=channel.pk
        )

    run_in_threads(13, act)
    reactions.reactions_backfill(repo)  # a document changed under the first pass is converted now
    stored = repo.get(conversation_id=str(channel.pk), message_id=message.id)
    assert [(r.emoji, set(r.user_ids)) for r in stored.reactions] == [
        ("👍", {str(u.pk) for u in users[6:]}),
        ("🎉", {str(u.pk) for u in users[6:]}),
    ]
    assert all(isinstance(item, str) for item in _raw_channel(repo, message.id)["reactions"])


def _raw_channel(repo, message_id):
    return repo.collection.find_one({"_id": ObjectId(message_id)})


def test_the_backfill_over_many_messages_beside_removes_revives_none(make_user, make_channel):
    """Twenty messages with twelve old 👍 pairs each; while the backfill runs over them,
    every user removes their 👍 from every message: none comes back."""
    users = [make_user() for _ in range(8)]
    channel = make_channel(*users)
    repo = repository_for(ConversationKind.CHANNEL)
    messages = [
        services.message_send(sender=users[0], channel_id=channel.pk, content=f"m{i}").message for i in range(20)
    ]
    for message in messages:
        repo.collection.update_one(
            {"_id": ObjectId(message.id)},
            {"$set": {"reactions": [{"e": "👍", "u": str(u.pk)} for u in users], "reactionEmoji": ["👍"]}},
        )

    def act(i):
        if i == len(users):
            return reactions.reactions_backfill(repo)
        for message in reversed(messages):
            reactions.reaction_set(
                user=users[i], message_id=message.id, emoji="👍", present=False, channel_id=channel.pk
            )

    run_in_threads(len(users) + 1, act)
    for message in messages:
        assert _raw_channel(repo, message.id)["reactions"] == []
