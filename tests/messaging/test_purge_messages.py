"""manage.py purge_messages: retention by age, per collection, with --dry-run."""

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command

from messaging.documents import Conversation, ConversationKind
from messaging.mongo import get_db
from messaging.services import MessageDraft, messages_import

NOW = datetime.now(UTC)


def _import(kind, pk, ages_in_days):
    return messages_import(
        conversation=Conversation(kind, str(pk)),
        drafts=[
            MessageDraft(sender_id=None, content=f"{age} days", created_at=NOW - timedelta(days=age))
            for age in ages_in_days
        ],
    )


@pytest.fixture
def stored(make_channel, make_dm, alice, bob):
    general, random, dm = make_channel(alice, name="general"), make_channel(alice, name="random"), make_dm(alice, bob)
    _import(ConversationKind.CHANNEL, general.pk, [100, 40, 31, 5, 0])
    _import(ConversationKind.CHANNEL, random.pk, [60, 1])
    _import(ConversationKind.DM, dm.pk, [90, 45, 2])
    return general, random, dm


def purge(*args) -> str:
    out = io.StringIO()
    call_command("purge_messages", *args, stdout=out)
    return out.getvalue()


def contents(collection, **query) -> list[str]:
    return sorted(doc["content"] for doc in get_db()[collection].find(query))


def test_dry_run_counts_per_collection_and_changes_nothing(stored):
    before = (contents("channel_messages"), contents("dm_messages"))

    out = purge("--older-than", "30", "--dry-run")

    assert "channel_messages: 4 would be deleted" in out
    assert "dm_messages: 2 would be deleted" in out
    assert "Total: 6 messages would be deleted (dry run: nothing changed)." in out
    assert (contents("channel_messages"), contents("dm_messages")) == before


def test_purge_deletes_only_messages_older_than_the_cutoff_everywhere(stored):
    out = purge("--older-than", "30")

    assert "channel_messages: 4 deleted" in out and "dm_messages: 2 deleted" in out
    assert contents("channel_messages") == ["0 days", "1 days", "5 days"]
    assert contents("dm_messages") == ["2 days"]
    assert "Total: 0" in purge("--older-than", "30")


def test_purge_of_one_channel_leaves_other_channels_and_dms(stored):
    general, random, _dm = stored

    out = purge("--older-than", "30", "--channel", str(general.pk))

    assert "channel_messages: 3 deleted" in out and "dm_messages" not in out
    assert contents("channel_messages", channelId=str(general.pk)) == ["0 days", "5 days"]
    assert contents("channel_messages", channelId=str(random.pk)) == ["1 days", "60 days"]
    assert len(contents("dm_messages")) == 3


def test_purged_history_still_pages_and_sends_continue_the_seq(stored, alice, client_for):
    general, _random, _dm = stored
    purge("--older-than", "30")

    history = client_for(alice).get(f"/api/v1/channels/{general.pk}/messages").json()

    assert [m["seq"] for m in history["results"]] == [4, 5]
    assert history["has_more"] is False


def test_progress_is_reported_as_the_deletes_go_with_verbosity_2(stored, monkeypatch):
    """Each delete takes one seq block (delete_matching); progress comes about every
    DELETE_BATCH_SIZE deletions: with 1, after each block (general's 5 messages and
    random's 2 are a block each, in either order; the DM's 3 one)."""
    from messaging import repositories

    monkeypatch.setattr(repositories.operations, "DELETE_BATCH_SIZE", 1)
    out = io.StringIO()
    call_command("purge_messages", "--older-than", "0", verbosity=2, stdout=out)

    lines = [line.split(" (")[0].strip() for line in out.getvalue().splitlines() if "so far" in line]
    assert lines in (
        ["channel_messages: 5 deleted so far", "channel_messages: 7 deleted so far", "dm_messages: 3 deleted so far"],
        ["channel_messages: 2 deleted so far", "channel_messages: 7 deleted so far", "dm_messages: 3 deleted so far"],
    ), lines
    assert re.search(r"Total: 10 messages deleted in \d+\.\d s\.", out.getvalue())
    assert get_db()["channel_messages"].count_documents({}) == get_db()["dm_messages"].count_documents({}) == 0


def test_the_command_runs_with_the_long_operations_client(stored, monkeypatch):
    from messaging import mongo

    used = []
    real = mongo.get_operations_client
    monkeypatch.setattr(mongo, "get_operations_client", lambda: used.append(1) or real())

    purge("--older-than", "30", "--dry-run")

    assert used


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("--older-than", "-1"), "whole number of days"),
        (("--older-than", "ten"), "whole number of days"),
        (("--older-than", "1", "--channel", "not-a-uuid"), "Channel not found"),
        (("--older-than", "1", "--channel", "00000000-0000-0000-0000-000000000000"), "Channel not found"),
    ],
)
def test_bad_arguments_are_clear_errors(db, args, error):
    with pytest.raises(CommandError, match=error):
        purge(*args)


def test_older_than_is_required(db):
    with pytest.raises(CommandError, match="--older-than"):
        purge()


def test_an_unreachable_mongodb_is_a_clear_error(db, mongo_down):
    with pytest.raises(CommandError, match="mongo"):
        purge("--older-than", "30")


def test_a_store_that_refuses_the_operation_is_a_clear_error(stored, monkeypatch):
    from pymongo.errors import OperationFailure

    from messaging import repositories

    def refuse(self, query, **kwargs):
        raise OperationFailure("too many SQL variables")

    monkeypatch.setattr(repositories.MessageRepository, "delete_matching", refuse)

    with pytest.raises(CommandError, match="OperationFailure: too many SQL variables"):
        purge("--older-than", "30")
