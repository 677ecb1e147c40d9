"""Reads of files, and the one access rule (API.md "Files"):

    Who may fetch a file: its uploader, and the members of a conversation with a
    visible message that carries it. Once that message is deleted, or the caller
    leaves, it answers 404.

Checked on every request against the current state: the file's shares (PostgreSQL),
the caller's membership now, and the message's live state in MongoDB (not deleted,
still carrying the file). Anything else, another workspace's file included, is 404.
"""

from django.db.models import Q

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


_SHARES_PER_QUERY = 500


def file_shared_with(*, file: File, user, workspace) -> bool:
    """Whether a share of `file` lets `user` read it: its conversation is one `user` is a
    member of now (in `workspace`), and its message is live and still carries the file.

    Two statements whatever the number of shares: the shares in the caller's
    conversations in SQL (one query; the membership rules are those of
    channel_get_for_member and dm_get_for_participant), then their messages in MongoDB
    (one query per kind and 500 shares, newest first). Asked once per share, a file the
    uploader had put in 10,000 messages cost 10,000 x 3 queries on every GET by
    someone else (seconds of both stores' time per request)."""
    from channels_app.selectors import member_channel_ids_query
    from dms.selectors import member_dm_ids_queries
    from messaging.repositories import repository_for

    workspace_id = workspace_or_default(workspace).pk
    dms, group_dms = member_dm_ids_queries(user_id=user.pk, workspace_id=workspace_id)
    mine = (
        Q(
            kind=ConversationKind.CHANNEL.value,
            conversation_id__in=member_channel_ids_query(user_id=user.pk, workspace_id=workspace_id),
        )
        | Q(kind=ConversationKind.DM.value, conversation_id__in=dms)
        | Q(kind=ConversationKind.DM.value, conversation_id__in=group_dms)
    )
    by_kind: dict[str, list[str]] = {}
    for kind, message_id in FileShare.objects.filter(mine, file=file).order_by("-id").values_list("kind", "message_id"):
        by_kind.setdefault(kind, []).append(message_id)
    fid = str(file.pk)
    for kind, message_ids in by_kind.items():
        repo = repository_for(ConversationKind(kind))
        for start in range(0, len(message_ids), _SHARES_PER_QUERY):
            if repo.any_live_carrying(message_ids=message_ids[start : start + _SHARES_PER_QUERY], file_id=fid):
                return True
    return False


def file_get_for_reader(*, user, workspace, file_id: object) -> File:
    """The file if `user` may fetch it now (the rule above), else 404 `file_not_found`."""
    file = file_get(workspace=workspace, file_id=file_id)
    if file.uploader_id == user.pk or file_shared_with(file=file, user=user, workspace=workspace):
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
