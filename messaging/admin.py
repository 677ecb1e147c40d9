"""Messages live in MongoDB, not in the ORM; the admin shows only the seq counters,
read-only (changing one by hand is what the send path's resync is there to survive)."""

from django.contrib import admin

from messaging.models import MessageSequence
from slackclone.admin import ReadOnlyAdminMixin


@admin.register(MessageSequence)
class MessageSequenceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("conversation_id", "kind", "last_seq", "last_created_at")
    list_filter = ("kind",)
    search_fields = ("conversation_id",)
    ordering = ("conversation_id",)
