"""Archiving a channel while messages are being sent into it: a send either completes
before the archive or is refused with 409, never stored after the archive committed.
Threads with their own PostgreSQL connections stand in for two server processes."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import transaction

from channels_app import services as channel_services
from channels_app.models import Channel
from messaging import services
from messaging.documents import ConversationKind
from messaging.models import MessageSequence
from messaging.mongo import get_db
from messaging.repositories import repository_for
from slackclone import errors
from tests.helpers import capture_broadcasts
from tests.messaging.support import in_thread as _in_thread

pytestmark = pytest.mark.django_db(transaction=True)

BLOCKED = 0.5  # how long a call must stay blocked to count as waiting for the lock


def _stored(channel) -> list[str]:
    return [doc["content"] for doc in get_db()["channel_messages"].find({"channelId": str(channel.pk)})]


def _archived_by(staff) -> str:
    """The SYSTEM message an archive posts before it marks the channel."""
    return f"{staff.username} archived the channel"


def _besides_the_archive(captured, staff) -> list[str]:
    """What was broadcast other than the archive's own notice and channel.updated."""
    return [
        name
        for name, kwargs in captured.calls
        if name != "channel_updated"
        and not (name == "message_created" and kwargs["message"]["content"] == _archived_by(staff))
    ]


def test_an_archive_waits_for_the_send_in_flight_which_is_stored_before_it(make_channel, alice, staff, monkeypatch):
    channel = make_channel(alice)
    # Its first message: the send's seq row is not committed while it is in flight.
    assert not MessageSequence.objects.filter(conversation_id=channel.pk).exists()
    repo = repository_for(ConversationKind.CHANNEL)
    real_insert = repo.insert
    inside, go = threading.Event(), threading.Event()

    def slow_insert(message):  # the send holds the conversation's lock here
        inside.set()
        assert go.wait(10)
        return real_insert(message)

    monkeypatch.setattr(repo, "insert", slow_insert)
    with ThreadPoolExecutor(2) as pool, capture_broadcasts():
        send = _in_thread(pool, services.message_send, sender=alice, channel_id=channel.pk, content="in flight")
        assert inside.wait(10)
        archive = _in_thread(pool, channel_services.channel_archive, channel=channel, by=staff)

        with pytest.raises(TimeoutError):
            archive.result(timeout=BLOCKED)  # waiting for the send's lock
        go.set()
        sent = send.result(timeout=10)
        archive.result(timeout=10)

    assert sent.created is True
    assert _stored(channel) == ["in flight", _archived_by(staff)]
    assert Channel.objects.get(pk=channel.pk).archived_at >= sent.message.created_at
    with pytest.raises(errors.Conflict):
        services.message_send(sender=alice, channel_id=channel.pk, content="too late")


def _refused_while_an_archive_commits(channel, staff, write, **kwargs):
    """Archive `channel` in a transaction held open; meanwhile start write(**kwargs): the
    channel does not look archived yet to others, so it passes the first check, then
    waits for the lock the archive holds. Commit the archive; the write must then be
    refused. Returns the Conflict and what was broadcast."""
    archived, go = threading.Event(), threading.Event()

    def archive_and_hold():
        with transaction.atomic():
            channel_services.channel_archive(channel=channel, by=staff)
            archived.set()
            assert go.wait(10)

    with ThreadPoolExecutor(2) as pool, capture_broadcasts() as captured:
        archive = _in_thread(pool, archive_and_hold)
        assert archived.wait(10)
        pending = _in_thread(pool, write, **kwargs)
        with pytest.raises(TimeoutError):
            pending.result(timeout=BLOCKED)
        go.set()
        archive.result(timeout=10)
        with pytest.raises(errors.Conflict) as refused:
            pending.result(timeout=10)
    return refused.value, captured


def test_a_send_that_passed_the_check_while_the_archive_commits_is_refused_and_consumes_no_seq(
    make_channel, alice, staff
):
    channel = make_channel(alice)
    with capture_broadcasts():
        services.message_send(sender=alice, channel_id=channel.pk, content="before")

    refused, captured = _refused_while_an_archive_commits(
        channel, staff, services.message_send, sender=alice, channel_id=channel.pk, content="racing"
    )

    assert refused.code == "channel_archived"
    assert _stored(channel) == ["before", _archived_by(staff)]
    assert _besides_the_archive(captured, staff) == []
    assert MessageSequence.objects.get(conversation_id=channel.pk).last_seq == 2  # "before", the notice


def test_an_edit_that_passed_the_check_while_the_archive_commits_is_refused(make_channel, alice, staff):
    channel = make_channel(alice)
    with capture_broadcasts():
        original = services.message_send(sender=alice, channel_id=channel.pk, content="before").message

    refused, captured = _refused_while_an_archive_commits(
        channel,
        staff,
        services.message_edit,
        user=alice,
        channel_id=channel.pk,
        message_id=original.id,
        content="after",
    )

    assert refused.code == "channel_archived"
    assert _stored(channel) == ["before", _archived_by(staff)]
    assert _besides_the_archive(captured, staff) == []
