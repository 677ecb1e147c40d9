from django.conf import settings
from django.db import models

from accounts.models import workspace_foreign_key


class UserPresence(models.Model):
    """A snapshot of a user's presence in a workspace, written from Redis by
    `snapshot_presence`, for analytics only (one row per (workspace, user)).

    Live presence lives in Redis (presence.store); nothing reads this table for decisions.
    """

    class Status(models.TextChoices):
        ONLINE = "ONLINE"
        OFFLINE = "OFFLINE"

    id = models.BigAutoField(primary_key=True)
    workspace = workspace_foreign_key("+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OFFLINE)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "user_presence"
        constraints = [models.UniqueConstraint(fields=["workspace", "user"], name="user_presence_unique_pair")]
        verbose_name_plural = "user presence"

    def __str__(self):
        return f"{self.user_id} in {self.workspace_id}: {self.status}"
