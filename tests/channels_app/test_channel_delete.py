"""Deleting a channel: PostgreSQL rows, MongoDB messages, audit, and the admin pages."""

import pytest
from django.urls import reverse

from channels_app.models import Channel, ChannelMember
from channels_app.services import channel_delete
from messaging.documents import ConversationKind
from messaging.models import MessageSequence
from messaging.repositories import repository_for
from messaging.services import message_send
from moderation.models import AuditLogEntry
from slackclone import errors
from tests.helpers import capture_broadcasts


def _channel_with_messages(name, user, count):
    channel = Channel.objects.create(name=name, created_by=user)
    ChannelMember.objects.create(channel=channel, user=user)
    with capture_broadcasts():
        for n in range(count):
            message_send(sender=user, channel_id=channel.pk, content=f"{name} {n}")
    return channel


def _stored(channel) -> int:
    return repository_for(ConversationKind.CHANNEL).count(conversation_id=str(channel.pk))


def test_delete_removes_the_row_memberships_counter_and_messages_and_is_audited(
    alice, staff, django_capture_on_commit_callbacks
):
    doomed = _channel_with_messages("doomed", alice, 3)
    kept = _channel_with_messages("kept", alice, 2)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        result = channel_delete(channel=doomed, by=staff)

    assert len(callbacks) == 2  # channel.deleted, and the MongoDB clean-up, wait for the commit
    assert not Channel.objects.filter(pk=doomed.pk).exists()
    assert not ChannelMember.objects.filter(channel_id=doomed.pk).exists()
    assert not MessageSequence.objects.filter(conversation_id=doomed.pk).exists()
    assert _stored(doomed) == 0
    assert _stored(kept) == 2
    assert (result.name, result.memberships, result.messages) == ("doomed", 1, 3)
    entry = AuditLogEntry.objects.get()
    assert (entry.action, entry.target_id, entry.actor_id) == ("channel_delete", str(doomed.pk), staff.pk)
    assert entry.detail == {"name": "doomed", "memberships": 1, "messages": 3}


def test_messages_stay_until_the_deletion_commits(alice, staff, django_capture_on_commit_callbacks):
    doomed = _channel_with_messages("doomed", alice, 2)

    with django_capture_on_commit_callbacks(execute=False):
        channel_delete(channel=doomed, by=staff)

    assert _stored(doomed) == 2  # not committed (the test's transaction): MongoDB untouched


def test_only_staff_may_delete(alice):
    doomed = _channel_with_messages("doomed", alice, 1)

    with pytest.raises(errors.PermissionDenied):
        channel_delete(channel=doomed, by=alice)
    assert Channel.objects.filter(pk=doomed.pk).exists()


def test_the_admin_delete_page_confirms_with_the_message_count_then_uses_the_service(
    staff_client, alice, django_capture_on_commit_callbacks
):
    doomed = _channel_with_messages("doomed", alice, 4)
    url = reverse("admin:channels_app_channel_delete", args=[doomed.pk])

    confirm = staff_client.get(url)

    assert confirm.status_code == 200
    assert b"Its 4 messages in MongoDB are deleted too" in confirm.content
    with django_capture_on_commit_callbacks(execute=True):
        done = staff_client.post(url, {"post": "yes"})

    assert done.status_code == 302
    assert not Channel.objects.filter(pk=doomed.pk).exists()
    assert _stored(doomed) == 0
    assert AuditLogEntry.objects.filter(action="channel_delete", target_id=str(doomed.pk)).exists()


def test_the_delete_selected_action_confirms_then_uses_the_service(
    staff_client, alice, django_capture_on_commit_callbacks
):
    one, two = _channel_with_messages("one", alice, 1), _channel_with_messages("two", alice, 1)
    changelist = reverse("admin:channels_app_channel_changelist")
    selection = {"action": "delete_selected", "_selected_action": [str(one.pk), str(two.pk)]}

    confirm = staff_client.post(changelist, selection)

    assert confirm.status_code == 200
    assert b"Their messages in MongoDB are deleted too" in confirm.content
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(changelist, {**selection, "post": "yes"})

    assert not Channel.objects.exists()
    assert _stored(one) == _stored(two) == 0
    assert AuditLogEntry.objects.filter(action="channel_delete").count() == 2
