"""The filter form of the message moderation list (GET parameters, all optional).

Every value that reaches MongoDB leaves here as a plain, checked value: a
conversation or user id (canonical UUID string) looked up in PostgreSQL, a date, or
the search text, which the repository escapes (re.escape) before matching.
"""

import re
from datetime import UTC, datetime, time, timedelta
from uuid import UUID

from django import forms

from accounts.models import User, Workspace
from channels_app.models import Channel
from dms.models import DmConversation
from dms.services import dm_pair
from messaging.documents import ConversationKind
from messaging.selectors import SEARCH_TEXT_MAX_LENGTH, MessageFilter, MessageStatus

_PAIR_SEPARATOR = re.compile(r"[\s,]+")


def _uuid(value: str) -> UUID | None:
    try:
        return UUID(value)
    except ValueError:
        return None


class _DateInput(forms.DateInput):
    input_type = "date"


class MessageFilterForm(forms.Form):
    workspace = forms.CharField(label="Workspace", required=False, max_length=40, help_text="Slug.")
    kind = forms.ChoiceField(
        label="Messages in",
        choices=[(ConversationKind.CHANNEL.value, "Channels"), (ConversationKind.DM.value, "Direct messages")],
        required=False,
    )
    channel = forms.CharField(label="Channel", required=False, max_length=80, help_text="Name or id.")
    dm = forms.CharField(
        label="DM", required=False, max_length=80, help_text="Conversation id, or the two usernames (alice bob)."
    )
    sender = forms.CharField(label="Sender", required=False, max_length=64, help_text="Username or id.")
    since = forms.DateField(label="From", required=False, widget=_DateInput, help_text="UTC day, inclusive.")
    until = forms.DateField(label="To", required=False, widget=_DateInput, help_text="UTC day, inclusive.")
    q = forms.CharField(
        label="Text", required=False, max_length=SEARCH_TEXT_MAX_LENGTH, help_text="Contains (case-insensitive)."
    )
    status = forms.ChoiceField(
        label="Status",
        choices=[
            (MessageStatus.LIVE.value, "Live"),
            (MessageStatus.DELETED.value, "Deleted"),
            (MessageStatus.ALL.value, "All"),
        ],
        required=False,
    )

    def clean_workspace(self) -> str | None:
        value = self.cleaned_data["workspace"].strip().lower()
        if not value:
            return None
        workspace_id = Workspace.objects.filter(slug=value).values_list("pk", flat=True).first()
        if workspace_id is None:
            raise forms.ValidationError("No such workspace.")
        return str(workspace_id)

    def _in_workspace(self, queryset):
        workspace_id = self.cleaned_data.get("workspace")
        return queryset.filter(workspace_id=workspace_id) if workspace_id else queryset

    def clean_channel(self) -> str | None:
        value = self.cleaned_data["channel"].strip().lstrip("#")
        if not value:
            return None
        pk = _uuid(value)
        channels = self._in_workspace(Channel.objects.all())
        channel = channels.filter(pk=pk).first() if pk else channels.filter(name=value.lower()).first()
        if channel is None:
            raise forms.ValidationError("No such channel.")
        return str(channel.pk)

    def clean_dm(self) -> str | None:
        value = self.cleaned_data["dm"].strip()
        if not value:
            return None
        pk = _uuid(value)
        if pk is not None:
            conversation = self._in_workspace(DmConversation.objects.all()).filter(pk=pk).first()
        else:
            names = [name.lower() for name in _PAIR_SEPARATOR.split(value) if name]
            users = dict(User.objects.filter(username__in=names).values_list("username", "pk"))
            if len(names) != 2 or len(users) != 2:
                raise forms.ValidationError("Give a conversation id or two existing usernames.")
            user1_id, user2_id = dm_pair(users[names[0]], users[names[1]])
            conversation = (
                self._in_workspace(DmConversation.objects.all()).filter(user1_id=user1_id, user2_id=user2_id).first()
            )
        if conversation is None:
            raise forms.ValidationError("No such conversation.")
        return str(conversation.pk)

    def clean_sender(self) -> str | None:
        value = self.cleaned_data["sender"].strip().lstrip("@")
        if not value:
            return None
        pk = _uuid(value)
        user_id = (
            User.objects.filter(pk=pk).values_list("pk", flat=True).first()
            if pk
            else User.objects.filter(username=value.lower()).values_list("pk", flat=True).first()
        )
        if user_id is None:
            raise forms.ValidationError("No such user.")
        return str(user_id)

    def clean(self):
        data = super().clean()
        if data.get("channel") and data.get("dm"):
            raise forms.ValidationError("Filter by a channel or by a DM, not both.")
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", "Must not be before From.")
        return data

    def to_filter(self) -> MessageFilter:
        """The checked filter (call after is_valid())."""
        data = self.cleaned_data
        if data.get("channel"):
            kind = ConversationKind.CHANNEL
        elif data.get("dm"):
            kind = ConversationKind.DM
        else:
            kind = ConversationKind(data.get("kind") or ConversationKind.CHANNEL.value)
        return MessageFilter(
            kind=kind,
            workspace_id=data.get("workspace"),
            conversation_id=data.get("channel") or data.get("dm"),
            sender_id=data.get("sender"),
            created_from=_start_of(data.get("since")),
            created_before=_start_of(data.get("until"), days=1),
            text=data.get("q") or None,
            status=MessageStatus(data.get("status") or MessageStatus.LIVE.value),
        )


def _start_of(day, *, days: int = 0) -> datetime | None:
    if day is None:
        return None
    return datetime.combine(day + timedelta(days=days), time.min, tzinfo=UTC)
