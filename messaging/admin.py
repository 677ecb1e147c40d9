"""Messages live in MongoDB, not in the ORM; the admin shows only the seq counters,
read-only (changing one by hand is what the send path's resync is there to survive)."""

from django.contrib import admin

from messaging.models import MessageSequence


@admin.register(MessageSequence)
class MessageSequenceAdmin(admin.ModelAdmin):
    list_display = ("conversation_id", "kind", "last_seq", "last_created_at")
    list_filter = ("kind",)
    search_fields = ("conversation_id",)
    ordering = ("conversation_id",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
