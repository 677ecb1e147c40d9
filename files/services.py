"""Writes of files: upload, delete, sharing by a send, retention.

Storage and metadata stay in step: an upload writes the objects first, then the row
(a failure in between leaves an object without a row, which `check_consistency`
reports); every row deletion removes its objects once it commits (files.signals).
"""

import hashlib
import logging
import tempfile
from dataclasses import dataclass
from datetime import datetime

import magic
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.selectors import workspace_or_default
from files import images, selectors, storage, validation
from files.models import File, FileShare
from slackclone import errors

logger = logging.getLogger(__name__)

_CHUNK = 1024 * 1024
_SNIFF_BYTES = 64 * 1024


def _payload_too_large() -> errors.PayloadTooLarge:
    return errors.PayloadTooLarge(f"A file may have at most {settings.MAX_UPLOAD_BYTES} bytes.")


@dataclass(frozen=True, slots=True)
class _Digest:
    size: int
    sha256: str
    head: bytes


def _digest(fh) -> _Digest:
    fh.seek(0)
    sha, size, head = hashlib.sha256(), 0, b""
    while chunk := fh.read(_CHUNK):
        if len(head) < _SNIFF_BYTES:
            head += chunk[: _SNIFF_BYTES - len(head)]
        sha.update(chunk)
        size += len(chunk)
    return _Digest(size=size, sha256=sha.hexdigest(), head=head)


def detect_mime_type(head: bytes) -> str:
    """The MIME type of content starting with `head`, from libmagic (the bytes, never a
    name or a client's Content-Type). Empty content is `application/x-empty`."""
    return magic.from_buffer(head, mime=True) or "application/octet-stream"


def file_upload(*, user, workspace, uploaded, name: object = None) -> File:
    """Store an upload of `user` in `workspace`; return its row.

    `uploaded` is a seekable file object already on disk (Django's
    TemporaryUploadedFile): it is read in 1 MiB chunks, never held in memory. Its
    size must be at most MAX_UPLOAD_BYTES (413 `payload_too_large`). The name is
    sanitised (validation.clean_file_name); the MIME type is detected from the bytes;
    images get their size and a thumbnail, lose EXIF/GPS, and a decompression bomb is
    refused (400 `image_too_large`, files.images).
    """
    workspace = workspace_or_default(workspace)
    digest = _digest(uploaded)
    if digest.size > settings.MAX_UPLOAD_BYTES:
        raise _payload_too_large()
    mime_type = detect_mime_type(digest.head)
    file = File(
        workspace=workspace,
        uploader=user,
        name=validation.clean_file_name(name if name is not None else getattr(uploaded, "name", None)),
        mime_type=mime_type,
        size=digest.size,
        sha256=digest.sha256,
    )
    file.storage_key = storage.original_key(workspace_id=workspace.pk, file_id=file.pk)
    info = images.inspect_image(uploaded, mime_type=mime_type) if mime_type in images.IMAGE_MIME_TYPES else None
    written: list[str] = []
    try:
        if info is not None:
            file.width, file.height = info.width, info.height
            file.thumbnail_key = storage.thumbnail_key(workspace_id=workspace.pk, file_id=file.pk)
            storage.put_bytes(file.thumbnail_key, info.thumbnail)
            written.append(file.thumbnail_key)
        if info is not None and info.stripped is not None:
            with tempfile.TemporaryFile() as clean:
                clean.write(info.stripped)
                stripped = _digest(clean)
                file.size, file.sha256 = stripped.size, stripped.sha256
                storage.put(file.storage_key, clean)
        else:
            storage.put(file.storage_key, uploaded)
        written.append(file.storage_key)
        file.save(force_insert=True)
    except BaseException:
        storage.delete(*written)
        raise
    return file


def file_delete(*, user, workspace, file_id: object) -> list:
    """DELETE /files/{id}: its uploader only (403 `not_uploader` for another reader,
    404 for anyone who cannot see it). The row and its shares go in one transaction
    (the row locked FOR UPDATE: a send carrying it either committed before, and its
    share is seen here, or waits and is then refused); then the file leaves every
    message that carried it (MongoDB, each announced with message.updated), and the
    storage objects are deleted (files.signals). Returns the messages updated."""
    from messaging.services import message_files_remove

    with transaction.atomic():
        file = selectors.file_get_for_uploader(user=user, workspace=workspace, file_id=file_id, lock=True)
        file_id = str(file.pk)  # delete() clears pk
        shares = list(FileShare.objects.filter(file=file))
        file.delete()
    return message_files_remove(file_id=file_id, shares=shares)


def files_lock_for_send(*, user, workspace, file_ids: list[str]) -> tuple[dict, ...]:
    """Inside a send's transaction: lock the caller's files (selectors.files_for_send,
    400 `invalid_file_ids`) and return what the message document stores of each."""
    return tuple(
        file_document(file) for file in selectors.files_for_send(user=user, workspace=workspace, file_ids=file_ids)
    )


def file_shares_record(*, message) -> None:
    """Inside the send's transaction, once MongoDB stored `message`: one share row per
    file it carries, and `first_shared_at` of those never shared before."""
    if not message.files:
        return
    ids = [entry["id"] for entry in message.files]
    FileShare.objects.bulk_create(
        [
            FileShare(
                file_id=fid,
                kind=message.conversation.kind.value,
                conversation_id=message.conversation.id,
                message_id=message.id,
            )
            for fid in ids
        ],
        ignore_conflicts=True,
    )
    File.objects.filter(pk__in=ids, first_shared_at=None).update(first_shared_at=timezone.now())


def file_document(file: File) -> dict:
    """What a message document stores of a file (camelCase, as the rest of the document)."""
    return {
        "id": str(file.pk),
        "name": file.name,
        "size": file.size,
        "mimeType": file.mime_type,
        "sha256": file.sha256,
        "uploaderId": str(file.uploader_id),
        "createdAt": file.created_at,
        "width": file.width,
        "height": file.height,
        "hasThumbnail": bool(file.thumbnail_key),
    }


# --- Retention --------------------------------------------------------------------


def files_delete_unshared(*, older_than: datetime, dry_run: bool = False) -> int:
    """`purge_orphan_files`: delete the uploads created before `older_than` that no
    message ever carried. Returns how many (would be) deleted."""
    candidates = File.objects.filter(first_shared_at=None, created_at__lt=older_than)
    if dry_run:
        return candidates.count()
    deleted = 0
    for pk in list(candidates.values_list("pk", flat=True)):
        with transaction.atomic():
            # Re-checked under the row lock: a send may have shared it meanwhile.
            file = File.objects.select_for_update().filter(pk=pk, first_shared_at=None).first()
            if file is not None:
                file.delete()
                deleted += 1
    return deleted


def files_delete_without_messages(*, conversation_id=None) -> int:
    """Once messages are gone (purge_messages, a deleted conversation): drop the shares
    whose message no longer exists (in one conversation, or everywhere), then delete
    the files that were shared and are now carried by no message. Files that some
    other message still carries stay. Returns the files deleted."""
    from messaging.documents import ConversationKind
    from messaging.repositories import repository_for

    shares = FileShare.objects.all()
    if conversation_id is not None:
        shares = shares.filter(conversation_id=conversation_id)
    gone: list[int] = []
    touched: set = set()
    by_kind: dict[str, list[tuple[int, str, str]]] = {}
    for pk, kind, message_id, fid in shares.values_list("pk", "kind", "message_id", "file_id").iterator():
        by_kind.setdefault(kind, []).append((pk, message_id, fid))
    for kind, rows in by_kind.items():
        repo = repository_for(ConversationKind(kind))
        for start in range(0, len(rows), 1000):
            chunk = rows[start : start + 1000]
            existing = repo.existing_ids(message_ids=[mid for _, mid, _ in chunk])
            for pk, mid, fid in chunk:
                if mid not in existing:
                    gone.append(pk)
                    touched.add(fid)
    FileShare.objects.filter(pk__in=gone).delete()
    deleted = 0
    for fid in touched:
        with transaction.atomic():
            file = File.objects.select_for_update().filter(pk=fid).exclude(first_shared_at=None).first()
            if file is not None and not FileShare.objects.filter(file=file).exists():
                file.delete()
                deleted += 1
    return deleted


def conversation_files_delete(*, conversation_id) -> int:
    """A conversation was deleted (its messages with it): its shares go, and the files
    no other conversation carries. Never raises (leftovers: check_consistency)."""
    try:
        shares = FileShare.objects.filter(conversation_id=conversation_id)
        fids = set(shares.values_list("file_id", flat=True))
        shares.delete()
        deleted = 0
        for fid in fids:
            with transaction.atomic():
                file = File.objects.select_for_update().filter(pk=fid).first()
                if file is not None and not FileShare.objects.filter(file=file).exists():
                    file.delete()
                    deleted += 1
        return deleted
    except Exception:
        logger.exception("files of deleted conversation %s not removed", conversation_id)
        return 0
