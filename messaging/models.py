from django.db import models


class MessageSequence(models.Model):
    """The per-conversation counter behind message `seq` (see messaging.services.message_send).

    A send locks its conversation's row, takes the next seq and a createdAt that never
    goes back, inserts into MongoDB, and only then commits: the row lock serialises
    the assign-and-insert step per conversation across all server processes.
    """

    class Kind(models.TextChoices):
        CHANNEL = "channel"
        DM = "dm"

    conversation_id = models.UUIDField(primary_key=True)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    last_seq = models.BigIntegerField(default=0)
    last_created_at = models.DateTimeField(null=True)
    # The sidebar (issue 16): the newest visible message, set in the send's transaction
    # (messaging.services.latest), moved back when it is deleted, its preview
    # refreshed when it is edited. Null: none (yet, or every message was deleted).
    latest_seq = models.BigIntegerField(null=True)
    latest_created_at = models.DateTimeField(null=True)
    latest_sender_id = models.UUIDField(null=True)
    latest_preview = models.CharField(max_length=120, null=True)  # noqa: DJ001 (null: no message)

    class Meta:
        db_table = "message_sequences"

    def __str__(self):
        return f"{self.kind} {self.conversation_id} @ {self.last_seq}"
