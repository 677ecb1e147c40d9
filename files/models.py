"""Files (docs/files.md): the metadata of an upload, and where it is shared.

The bytes live in Django's default storage (local directory or an S3-compatible
bucket, settings.STORAGES) under `storage_key` (and `thumbnail_key`); a row exists
exactly as long as its objects do (files.signals deletes them once the row's deletion
commits; `check_consistency` reports either without the other).
"""

import uuid

from django.conf import settings
from django.db import models


class File(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="files", db_index=False)
    uploader = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="files")
    name = models.CharField(max_length=255)  # sanitised (files.validation.clean_file_name)
    size = models.BigIntegerField()  # bytes stored
    mime_type = models.CharField(max_length=255)  # detected from the bytes (libmagic), never the client's
    sha256 = models.CharField(max_length=64)  # hex, of the bytes stored
    width = models.IntegerField(null=True, blank=True)  # images only
    height = models.IntegerField(null=True, blank=True)
    storage_key = models.CharField(max_length=255, unique=True)
    thumbnail_key = models.CharField(max_length=255, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Set by the first send that carries it: files never shared are what
    # `purge_orphan_files` removes; shared ones leave with the last message carrying them.
    first_shared_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "files"
        indexes = [
            models.Index(fields=["workspace", "created_at"], name="files_workspace_created"),
            models.Index(
                fields=["created_at"], name="files_unshared_created", condition=models.Q(first_shared_at=None)
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.pk})"

    @property
    def is_image(self) -> bool:
        return self.width is not None


class FileShare(models.Model):
    """A message that carries a file: written in the send's transaction, removed when
    the file leaves the message (DELETE /files/{id}) or the conversation is deleted.
    Access is decided from these rows AND the message's live state in MongoDB
    (files.selectors.file_get_for_reader), so a deleted message hides it at once."""

    id = models.BigAutoField(primary_key=True)
    file = models.ForeignKey(File, on_delete=models.CASCADE, related_name="shares", db_index=False)
    kind = models.CharField(max_length=16)  # messaging.documents.ConversationKind value
    conversation_id = models.UUIDField()
    message_id = models.CharField(max_length=24)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "file_shares"
        constraints = [models.UniqueConstraint(fields=["file", "message_id"], name="file_shares_unique_message")]
        indexes = [models.Index(fields=["conversation_id"], name="file_shares_conversation")]

    def __str__(self):
        return f"{self.file_id} in {self.kind} {self.conversation_id} ({self.message_id})"
