"""The audit log of moderation and operations, and the admin's handle on MongoDB messages."""

from django.conf import settings
from django.db import models


class AuditLogEntry(models.Model):
    """One moderation act: who did what to which object, and when.

    Written by the services that make the change (accounts.services.user_deactivate,
    channels_app.services.channel_archive/channel_delete,
    messaging.services.message_moderate_delete and message_delete by staff), in the
    same PostgreSQL transaction as the change, or right after MongoDB acknowledged a
    message change. Never edited: the admin shows it read-only.
    """

    class Action(models.TextChoices):
        MESSAGE_DELETE = "message_delete", "message deleted"
        CHANNEL_ARCHIVE = "channel_archive", "channel archived"
        CHANNEL_DELETE = "channel_delete", "channel deleted"
        USER_DEACTIVATE = "user_deactivate", "user deactivated"
        MEMBER_DEACTIVATE = "member_deactivate", "member deactivated"
        MEMBER_REACTIVATE = "member_reactivate", "member reactivated"
        MEMBER_ROLE = "member_role", "member role changed"

    class TargetType(models.TextChoices):
        MESSAGE = "message"
        CHANNEL = "channel"
        USER = "user"

    # The workspace the act happened in; null for server-wide acts (a staff deactivation).
    workspace = models.ForeignKey(
        "accounts.Workspace", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Kept beside the FK, so the entry still names the actor once their account is gone.
    actor_username = models.CharField(max_length=32, blank=True, default="")
    action = models.CharField(max_length=32, choices=Action.choices)
    target_type = models.CharField(max_length=16, choices=TargetType.choices)
    target_id = models.CharField(max_length=64)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        db_table = "audit_log"
        verbose_name = "audit log entry"
        verbose_name_plural = "audit log"
        ordering = ("-created_at", "-id")
        indexes = [
            models.Index(fields=["target_type", "target_id"], name="audit_log_target"),
            models.Index(fields=["workspace", "-created_at"], name="audit_log_workspace"),
        ]

    def __str__(self):
        return f"{self.get_action_display()}: {self.target_type} {self.target_id}"


class Message(models.Model):
    """Not a table: messages live in MongoDB (messaging.repositories).

    This unmanaged model only gives the admin a registered "Messages" entry (index,
    navigation, permissions `moderation.view_message` / `moderation.delete_message`)
    whose views (moderation.admin.MessageModerationAdmin) read and change MongoDB
    through messaging's selectors and services. Nothing ever queries it.
    """

    id = models.CharField(primary_key=True, max_length=24)

    class Meta:
        managed = False
        db_table = "moderation_message_not_a_table"
        verbose_name = "message (MongoDB)"
        verbose_name_plural = "messages (MongoDB)"
        default_permissions = ("view", "delete")

    def __str__(self):
        return self.id
