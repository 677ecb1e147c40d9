"""Channels admin. Archiving and deleting go through channels_app.services (audited);
plain edits of name and description here skip the services: no SYSTEM message or
realtime event is sent for them."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse

from channels_app import services
from channels_app.models import Channel, ChannelMember
from messaging.documents import Conversation, ConversationKind
from messaging.services import conversation_message_count
from moderation.admin_tools import confirmation_page
from slackclone import errors


class ChannelMemberInline(admin.TabularInline):
    model = ChannelMember
    extra = 0
    raw_id_fields = ("user",)
    readonly_fields = ("joined_at",)
    fields = ("user", "joined_at")


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = ("name", "workspace", "description", "created_by", "created_at", "archived_at")
    list_select_related = ("created_by",)
    list_filter = ("workspace", ("archived_at", admin.EmptyFieldListFilter))
    search_fields = ("name",)
    ordering = ("name",)
    raw_id_fields = ("created_by",)
    readonly_fields = ("id", "created_at", "archived_at")
    fields = ("id", "name", "description", "created_by", "created_at", "archived_at")
    inlines = [ChannelMemberInline]
    actions = ["archive_selected"]
    change_form_template = "admin/channels_app/channel/change_form.html"
    delete_confirmation_template = "admin/channels_app/channel/delete_confirmation.html"
    delete_selected_confirmation_template = "admin/channels_app/channel/delete_selected_confirmation.html"

    def get_urls(self):
        archive = path(
            "<path:object_id>/archive/",
            self.admin_site.admin_view(self.archive_view),
            name="channels_app_channel_archive",
        )
        return [archive, *super().get_urls()]

    # --- Archive ---------------------------------------------------------------------

    def _archive(self, request, channels) -> None:
        archived = 0
        for channel in channels:
            if channel.is_archived:
                continue
            services.channel_archive(channel=channel, by=request.user)
            archived += 1
        skipped = len(channels) - archived
        text = f"Archived {archived} channel{'s' if archived != 1 else ''}."
        if skipped:
            text += f" {skipped} already archived."
        self.message_user(request, text, messages.SUCCESS)

    @admin.action(description="Archive selected channels (read-only from now on)", permissions=["change"])
    def archive_selected(self, request, queryset):
        channels = list(queryset)
        if request.POST.get("post") == "yes":
            self._archive(request, channels)
            return None
        return confirmation_page(
            self,
            request,
            title="Archive channels?",
            question="Archive these channels? They stay readable, but nobody can join or leave them, or post or "
            "edit messages in them any more.",
            objects=channels,
            action="archive_selected",
            confirm_label="Yes, archive",
        )

    def archive_view(self, request, object_id):
        channel = get_object_or_404(Channel, pk=object_id)
        if not self.has_change_permission(request, channel):
            raise PermissionDenied
        if request.method == "POST" and request.POST.get("post") == "yes":
            self._archive(request, [channel])
            return HttpResponseRedirect(reverse("admin:channels_app_channel_change", args=[channel.pk]))
        return confirmation_page(
            self,
            request,
            title=f"Archive {channel}?",
            question=f"Archive {channel}? It stays readable, but nobody can join or leave it, or post or edit "
            "messages in it any more.",
            objects=[channel],
            action=None,
            confirm_label="Yes, archive",
            cancel_url=reverse("admin:channels_app_channel_change", args=[channel.pk]),
        )

    # --- Delete: through the service (audited, MongoDB messages removed too) -----------

    def delete_model(self, request, obj):
        services.channel_delete(channel=obj, by=request.user)

    def delete_queryset(self, request, queryset):
        for channel in queryset:
            services.channel_delete(channel=channel, by=request.user)

    def render_delete_form(self, request, context):
        channel = context.get("object")
        if channel is not None:
            try:
                context["mongo_messages"] = conversation_message_count(
                    conversation=Conversation(ConversationKind.CHANNEL, str(channel.pk))
                )
            except errors.StoreUnavailable:
                context["mongo_messages"] = None
        return super().render_delete_form(request, context)


@admin.register(ChannelMember)
class ChannelMemberAdmin(admin.ModelAdmin):
    list_display = ("channel", "user", "joined_at")
    list_filter = (("channel__workspace", admin.RelatedOnlyFieldListFilter),)
    list_select_related = ("channel", "user")
    search_fields = ("channel__name", "user__username", "user__email")
    ordering = ("-joined_at",)
    raw_id_fields = ("channel", "user")
    readonly_fields = ("id", "joined_at")
