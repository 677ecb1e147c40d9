"""The unread index (readstate.counting): counts are counted in PostgreSQL, kept by the
messages' own write transactions, rebuilt by `manage.py unread_index_rebuild`, and
follow retention and conversation deletion."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection

from messaging import services
from readstate.models import UnreadEntry
from tests.messaging.conftest import mongo_unreachable

pytestmark = pytest.mark.django_db(transaction=True)


def _send(where, user, content="hi", **extra):
    return services.message_send(sender=user, **where.kwargs, content=content, **extra).message


def _read_url(where):
    return where.url.rsplit("/messages", 1)[0] + "/read"


def _item(client, conversation_id):
    items = client.get("/api/v1/conversations").json()["results"]
    return next(item for item in items if item["id"] == str(conversation_id))


def test_the_counts_need_no_message_store(where, alice, bob, client_for):
    """The sidebar's counts and PUT …/read's answer are counted in PostgreSQL: they are
    right while MongoDB is unreachable (FerretDB 1.24 would scan a collection per
    count; MongoDB's outage no longer takes the badges down)."""
    _send(where, bob, "one")
    _send(where, bob, f"<@{alice.pk}> two")
    client = client_for(alice)
    before = _item(client, where.pk)
    _db, restore = mongo_unreachable()
    try:
        item = _item(client, where.pk)
        assert (item["unread_count"], item["mention_count"]) == (before["unread_count"], before["mention_count"])
        assert (item["unread_count"], item["mention_count"]) == (2, 1)
        answer = client.put(_read_url(where), {"seq": item["latest"]["seq"] - 1}, format="json")
        assert answer.status_code == 200, answer.json()
        assert (answer.json()["unread_count"], answer.json()["mention_count"]) == (1, 1)
    finally:
        restore()


def test_rebuild_restores_the_index_from_the_message_store(where, alice, bob, client_for):
    _send(where, bob, "one")
    deleted = _send(where, bob, "two")
    services.message_delete(user=bob, message_id=deleted.id, **where.kwargs)
    _send(where, bob, f"<@{alice.pk}> three")
    _send(where, alice, "mine")
    client = client_for(alice)
    expected = _item(client, where.pk)
    assert (expected["unread_count"], expected["mention_count"]) == (2, 1)
    rows = UnreadEntry.objects.filter(conversation_id=where.pk).count()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM unread_entries")
    assert _item(client, where.pk)["unread_count"] == 0  # lost: what an upgrade starts from
    call_command("unread_index_rebuild", verbosity=0)
    assert UnreadEntry.objects.filter(conversation_id=where.pk).count() == rows
    item = _item(client, where.pk)
    assert (item["unread_count"], item["mention_count"]) == (2, 1)


def test_retention_and_conversation_deletion_take_their_rows(channel, alice, bob):
    for n in range(3):
        services.message_send(sender=bob, channel_id=channel.pk, content=f"m{n}")
    assert UnreadEntry.objects.filter(conversation_id=channel.pk).count() == 3
    services.messages_purge(older_than=datetime.now(UTC) + timedelta(seconds=1), channel_id=channel.pk)
    assert UnreadEntry.objects.filter(conversation_id=channel.pk).count() == 0
    services.message_send(sender=bob, channel_id=channel.pk, content="after")
    from channels_app.services import channel_delete

    alice.is_staff = True
    channel_delete(channel=channel, by=alice)
    assert UnreadEntry.objects.filter(conversation_id=channel.pk).count() == 0


def test_check_consistency_reports_a_drifted_index_and_fix_rebuilds_it(where, alice, bob, client_for):
    """A restore of PostgreSQL without MongoDB (or the reverse) leaves the rows behind the
    messages: check_consistency reports the conversation, --fix rebuilds exactly it."""
    import io

    from django.core.management import CommandError

    from tests.helpers import capture_broadcasts

    _send(where, bob, "one")
    _send(where, bob, f"<@{alice.pk}> two")
    client = client_for(alice)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM unread_entries WHERE conversation_id = %s", [where.pk])
    out = io.StringIO()
    with pytest.raises(CommandError, match="problem"), capture_broadcasts():
        call_command("check_consistency", stdout=out)
    assert "Conversations whose unread index disagrees with MongoDB: 1" in out.getvalue()
    assert f"{where.pk}: 2 live message(s) to count, 0 indexed" in out.getvalue()
    with capture_broadcasts():
        call_command("check_consistency", "--fix", stdout=io.StringIO())
    item = _item(client, where.pk)
    assert (item["unread_count"], item["mention_count"]) == (2, 1)
    out = io.StringIO()
    with capture_broadcasts():
        call_command("check_consistency", stdout=out)
    assert "Conversations whose unread index disagrees with MongoDB: 0" in out.getvalue()


def test_concurrent_sends_edits_and_deletes_leave_exactly_the_live_messages_counted(where, alice, bob):
    """The rows are written in the writes' own transactions under the conversation's lock:
    an edit racing a delete of the same message never brings its row back, a send racing
    both is counted once. Afterwards the rows are exactly the live TEXT messages, with the
    mentions MongoDB stores."""
    from messaging.documents import ConversationKind
    from messaging.repositories import repository_for
    from slackclone import errors
    from tests.messaging.support import run_in_threads

    seeded = [_send(where, bob, f"m{n}") for n in range(8)]

    def act(index):
        if index >= 16:
            return _send(where, bob, f"new {index} <@{alice.pk}>")
        target = seeded[index // 2]
        try:
            if index % 2:
                return services.message_delete(user=bob, message_id=target.id, **where.kwargs)
            return services.message_edit(user=bob, message_id=target.id, content=f"<@{alice.pk}> e", **where.kwargs)
        except errors.NotFound:  # the edit came after the delete
            return None

    run_in_threads(20, act)
    live = {
        m.seq: sorted(m.mentions)
        for m in repository_for(ConversationKind(where.kind)).iter_live(conversation_id=where.pk)
        if m.type.value == "TEXT"
    }
    with connection.cursor() as cursor:
        cursor.execute("SELECT seq, mentions FROM unread_entries WHERE conversation_id = %s", [where.pk])
        rows = {seq: sorted(str(u) for u in mentions) for seq, mentions in cursor.fetchall()}
    assert len(live) == 4  # the 8 seeded are deleted, the 4 new ones live
    assert rows == live


def _stored(n: int):
    """`n` stored TEXT messages of one channel, as a rebuild reads them (no MongoDB needed)."""
    import uuid

    from messaging.documents import Conversation, ConversationKind, MessageDocument, MessageType

    conversation = Conversation(ConversationKind.CHANNEL, str(uuid.uuid4()), str(uuid.uuid4()))
    sender, now = str(uuid.uuid4()), datetime.now(UTC)
    return conversation, [
        MessageDocument(
            id=f"{seq:024x}",
            conversation=conversation,
            seq=seq,
            sender_id=sender,
            content=f"m{seq}",
            type=MessageType.TEXT,
            created_at=now,
            edited_at=None,
            client_msg_id=None,
            dedupe_key=f"k{seq}",
            mentions=(sender,) if seq % 2 else (),
        )
        for seq in range(1, n + 1)
    ]


def test_a_rebuild_of_a_large_conversation_writes_its_rows_in_bounded_statements(server_side_binding):
    """A rebuild gives a whole conversation's messages at once: they are written in
    statements of at most ROWS_PER_STATEMENT rows, so neither the text nor the
    parameters of one statement grow with the conversation (7,000 rows in one upsert
    are 70,000 parameters: PostgreSQL's limit is 65,535 when they are bound on the
    server)."""
    from django.db import transaction

    from readstate.counting import conversation_entries_rebuild

    conversation, messages = _stored(7000)
    with transaction.atomic():
        assert conversation_entries_rebuild(conversation, messages) == 7000
    assert UnreadEntry.objects.filter(conversation_id=conversation.id).count() == 7000
    assert UnreadEntry.objects.filter(conversation_id=conversation.id, mentions__len=1).count() == 3500
