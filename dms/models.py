import uuid

from django.conf import settings
from django.db import models

from accounts.models import workspace_foreign_key


class DmConversation(models.Model):
    """A direct conversation between two members of a workspace; user1 always holds the
    smaller UUID; one conversation per pair and workspace."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = workspace_foreign_key("dm_conversations")
    user1 = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    user2 = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "dm_conversations"
        constraints = [
            models.UniqueConstraint(fields=["workspace", "user1", "user2"], name="dm_conversations_unique_pair"),
            models.CheckConstraint(
                condition=models.Q(user1__lt=models.F("user2")), name="dm_conversations_ordered_pair"
            ),
        ]
        indexes = [
            # A user's DMs in a workspace, newest first: one index per side of the pair.
            models.Index(fields=["workspace", "user1", "-created_at"], name="dm_conversations_ws_user1"),
            models.Index(fields=["workspace", "user2", "-created_at"], name="dm_conversations_ws_user2"),
        ]

    def __str__(self):
        return f"DM {self.user1_id} / {self.user2_id}"

    def other_user_id(self, user_id):
        return self.user2_id if user_id == self.user1_id else self.user1_id


class GroupDm(models.Model):
    """A conversation of 3-9 members of a workspace, one per member set (issue 16).

    `member_key` is the canonical form of the set: its sorted user ids joined by ",";
    the unique (workspace, member_key) constraint is what makes concurrent creations of
    the same set, in any order, insert one row (dms.services.group_dm_open). Members
    never change, so the key never goes stale. Its messages live in MongoDB's
    dm_messages, keyed by conversationId = this id, like a DM's (docs/conversations.md).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.CASCADE, related_name="group_dms", db_index=False
    )
    member_key = models.CharField(max_length=400)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="GroupDmMember", related_name="group_dms")

    class Meta:
        db_table = "group_dms"
        constraints = [models.UniqueConstraint(fields=["workspace", "member_key"], name="group_dms_unique_member_set")]

    def __str__(self):
        return f"group DM {self.pk}"


class GroupDmMember(models.Model):
    """One member of a group DM. (group_dm, user) is unique; (user, group_dm) serves "my
    group DMs" and the access check."""

    id = models.BigAutoField(primary_key=True)
    group_dm = models.ForeignKey(GroupDm, on_delete=models.CASCADE, related_name="memberships", db_index=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)

    class Meta:
        db_table = "group_dm_members"
        constraints = [models.UniqueConstraint(fields=["group_dm", "user"], name="group_dm_members_unique_pair")]
        indexes = [models.Index(fields=["user", "group_dm"], name="group_dm_members_by_user")]

    def __str__(self):
        return f"{self.user_id} in {self.group_dm_id}"
