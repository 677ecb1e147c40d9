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
