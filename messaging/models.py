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


class ThreadFollow(models.Model):
    """Who follows a thread (issue 17). The root's author, every replier and everyone
    mentioned in the thread are added when it happens (`following` true unless they
    unfollowed: an explicit unfollow sticks until they reply again); PUT / DELETE
    .../follow set `following`. `last_reply_at` is the thread's newest reply, copied to
    every follower's row when a reply arrives (one UPDATE), so GET /threads is one
    indexed PostgreSQL page, newest reply first."""

    id = models.BigAutoField(primary_key=True)
    workspace_id = models.UUIDField()
    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="+", db_index=False)
    kind = models.CharField(max_length=8, choices=MessageSequence.Kind.choices)
    conversation_id = models.UUIDField()
    root_id = models.CharField(max_length=24)
    following = models.BooleanField(default=True)
    last_reply_at = models.DateTimeField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "thread_follows"
        constraints = [models.UniqueConstraint(fields=["user", "root_id"], name="thread_follows_user_root")]
        indexes = [
            # GET /threads: a user's followed threads of a workspace, newest reply first.
            models.Index(fields=["user", "workspace_id", "-last_reply_at", "-id"], name="thread_follows_list"),
            # A reply updates every follower row of its root.
            models.Index(fields=["root_id"], name="thread_follows_root"),
        ]

    def __str__(self):
        return f"{self.user_id} follows {self.root_id} ({self.following})"
