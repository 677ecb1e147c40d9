import uuid

from django.conf import settings
from django.contrib.postgres.indexes import OpClass
from django.db import models

from accounts.models import workspace_foreign_key


class Channel(models.Model):
    """A public channel of a workspace. Names are lower-case ([a-z0-9_-], 1-80), hence
    unique within their workspace regardless of case."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Leads every index of the workspace's channel lists (see Meta).
    workspace = workspace_foreign_key("channels")
    name = models.CharField(max_length=80)
    description = models.CharField(max_length=250, null=True, blank=True)  # noqa: DJ001 (nullable in the data model)
    # Issue 16: a private channel is invisible to non-members (channels_app.selectors); fixed at creation.
    is_private = models.BooleanField(default=False)
    topic = models.CharField(max_length=250, default="", blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="created_channels"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Set by channels_app.services.channel_archive: an archived channel stays readable,
    # but nobody can join or leave it, or post or edit messages in it (409 channel_archived).
    archived_at = models.DateTimeField(null=True, blank=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="ChannelMember", related_name="channels")

    class Meta:
        db_table = "channels"
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="channels_unique_name_in_workspace")]
        indexes = [
            # The name-prefix search of a workspace: workspace_id = W AND name LIKE 'ab%'.
            models.Index("workspace", OpClass("name", name="varchar_pattern_ops"), name="channels_workspace_name_like"),
        ]

    def __str__(self):
        return f"#{self.name}"

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None


class ChannelMember(models.Model):
    class Role(models.TextChoices):
        MANAGER = "manager"
        MEMBER = "member"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # The unique (channel, user) index serves membership checks; user has its own index;
    # (channel, joined_at, id) serves the members list, keyset-paged in that order.
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="memberships", db_index=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="channel_memberships")
    joined_at = models.DateTimeField(auto_now_add=True)
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.MEMBER)

    class Meta:
        db_table = "channel_members"
        constraints = [models.UniqueConstraint(fields=["channel", "user"], name="channel_members_unique_pair")]
        indexes = [models.Index(fields=["channel", "joined_at", "id"], name="channel_members_by_joined")]

    def __str__(self):
        return f"{self.user_id} in {self.channel_id}"
