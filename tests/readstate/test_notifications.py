"""Notifications (issue 18): decided by the server once per message and recipient; for
DMs, mentions (direct or of the conversation) and followed-thread replies; never to the
sender, not during DND, not in a muted conversation unless mentioned directly."""

from datetime import UTC, datetime, timedelta

import pytest

from messaging import services
from readstate import services as readstate_services
from tests.helpers import capture_broadcasts
from tests.messaging.support import run_in_threads

pytestmark = pytest.mark.django_db(transaction=True)


def _notified(captured) -> dict[str, list[str]]:
    """{user_id: [reasons]} of the notifications captured."""
    out: dict[str, list[str]] = {}
    for call in captured.of("user_events"):
        assert call["event_type"] == "notification"
        for uid, fields in call["per_user"].items():
            out.setdefault(uid, []).append(fields["reason"])
    return out


def _send(sender, content="hi", **where):
    with capture_broadcasts() as captured:
        message = services.message_send(sender=sender, content=content, **where).message
    return message, _notified(captured)


@pytest.fixture
def trio(make_channel, make_dm, alice, bob, make_user):
    carol = make_user("carol")
    return carol, make_channel(alice, bob, carol), make_dm(alice, bob)


def test_a_dm_notifies_the_other_user_not_the_sender(trio, alice, bob):
    _carol, _channel, dm = trio
    _message, notified = _send(alice, "hello", conversation_id=dm.pk)
    assert notified == {str(bob.pk): ["dm"]}


def test_a_plain_channel_message_notifies_nobody(trio, alice):
    _carol, channel, _dm = trio
    assert _send(alice, "hello", channel_id=channel.pk)[1] == {}


def test_direct_and_conversation_mentions(trio, alice, bob, make_user):
    carol, channel, _dm = trio
    outsider = make_user("dave")
    _m, notified = _send(alice, f"<@{bob.pk}> and <@{outsider.pk}> and <@{alice.pk}>", channel_id=channel.pk)
    assert notified == {str(bob.pk): ["mention"]}  # not a non-member, not the sender
    _m, notified = _send(alice, "@channel standup", channel_id=channel.pk)
    assert notified == {str(bob.pk): ["mention"], str(carol.pk): ["mention"]}


def test_a_dm_mention_is_a_mention(trio, alice, bob):
    _carol, _channel, dm = trio
    assert _send(alice, f"<@{bob.pk}> look", conversation_id=dm.pk)[1] == {str(bob.pk): ["mention"]}


def test_followed_thread_replies(trio, alice, bob, client_for):
    carol, channel, _dm = trio
    root, _ = _send(alice, "root", channel_id=channel.pk)
    _r, notified = _send(bob, "first reply", channel_id=channel.pk, thread_id=root.id)
    assert notified == {str(alice.pk): ["thread_reply"]}  # the root's author follows; carol does not
    _r, notified = _send(carol, "second", channel_id=channel.pk, thread_id=root.id)
    assert notified == {str(alice.pk): ["thread_reply"], str(bob.pk): ["thread_reply"]}
    client_for(bob).delete(f"/api/v1/channels/{channel.pk}/messages/{root.id}/follow")
    _r, notified = _send(carol, "third", channel_id=channel.pk, thread_id=root.id)
    assert notified == {str(alice.pk): ["thread_reply"]}


def test_dnd_suppresses_until_it_ends(trio, alice, bob):
    _carol, _channel, dm = trio
    readstate_services.status_update(user=bob, dnd_until=datetime.now(UTC) + timedelta(hours=1))
    assert _send(alice, f"<@{bob.pk}> urgent", conversation_id=dm.pk)[1] == {}
    readstate_services.status_update(user=bob, dnd_until=datetime.now(UTC) - timedelta(seconds=1))
    assert _send(alice, "now?", conversation_id=dm.pk)[1] == {str(bob.pk): ["dm"]}


def test_muted_conversations_notify_only_a_direct_mention(trio, alice, bob):
    carol, channel, dm = trio
    readstate_services.preferences_set(user=bob, muted=True, channel_id=channel.pk)
    readstate_services.preferences_set(user=bob, muted=True, conversation_id=dm.pk)
    assert _send(alice, "@channel standup", channel_id=channel.pk)[1] == {str(carol.pk): ["mention"]}
    assert _send(alice, "psst", conversation_id=dm.pk)[1] == {}
    assert _send(alice, f"<@{bob.pk}> you", channel_id=channel.pk)[1] == {str(bob.pk): ["mention"]}
    assert _send(alice, f"@{bob.username} you", conversation_id=dm.pk)[1] == {str(bob.pk): ["mention"]}


def test_system_messages_notify_nobody(trio, alice):
    _carol, channel, _dm = trio
    with capture_broadcasts() as captured:
        services.system_message_post(channel_id=channel.pk, content=f"<@{alice.pk}> @channel")
    assert _notified(captured) == {}


def _edit(user, message, content, **where):
    with capture_broadcasts() as captured:
        services.message_edit(user=user, message_id=message.id, content=content, **where)
    return _notified(captured)


def test_an_edit_adding_a_mention_notifies_once_never_twice(trio, alice, bob):
    carol, channel, dm = trio
    message, notified = _send(alice, "hello", channel_id=channel.pk)
    assert notified == {}
    assert _edit(alice, message, f"hello <@{bob.pk}>", channel_id=channel.pk) == {str(bob.pk): ["mention"]}
    assert _edit(alice, message, "hello", channel_id=channel.pk) == {}
    assert _edit(alice, message, f"hello <@{bob.pk}> again", channel_id=channel.pk) == {}  # never twice
    assert _edit(alice, message, f"<@{bob.pk}> @channel", channel_id=channel.pk) == {str(carol.pk): ["mention"]}
    # Already notified for the DM message itself: a mention added later does not notify again.
    dm_message, notified = _send(alice, "hi", conversation_id=dm.pk)
    assert notified == {str(bob.pk): ["dm"]}
    assert _edit(alice, dm_message, f"hi <@{bob.pk}>", conversation_id=dm.pk) == {}


def test_concurrent_edits_adding_the_same_mention_notify_once(trio, alice, bob):
    _carol, channel, _dm = trio
    message, _ = _send(alice, "hello", channel_id=channel.pk)
    with capture_broadcasts() as captured:
        run_in_threads(
            4,
            lambda i: services.message_edit(
                user=alice, message_id=message.id, content=f"v{i} <@{bob.pk}>", channel_id=channel.pk
            ),
        )
    assert _notified(captured) == {str(bob.pk): ["mention"]}
