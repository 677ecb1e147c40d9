from django.contrib import admin

from presence.models import UserPresence


@admin.register(UserPresence)
class UserPresenceAdmin(admin.ModelAdmin):
    """The analytics snapshot written by `snapshot_presence`: read-only here (live presence is in Redis)."""

    list_display = ("user", "status", "last_seen_at")
    list_select_related = ("user",)
    list_filter = ("status",)
    search_fields = ("user__username", "user__email")
    ordering = ("-last_seen_at",)
    raw_id_fields = ("user",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
