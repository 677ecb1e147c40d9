"""Read state, preferences, user status and sent notifications (issue 18).

See docs/read-state.md for the design: markers only move forward (one conditional
upsert), counts are counted from the marker on the unread index (UnreadEntry)."""

from django.contrib.postgres.fields import ArrayField
from django.db import models


class ReadMarker(models.Model):
    """A user's read marker and preferences in one conversation (channel, DM, group DM).

    `last_read_seq` only moves forward (`readstate.services.read_mark`: one conditional
    upsert, so two devices marking 10 and 12 in either order end at 12). A missing row
    reads as 0; a member who joins a channel gets a row at the channel's newest seq."""

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="+", db_index=False)
    workspace_id = models.UUIDField()
    kind = models.CharField(max_length=8)
    conversation_id = models.UUIDField()
    last_read_seq = models.BigIntegerField(default=0)
    muted = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "read_markers"
        constraints = [
            models.UniqueConstraint(fields=["user", "conversation_id"], name="read_markers_user_conversation")
        ]
        indexes = [models.Index(fields=["user", "workspace_id"], name="read_markers_user_workspace")]

    def __str__(self):
        return f"{self.user_id} read {self.conversation_id} to {self.last_read_seq}"


class ThreadReadMarker(models.Model):
    """A user's read marker in one thread (replies are counted after it); missing: 0."""

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="+", db_index=False)
    workspace_id = models.UUIDField()
    kind = models.CharField(max_length=8)
    conversation_id = models.UUIDField()
    root_id = models.CharField(max_length=24)
    last_read_seq = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "thread_read_markers"
        constraints = [models.UniqueConstraint(fields=["user", "root_id"], name="thread_read_markers_user_root")]

    def __str__(self):
        return f"{self.user_id} read thread {self.root_id} to {self.last_read_seq}"


class UserStatus(models.Model):
    """A user's status text and emoji, and do-not-disturb (`dnd_until` in the future)."""

    user = models.OneToOneField("accounts.User", on_delete=models.CASCADE, primary_key=True, related_name="+")
    status_text = models.CharField(max_length=100, blank=True, default="")
    status_emoji = models.CharField(max_length=64, blank=True, default="")
    dnd_until = models.DateTimeField(null=True)

    class Meta:
        db_table = "user_statuses"

    def __str__(self):
        return f"{self.user_id}: {self.status_emoji} {self.status_text}"


class NotificationSent(models.Model):
    """One row per (message, recipient) notified: the unique pair is what makes a
    notification go out once per message and recipient, even when an edit adds a
    mention later or two edits race (`INSERT ... ON CONFLICT DO NOTHING RETURNING`)."""

    id = models.BigAutoField(primary_key=True)
    message_id = models.CharField(max_length=24)
    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="+", db_index=False)
    reason = models.CharField(max_length=16)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "notifications_sent"
        constraints = [models.UniqueConstraint(fields=["message_id", "user"], name="notifications_sent_once")]

    def __str__(self):
        return f"{self.reason} {self.message_id} -> {self.user_id}"


class UnreadEntry(models.Model):
    """One countable message, for exact unread and mention counts (issue 18): a live
    TEXT message of a conversation (channel, DM, group DM), kept beside its `seq` in
    the transactions that store, edit and delete it (`readstate.counting`), so that
    counting from a read marker is an index range in PostgreSQL, in the same query as
    the sidebar's page, whatever the message store is.

    `in_conversation`: shown in the conversation's history (a root, or a reply also
    sent to it); `thread_id`: a reply's root. The contract's definitions are WHERE
    clauses on these columns (readstate.selectors)."""

    pk = models.CompositePrimaryKey("conversation_id", "seq")
    conversation_id = models.UUIDField()
    seq = models.BigIntegerField()
    kind = models.CharField(max_length=8)
    workspace_id = models.UUIDField(null=True)
    sender_id = models.UUIDField(null=True)
    thread_id = models.CharField(max_length=24, null=True)  # noqa: DJ001 (NULL: not a reply; the partial index)
    in_conversation = models.BooleanField()
    mentions = ArrayField(models.UUIDField(), default=list)
    mentions_conversation = models.BooleanField(default=False)
    created_at = models.DateTimeField()

    class Meta:
        db_table = "unread_entries"
        indexes = [
            models.Index(
                fields=["thread_id", "seq"], name="unread_entries_thread", condition=models.Q(thread_id__isnull=False)
            ),
            models.Index(fields=["created_at"], name="unread_entries_created"),  # retention (messages_purge)
        ]

    def __str__(self):
        return f"{self.conversation_id}#{self.seq}"
