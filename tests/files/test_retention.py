"""Retention and consistency of files (issue 20): purge_messages removes the files only
the purged messages carried, purge_orphan_files the uploads never shared, deleting a
channel or a workspace its files; check_consistency reports objects without metadata
and metadata without objects. A send racing the file's deletion never leaves a message
carrying a deleted file."""

import io
import os
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from accounts.models import Workspace
from files import services, storage
from files.models import File, FileShare
from messaging import services as message_services
from messaging.documents import ConversationKind
from messaging.repositories import repository_for
from slackclone import errors
from tests.files.conftest import upload
from tests.messaging.support import run_in_threads


def _upload(user, data=b"data", workspace=None):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return services.file_upload(user=user, workspace=workspace, uploaded=SimpleUploadedFile("a.txt", data))


def _objects() -> set[str]:
    return storage.all_keys()


def _age(*files, days=10):
    File.objects.filter(pk__in=[f.pk for f in files]).update(created_at=timezone.now() - timedelta(days=days))


@pytest.mark.django_db(transaction=True)
def test_purge_orphan_files_removes_only_never_shared_old_uploads(alice, bob, make_channel):
    channel = make_channel(alice, bob)
    old_unshared, new_unshared, old_shared = _upload(alice), _upload(alice), _upload(alice)
    message_services.message_send(sender=alice, channel_id=channel.pk, file_ids=[str(old_shared.pk)])
    _age(old_unshared, old_shared)
    out = io.StringIO()
    call_command("purge_orphan_files", "--older-than", "7d", stdout=out)
    assert "1 never-shared file(s)" in out.getvalue()
    assert set(File.objects.values_list("pk", flat=True)) == {new_unshared.pk, old_shared.pk}
    assert old_unshared.storage_key not in _objects() and new_unshared.storage_key in _objects()
    with pytest.raises(CommandError):
        call_command("purge_orphan_files", "--older-than", "soon")


@pytest.mark.django_db(transaction=True)
def test_purge_messages_removes_the_files_only_those_messages_carried(alice, bob, make_channel):
    channel = make_channel(alice, bob)
    only_old, also_new = _upload(alice), _upload(alice)
    message_services.message_send(sender=alice, channel_id=channel.pk, file_ids=[str(only_old.pk), str(also_new.pk)])
    repository_for(ConversationKind.CHANNEL).collection.update_many(
        {}, {"$set": {"createdAt": timezone.now() - timedelta(days=100)}}
    )
    message_services.message_send(sender=alice, channel_id=channel.pk, file_ids=[str(also_new.pk)])
    out = io.StringIO()
    call_command("purge_messages", "--older-than", "30", stdout=out)
    assert "files: 1 deleted" in out.getvalue()
    assert list(File.objects.values_list("pk", flat=True)) == [also_new.pk]
    assert FileShare.objects.count() == 1
    assert only_old.storage_key not in _objects() and also_new.storage_key in _objects()


@pytest.mark.django_db(transaction=True)
def test_deleting_a_channel_removes_its_files(alice, bob, staff, make_channel):
    from channels_app.services import channel_delete

    channel, other = make_channel(alice, bob), make_channel(alice, bob)
    mine, both = _upload(alice), _upload(alice)
    message_services.message_send(sender=alice, channel_id=channel.pk, file_ids=[str(mine.pk), str(both.pk)])
    message_services.message_send(sender=alice, channel_id=other.pk, file_ids=[str(both.pk)])
    channel_delete(channel=channel, by=staff)
    assert list(File.objects.values_list("pk", flat=True)) == [both.pk]
    assert mine.storage_key not in _objects() and both.storage_key in _objects()


@pytest.mark.django_db(transaction=True)
def test_deleting_a_workspace_removes_its_files(alice):
    from tests.conftest import join_workspace

    workspace = Workspace.objects.create(slug="gone", name="Gone")
    join_workspace(alice, workspace, role="owner")
    _upload(alice, workspace=workspace)
    kept = _upload(alice)
    workspace.delete()
    assert list(File.objects.values_list("pk", flat=True)) == [kept.pk]
    assert _objects() == {kept.storage_key}


@pytest.mark.django_db(transaction=True)
def test_check_consistency_reports_both_directions(alice):
    ok, lost = _upload(alice), _upload(alice)
    storage.delete(lost.storage_key)
    storage.put_bytes("stray/object", b"x")
    past = timezone.now() - timedelta(hours=1)
    os.utime(os.path.join(settings.FILES_ROOT, "stray/object"), (past.timestamp(), past.timestamp()))
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("check_consistency", stdout=out)
    text = out.getvalue()
    assert "File objects without metadata (storage key with no files row): 1" in text and "stray/object" in text
    assert "File metadata without its object (files row whose bytes are missing): 1" in text and str(lost.pk) in text
    assert str(ok.pk) not in text
    with pytest.raises(CommandError):  # the missing bytes need a person
        call_command("check_consistency", "--fix", stdout=io.StringIO())
    assert "stray/object" not in _objects() and ok.storage_key in _objects()


ROUNDS = 5


@pytest.mark.django_db(transaction=True)
def test_a_send_racing_the_files_deletion_never_keeps_a_deleted_file(alice, bob, make_channel):
    channel = make_channel(alice, bob)
    repo = repository_for(ConversationKind.CHANNEL)
    for _ in range(ROUNDS):
        file = _upload(alice)

        def act(index, fid=str(file.pk)):
            try:
                if index == 0:
                    return message_services.message_send(sender=alice, channel_id=channel.pk, file_ids=[fid]).message.id
                services.file_delete(user=alice, workspace=None, file_id=fid)
                return "deleted"
            except errors.DomainError as exc:
                return exc.code

        sent, deleted = run_in_threads(2, act)
        assert deleted == "deleted"
        assert not File.objects.filter(pk=file.pk).exists() and not FileShare.objects.filter(file_id=file.pk).exists()
        if sent != "invalid_file_ids":  # stored before the deletion: the deletion took the file off it
            stored = repo.get(conversation_id=str(channel.pk), message_id=sent)
            assert stored.files == ()


@pytest.mark.django_db
def test_upload_then_metadata_failure_leaves_no_object(alice, monkeypatch, client_for):
    from django.db import DatabaseError

    def fail(*args, **kwargs):
        raise DatabaseError("boom")

    monkeypatch.setattr(File, "save", fail)
    with pytest.raises(DatabaseError):
        _upload(alice)
    assert _objects() == set()
    assert upload  # (the API path is covered by test_upload)
