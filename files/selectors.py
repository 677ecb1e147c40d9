"""Reads of files, and the one access rule (API.md "Files"):

    Who may fetch a file: its uploader, and the members of a conversation with a
    visible message that carries it. Once that message is deleted, or the caller
    leaves, it answers 404.

Checked on every request against the current state: the file's shares (PostgreSQL),
the caller's membership now, and the message's live state in MongoDB (not deleted,
still carrying the file). Anything else, another workspace's file included, is 404.
"""

from accounts.selectors import workspace_or_default
from files import validation
from files.models import File, FileShare
from messaging.documents import ConversationKind
from slackclone import errors


def _not_found() -> errors.NotFound:
    return errors.NotFound("File not found.", code="file_not_found")


def file_get(*, workspace, file_id: object) -> File:
    """The file of `workspace` with this id, 404 otherwise (no access check)."""
    fid = validation.clean_file_id(file_id)
    found = File.objects.filter(pk=fid, workspace=workspace_or_default(workspace)).first()
    if found is None:
        raise _not_found()
    return found


def file_share_visible_to(*, share: FileShare, user, workspace) -> bool:
    """Whether `share` lets `user` read its file: a member of its conversation now, and
    its message live and still carrying the file."""
    from messaging.repositories import repository_for
    from messaging.selectors import conversation_get_for_member

    kind = ConversationKind(share.kind)
    where = {"channel_id": share.conversation_id} if kind is ConversationKind.CHANNEL else {}
    where = where or {"conversation_id": share.conversation_id}
    try:
        conversation_get_for_member(user=user, workspace=workspace, **where)
    except (errors.NotFound, errors.PermissionDenied):
        return False
    message = repository_for(kind).get(conversation_id=str(share.conversation_id), message_id=share.message_id)
    return message is not None and str(share.file_id) in {f["id"] for f in message.files}


def file_get_for_reader(*, user, workspace, file_id: object) -> File:
    """The file if `user` may fetch it now (the rule above), else 404 `file_not_found`."""
    file = file_get(workspace=workspace, file_id=file_id)
    if file.uploader_id == user.pk:
        return file
    for share in FileShare.objects.filter(file=file).order_by("-id"):
        if file_share_visible_to(share=share, user=user, workspace=workspace):
            return file
    raise _not_found()


def file_get_for_uploader(*, user, workspace, file_id: object, lock: bool = False) -> File:
    """The file for its uploader's write (DELETE): 404 to whoever cannot see it, 403
    `not_uploader` to a reader who is not its uploader."""
    file = file_get_for_reader(user=user, workspace=workspace, file_id=file_id)
    if file.uploader_id != user.pk:
        raise errors.PermissionDenied("Only the uploader can delete a file.", code="not_uploader")
    if lock:
        file = File.objects.select_for_update().filter(pk=file.pk).first()
        if file is None:
            raise _not_found()
    return file


def files_for_send(*, user, workspace, file_ids: list[str]) -> list[File]:
    """The caller's own files of `workspace` named by `file_ids`, in that order, their
    rows locked (FOR NO KEY UPDATE) until the send's transaction ends (so a concurrent DELETE
    waits and then sees the share; a file deleted first is refused here). 400
    `invalid_file_ids` if any is not the caller's (or does not exist: no existence is
    revealed)."""
    if not file_ids:
        return []
    found = {
        str(f.pk): f
        for f in File.objects.select_for_update(no_key=True)
        .filter(pk__in=file_ids, workspace=workspace_or_default(workspace), uploader=user)
        .order_by("pk")
    }
    missing = [fid for fid in file_ids if fid not in found]
    if missing:
        text = "Every file must be one of your own uploads in this workspace."
        raise errors.ValidationFailed(text, fields={"file_ids": [text]}, code="invalid_file_ids")
    return [found[fid] for fid in file_ids]


def files_storage_mismatches(*, created_before) -> tuple[list[str], list[File]]:
    """(storage keys that no files row names, files rows whose object is missing), for
    check_consistency. Objects written after `created_before` are left out (an upload
    writes its objects just before its row)."""
    from files import storage

    keys = storage.all_keys()
    known: set[str] = set()
    missing: list[File] = []
    for file in File.objects.filter(created_at__lt=created_before).order_by("created_at").iterator():
        known.add(file.storage_key)
        if file.thumbnail_key:
            known.add(file.thumbnail_key)
        if file.storage_key not in keys:
            missing.append(file)
    newer = File.objects.filter(created_at__gte=created_before).values_list("storage_key", "thumbnail_key")
    for storage_key, thumbnail_key in newer:
        known.update(key for key in (storage_key, thumbnail_key) if key)
    stray = sorted(key for key in keys - known if storage.modified_before(key, created_before))
    return stray, missing
