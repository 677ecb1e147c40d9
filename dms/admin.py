from django.contrib import admin

from dms.models import DmConversation


@admin.register(DmConversation)
class DmConversationAdmin(admin.ModelAdmin):
    list_display = ("id", "workspace", "user1", "user2", "created_at")
    list_filter = ("workspace",)
    list_select_related = ("user1", "user2")
    search_fields = ("=id", "user1__username", "user1__email", "user2__username", "user2__email")
    ordering = ("-created_at",)
    raw_id_fields = ("user1", "user2")
    readonly_fields = ("id", "created_at")
