import uuid

from django.conf import settings
from django.db import models


class DmConversation(models.Model):
    """A direct conversation between two users; user1 always holds the smaller UUID."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user1 = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    user2 = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "dm_conversations"
        constraints = [
            models.UniqueConstraint(fields=["user1", "user2"], name="dm_conversations_unique_pair"),
            models.CheckConstraint(
                condition=models.Q(user1__lt=models.F("user2")), name="dm_conversations_ordered_pair"
            ),
        ]

    def __str__(self):
        return f"DM {self.user1_id} / {self.user2_id}"

    def other_user_id(self, user_id):
        return self.user2_id if user_id == self.user1_id else self.user1_id
