from django.contrib import admin

from channels_app.models import Channel, ChannelMember


class ChannelMemberInline(admin.TabularInline):
    model = ChannelMember
    extra = 0
    raw_id_fields = ("user",)
    readonly_fields = ("joined_at",)
    fields = ("user", "joined_at")


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    # Changes made here skip the services: no SYSTEM message or realtime event is sent.
    list_display = ("name", "description", "created_by", "created_at")
    list_select_related = ("created_by",)
    search_fields = ("name",)
    ordering = ("name",)
    raw_id_fields = ("created_by",)
    readonly_fields = ("id", "created_at")
    fields = ("id", "name", "description", "created_by", "created_at")
    inlines = [ChannelMemberInline]


@admin.register(ChannelMember)
class ChannelMemberAdmin(admin.ModelAdmin):
    list_display = ("channel", "user", "joined_at")
    list_select_related = ("channel", "user")
    search_fields = ("channel__name", "user__username", "user__email")
    ordering = ("-joined_at",)
    raw_id_fields = ("channel", "user")
    readonly_fields = ("id", "joined_at")
