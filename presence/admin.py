from django.contrib import admin

from presence.models import UserPresence
from slackclone.admin import ReadOnlyAdminMixin


@admin.register(UserPresence)
class UserPresenceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The analytics snapshot written by `snapshot_presence`: read-only here (live presence is in Redis)."""

    list_display = ("user", "workspace", "status", "last_seen_at")
    list_select_related = ("user",)
    list_filter = ("workspace", "status")
    search_fields = ("user__username", "user__email")
    ordering = ("-last_seen_at",)
    raw_id_fields = ("user",)
