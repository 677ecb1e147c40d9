from django.conf import settings
from django.db import models


class UserPresence(models.Model):
    """A snapshot of presence, written from Redis by `snapshot_presence`, for analytics only.

    Live presence lives in Redis (presence.store); nothing reads this table for decisions.
    """

    class Status(models.TextChoices):
        ONLINE = "ONLINE"
        OFFLINE = "OFFLINE"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OFFLINE)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "user_presence"
        verbose_name_plural = "user presence"

    def __str__(self):
        return f"{self.user_id}: {self.status}"
