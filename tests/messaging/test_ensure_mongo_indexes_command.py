"""manage.py ensure_mongo_indexes, run against a scratch database."""

import io

import pytest
from django.core.management import CommandError, call_command

from messaging.mongo import get_client


@pytest.fixture
def scratch_db(settings):
    name = f"{settings.MONGO_DB}_indexes"
    get_client().drop_database(name)
    settings.MONGO_DB = name
    yield get_client()[name]
    get_client().drop_database(name)


def test_creates_every_index_then_none(scratch_db):
    out = io.StringIO()
    call_command("ensure_mongo_indexes", stdout=out)

    assert out.getvalue().count("created ") == 20
    assert "channel_messages.channelId_1_seq_1" in out.getvalue()
    assert "20 created, 0 already present" in out.getvalue()

    again = io.StringIO()
    call_command("ensure_mongo_indexes", stdout=again)
    assert "0 created, 20 already present" in again.getvalue()


def test_an_index_with_our_name_and_other_keys_is_a_clear_error(scratch_db):
    scratch_db["channel_messages"].create_index([("channelId", 1), ("other", 1)], name="channelId_1_seq_1")

    with pytest.raises(CommandError, match=r"channelId_1_seq_1.*Drop it"):
        call_command("ensure_mongo_indexes", stdout=io.StringIO())


def test_our_keys_under_another_name_is_a_clear_error(scratch_db):
    scratch_db["dm_messages"].create_index([("conversationId", 1), ("seq", 1)], name="legacy_seq", unique=True)

    with pytest.raises(CommandError, match="legacy_seq"):
        call_command("ensure_mongo_indexes", stdout=io.StringIO())


def test_a_unique_index_that_is_not_unique_is_a_clear_error(scratch_db):
    scratch_db["dm_messages"].create_index(
        [("conversationId", 1), ("dedupeKey", 1)], name="conversationId_1_dedupeKey_1"
    )

    with pytest.raises(CommandError, match="unique=False"):
        call_command("ensure_mongo_indexes", stdout=io.StringIO())


def test_an_unreachable_server_is_a_clear_error(mongo_down):
    with pytest.raises(CommandError, match="unavailable"):
        call_command("ensure_mongo_indexes", stdout=io.StringIO())
