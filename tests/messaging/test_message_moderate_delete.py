"""messaging.services.message_moderate_delete (the admin's delete) and the audit of
staff deletes through the API."""

import pytest

from messaging.documents import ConversationKind
from messaging.repositories import repository_for
from messaging.services import message_delete, message_moderate_delete, message_send, system_message_post
from moderation.models import AuditLogEntry
from slackclone import errors
from tests.helpers import capture_broadcasts


@pytest.fixture
def staff(make_user):
    return make_user("mod", is_staff=True)


def _send(user, content, **scope):
    with capture_broadcasts():
        return message_send(sender=user, content=content, **scope).message


def test_moderate_delete_soft_deletes_audits_and_broadcasts_each_message(where, alice, bob, staff):
    mine, theirs = _send(alice, "one", **where.kwargs), _send(bob, "two", **where.kwargs)
    repo = repository_for(ConversationKind(where.kind))

    with capture_broadcasts() as broadcasts:
        deleted = message_moderate_delete(kind=ConversationKind(where.kind), message_ids=[mine.id, theirs.id], by=staff)

    assert {m.id for m in deleted} == {mine.id, theirs.id}
    assert all(m.deleted_by == str(staff.pk) and m.deleted_at >= m.created_at for m in deleted)
    assert repo.get(conversation_id=where.pk, message_id=mine.id) is None
    assert sorted(broadcasts.of("message_deleted"), key=lambda c: c["message_id"]) == sorted(
        [{"message_id": mine.id, where.api_field: where.pk}, {"message_id": theirs.id, where.api_field: where.pk}],
        key=lambda c: c["message_id"],
    )
    entries = AuditLogEntry.objects.all()
    assert {(e.target_id, e.action, e.actor_id) for e in entries} == {
        (mine.id, "message_delete", staff.pk),
        (theirs.id, "message_delete", staff.pk),
    }
    assert entries.get(target_id=theirs.id).detail == {
        where.api_field: where.pk,
        "seq": theirs.seq,
        "sender_id": str(bob.pk),
        "type": "TEXT",
        "created_at": entries.get(target_id=theirs.id).detail["created_at"],
        "content": "two",
    }


def test_moderate_delete_skips_deleted_and_unknown_messages(channel, alice, staff):
    message = _send(alice, "x", channel_id=channel.pk)
    with capture_broadcasts():
        message_moderate_delete(kind=ConversationKind.CHANNEL, message_ids=[message.id], by=staff)

    with capture_broadcasts() as broadcasts:
        again = message_moderate_delete(kind=ConversationKind.CHANNEL, message_ids=[message.id, "f" * 24], by=staff)

    assert again == []
    assert broadcasts.calls == []
    assert AuditLogEntry.objects.count() == 1


def test_moderate_delete_removes_system_messages_too(channel, alice, staff):
    with capture_broadcasts():
        system = system_message_post(channel_id=channel.pk, content="alice joined", actor_id=alice.pk)
        deleted = message_moderate_delete(kind=ConversationKind.CHANNEL, message_ids=[system.id], by=staff)

    assert [m.id for m in deleted] == [system.id]


def test_only_staff_may_moderate(channel, alice, bob):
    message = _send(alice, "x", channel_id=channel.pk)

    with pytest.raises(errors.PermissionDenied):
        message_moderate_delete(kind=ConversationKind.CHANNEL, message_ids=[message.id], by=bob)
    assert repository_for(ConversationKind.CHANNEL).get(conversation_id=str(channel.pk), message_id=message.id)


def test_a_dm_message_id_is_unknown_in_the_channel_collection(dm, alice, staff):
    message = _send(alice, "x", conversation_id=dm.pk)

    with capture_broadcasts():
        assert message_moderate_delete(kind=ConversationKind.CHANNEL, message_ids=[message.id], by=staff) == []
    assert repository_for(ConversationKind.DM).get(conversation_id=str(dm.pk), message_id=message.id)


def test_staff_deleting_someone_elses_message_through_the_api_is_audited(channel, alice, make_user):
    from channels_app.models import ChannelMember

    admin = make_user("admin", is_staff=True)
    ChannelMember.objects.create(channel=channel, user=admin)
    theirs = _send(alice, "bad", channel_id=channel.pk)
    own = _send(admin, "mine", channel_id=channel.pk)

    with capture_broadcasts() as broadcasts:
        message_delete(user=admin, message_id=theirs.id, channel_id=channel.pk)
        message_delete(user=admin, message_id=own.id, channel_id=channel.pk)
        oops = _send(alice, "oops", channel_id=channel.pk)
        message_delete(user=alice, message_id=oops.id, channel_id=channel.pk)

    assert len(broadcasts.of("message_deleted")) == 3
    assert list(AuditLogEntry.objects.values_list("target_id", "actor_username")) == [(theirs.id, "admin")]
