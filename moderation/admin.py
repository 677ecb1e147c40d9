"""Admin of the audit log (read-only) and the moderation of messages stored in MongoDB.

Messages are not ORM objects, so `MessageModerationAdmin` is registered on an
unmanaged placeholder model (moderation.models.Message): that puts "Messages
(MongoDB)" in the admin index and navigation with its own permissions
(`moderation.view_message`, `moderation.delete_message`), and its get_urls()
replaces Django's ORM views with three of our own, each wrapped in
admin_site.admin_view (staff only; others are sent to the login page):

    messages/                       the list: filters, keyset pages, bulk delete
    messages/<kind>/<message id>/   one message with N messages before and after it
    messages/delete/                POST only: the confirmation page, then the delete

Reads go through messaging.selectors and deletes through
messaging.services.message_moderate_delete (soft delete, audit entry,
message.deleted broadcast): nothing here talks to MongoDB.
"""

import json
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme

from messaging import selectors as message_selectors
from messaging import services as message_services
from messaging.documents import ConversationKind, MessageDocument
from moderation.forms import MessageFilterForm
from moderation.models import AuditLogEntry, Message
from moderation.selectors import Names, names_for
from slackclone import errors
from slackclone.admin import ReadOnlyAdminMixin

CONTEXT_DEFAULT = 5
CONTEXT_MAX = 50


@admin.register(AuditLogEntry)
class AuditLogEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: entries are written by the services, never by hand."""

    list_display = ("created_at", "action", "actor_name", "target_type", "target_id", "summary")
    list_filter = ("workspace", "action", "target_type", ("created_at", admin.DateFieldListFilter))
    search_fields = ("=target_id", "actor_username", "actor__username")
    date_hierarchy = "created_at"
    list_select_related = ("actor",)
    ordering = ("-created_at", "-id")
    fields = ("created_at", "action", "actor", "actor_username", "target_type", "target_id", "detail_json")
    readonly_fields = fields

    @admin.display(description="actor", ordering="actor_username")
    def actor_name(self, entry):
        return entry.actor_username or "(system)"

    @admin.display(description="detail")
    def summary(self, entry):
        detail = entry.detail or {}
        return detail.get("name") or detail.get("username") or (detail.get("content") or "")[:80]

    @admin.display(description="detail")
    def detail_json(self, entry):
        return format_html("<pre>{}</pre>", json.dumps(entry.detail, indent=2, ensure_ascii=False, sort_keys=True))


class _Row:
    """A message as the moderation templates show it."""

    def __init__(self, message: MessageDocument, names: Names, *, target: bool = False):
        self.message = message
        self.id = message.id
        self.kind = message.conversation.kind.value
        self.conversation = names.conversation(message)
        self.sender = names.sender(message)
        self.deleted_by = names.users.get(message.deleted_by or "", message.deleted_by)
        self.target = target
        self.context_url = reverse("admin:moderation_message_context", args=[self.kind, message.id])
        if message.conversation.kind is ConversationKind.CHANNEL:
            self.filter_query = urlencode({"channel": message.conversation.id, "status": "all"})
        else:
            self.filter_query = urlencode({"dm": message.conversation.id, "status": "all"})


def _rows(found: list[MessageDocument], *, target_id: str | None = None) -> list[_Row]:
    names = names_for(found)
    return [_Row(message, names, target=message.id == target_id) for message in found]


@admin.register(Message)
class MessageModerationAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("", wrap(self.changelist_view), name="moderation_message_changelist"),
            path("delete/", wrap(self.delete_messages_view), name="moderation_message_delete_messages"),
            path("<str:kind>/<str:message_id>/", wrap(self.context_view), name="moderation_message_context"),
        ]

    def _context(self, request, title: str, **extra) -> dict:
        request.current_app = self.admin_site.name
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "title": title,
            "subtitle": None,
            "has_delete_permission": self.has_delete_permission(request),
            **extra,
        }

    # --- The list ----------------------------------------------------------------------

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = MessageFilterForm(request.GET or None)
        rows: list[_Row] = []
        next_url = None
        filters = message_selectors.MessageFilter()
        if form.is_bound and not form.is_valid():
            self.message_user(request, "Please correct the filters below.", messages.ERROR)
        else:
            if form.is_bound:
                filters = form.to_filter()
            try:
                page = message_selectors.message_search(filters=filters, cursor=request.GET.get("cursor") or None)
            except errors.ValidationFailed as exc:
                self.message_user(request, f"{exc.message} Showing the first page.", messages.WARNING)
                page = message_selectors.message_search(filters=filters)
            except errors.StoreUnavailable as exc:
                self.message_user(request, exc.message, messages.ERROR)
                page = None
            if page is not None:
                rows = _rows(page.results)
                if page.next_cursor:
                    query = request.GET.copy()
                    query["cursor"] = page.next_cursor
                    next_url = f"?{query.urlencode()}"
        first_query = request.GET.copy()
        first_query.pop("cursor", None)
        context = self._context(
            request,
            "Messages (MongoDB)",
            is_list=True,
            form=form,
            rows=rows,
            kind=filters.kind.value,
            next_url=next_url,
            first_url=f"?{first_query.urlencode()}",
            is_first_page=not request.GET.get("cursor"),
            page_size=message_selectors.MODERATION_PAGE_SIZE,
            selected_field=helpers.ACTION_CHECKBOX_NAME,
            this_url=request.get_full_path(),
            **(extra_context or {}),
        )
        return TemplateResponse(request, "admin/moderation/message/change_list.html", context)

    # --- One message in its conversation -------------------------------------------------

    def context_view(self, request, kind: str, message_id: str):
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            conversation_kind = ConversationKind(kind)
            message = message_selectors.message_get_any(kind=conversation_kind, message_id=message_id)
        except (ValueError, errors.NotFound) as exc:
            raise Http404("No such message.") from exc
        count = _clamp(request.GET.get("n"), default=CONTEXT_DEFAULT, high=CONTEXT_MAX)
        before, after = message_selectors.message_context(message=message, count=count)
        rows = _rows([*before, message, *after], target_id=message.id)
        target = next(row for row in rows if row.target)
        context = self._context(
            request,
            f"Message {message.id}",
            message=message,
            target=target,
            rows=rows,
            kind=conversation_kind.value,
            count=count,
            selected_field=helpers.ACTION_CHECKBOX_NAME,
            this_url=request.get_full_path(),
            changelist_url=reverse("admin:moderation_message_changelist"),
        )
        return TemplateResponse(request, "admin/moderation/message/context.html", context)

    # --- Delete: confirmation page, then the service ------------------------------------

    def delete_messages_view(self, request):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_delete_permission(request):
            raise PermissionDenied
        changelist_url = reverse("admin:moderation_message_changelist")
        back = request.POST.get("next") or ""
        if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=False):
            back = changelist_url
        try:
            kind = ConversationKind(request.POST.get("kind", ""))
        except ValueError as exc:
            raise Http404("No such message collection.") from exc
        ids = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        if not ids:
            self.message_user(request, "Select the messages to delete first.", messages.WARNING)
            return HttpResponseRedirect(back)
        if len(ids) > message_services.MODERATION_MAX_MESSAGES:
            self.message_user(
                request, f"At most {message_services.MODERATION_MAX_MESSAGES} messages at a time.", messages.ERROR
            )
            return HttpResponseRedirect(back)

        if request.POST.get("post") != "yes":
            try:
                found = message_selectors.messages_get_many(kind=kind, message_ids=ids)
            except errors.StoreUnavailable as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return HttpResponseRedirect(back)
            live = [message for message in found if not message.is_deleted]
            context = self._context(
                request,
                "Delete messages?",
                rows=_rows(live),
                already_deleted=len(found) - len(live),
                unknown=len(set(ids)) - len(found),
                kind=kind.value,
                next=back,
                selected_field=helpers.ACTION_CHECKBOX_NAME,
            )
            return TemplateResponse(request, "admin/moderation/message/delete_confirmation.html", context)

        try:
            deleted = message_services.message_moderate_delete(kind=kind, message_ids=ids, by=request.user)
        except errors.DomainError as exc:
            self.message_user(request, f"Not deleted: {exc.message}", messages.ERROR)
            return HttpResponseRedirect(back)
        skipped = len(set(ids)) - len(deleted)
        text = f"Deleted {len(deleted)} message{'s' if len(deleted) != 1 else ''}."
        if skipped:
            text += f" {skipped} were already deleted or unknown."
        self.message_user(request, text, messages.SUCCESS)
        return HttpResponseRedirect(back)


def _clamp(value: object, *, default: int, high: int) -> int:
    if not isinstance(value, str) or not value.isdigit() or len(value) > 4:
        return default
    return max(1, min(int(value), high))
