"""Channels admin. Archiving, deleting and memberships go through the services
(channels_app.services, services_manage: audited, SYSTEM messages, realtime events, the
sockets of a removed member leave the channel); plain edits of name and description
here skip them: no SYSTEM message or realtime event is sent for those, but the name
follows the API's rules (`normalize_channel_name`)."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse

from accounts.models import WorkspaceMember
from channels_app import services, services_manage
from channels_app.models import Channel, ChannelMember
from channels_app.serializers import normalize_channel_name
from messaging.documents import Conversation, ConversationKind
from messaging.services import conversation_message_count
from moderation.admin_tools import confirmation_page
from slackclone import errors


class ChannelMemberInline(admin.TabularInline):
    """The members, read-only: they are added and removed on the memberships' own pages
    (ChannelMemberAdmin), through the services."""

    model = ChannelMember
    extra = 0
    fields = ("user", "role", "joined_at")
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ChannelForm(forms.ModelForm):
    class Meta:
        model = Channel
        fields = ("name", "description")

    def clean_name(self):
        """The API's rule (1-80 letters, digits, `-`, `_`; stored lower-cased), so names
        stay unique whatever their case."""
        try:
            return normalize_channel_name(self.cleaned_data["name"])
        except Exception as exc:  # rest_framework's ValidationError
            raise ValidationError(getattr(exc, "detail", [str(exc)])) from exc

    def clean(self):
        """The name is unique in the channel's workspace (the form has no workspace field,
        so Django's own unique check skips that constraint: the save was a 500), and the
        creator is someone of that workspace."""
        data = super().clean()
        creator = data.get("created_by")
        if creator is not None and self.instance.workspace_id is not None:
            members = WorkspaceMember.objects.filter(workspace_id=self.instance.workspace_id, user=creator)
            if not members.exists():  # the API shows `created_by` to the channel's workspace
                self.add_error("created_by", "This user is not a member of the channel's workspace.")
        name = data.get("name")
        if name is not None and self.instance.workspace_id is not None:
            taken = Channel.objects.filter(workspace_id=self.instance.workspace_id, name=name)
            if taken.exclude(pk=self.instance.pk).exists():
                self.add_error("name", "A channel with this name already exists in this workspace.")
        return data


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    form = ChannelForm
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


class _NotAdded(Exception):
    """channel_member_add_by_staff refused what the form let through (a race)."""


class ChannelMemberAddForm(forms.ModelForm):
    class Meta:
        model = ChannelMember
        fields = ("channel", "user")

    def clean(self):
        """What channel_member_add_by_staff refuses, said on the form: the user must be an
        active member of the channel's workspace, and the channel not archived."""
        data = super().clean()
        channel, user = data.get("channel"), data.get("user")
        if channel is None or user is None:
            return data
        if (
            not user.is_active
            or not WorkspaceMember.objects.filter(workspace_id=channel.workspace_id, user=user, is_active=True).exists()
        ):
            raise ValidationError("This user is not an active member of the channel's workspace.")
        if channel.is_archived:
            raise ValidationError("The channel is archived: its membership is frozen.")
        return data


@admin.register(ChannelMember)
class ChannelMemberAdmin(admin.ModelAdmin):
    """Memberships: view, add and remove, through the services (as a member adds and a
    manager removes: SYSTEM messages, events, the removed member's sockets leave the
    channel). Roles are set through the API by the channel's managers."""

    list_display = ("channel", "user", "role", "joined_at")
    list_filter = (("channel__workspace", admin.RelatedOnlyFieldListFilter),)
    list_select_related = ("channel", "user")
    search_fields = ("channel__name", "user__username", "user__email")
    ordering = ("-joined_at",)
    raw_id_fields = ("channel", "user")
    readonly_fields = ("id", "joined_at")
    actions = None  # no bulk delete: each removal is checked (the last member of a private channel)

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ChannelMemberAddForm
        return super().get_form(request, obj, **kwargs)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.channel.is_archived:
            return False
        return super().has_delete_permission(request, obj)

    def add_view(self, request, form_url="", extra_context=None):
        """A refusal of the service after the form's checks (the channel archived, or the
        user deactivated, since): the add page again with the error, not a 500."""
        try:
            return super().add_view(request, form_url, extra_context)
        except _NotAdded as exc:  # raised inside the view's transaction: rolled back
            self.message_user(request, f"Not added: {exc}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request, obj, form, change):
        try:
            services_manage.channel_member_add_by_staff(by=request.user, channel_id=obj.channel_id, user_id=obj.user_id)
        except errors.DomainError as exc:
            raise _NotAdded(exc.message) from exc
        obj.pk = ChannelMember.objects.get(channel_id=obj.channel_id, user_id=obj.user_id).pk

    def delete_model(self, request, obj):
        try:
            services_manage.channel_member_remove_by_staff(
                by=request.user, channel_id=obj.channel_id, user_id=obj.user_id
            )
        except errors.DomainError as exc:
            request._membership_not_removed = True
            self.message_user(request, f"Not removed: {exc.message}", messages.ERROR)

    def response_delete(self, request, obj_display, obj_id):
        """Refused (the last member of a private channel, archived meanwhile): back to the
        membership with the error only, not also Django's "deleted successfully"."""
        if getattr(request, "_membership_not_removed", False):
            return HttpResponseRedirect(reverse("admin:channels_app_channelmember_change", args=[obj_id]))
        return super().response_delete(request, obj_display, obj_id)
